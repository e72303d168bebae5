"""A fake Bedrock Runtime server: ``Converse`` and ``ConverseStream``.

Written from the Bedrock Runtime API reference. It checks each request's SigV4
signature the way AWS does (recomputed with botocore from the signed headers
and the known test secret), records every call, and answers with documented
payloads: a Converse JSON body, or an ``application/vnd.amazon.eventstream``
body of binary frames (encoded here, by hand, from the framing spec). Errors
carry ``x-amzn-ErrorType``. Model ids pick errors: ``error-500``,
``rate-limited``, ``bad-request``, ``context-too-long``, ``bad-key``,
``stream-throttled`` (a throttlingException event mid-stream).
"""

from __future__ import annotations

import binascii
import json
import struct
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.openai_server import Call

ACCESS_KEY = "AKIDARBITERTEST01"
SECRET_KEY = "arbiter/test/secret/key/0123456789abcdef"
EVENTSTREAM = "application/vnd.amazon.eventstream"

_ERRORS: dict[str, tuple[int, str, str]] = {
    "error-500": (500, "InternalServerException", "Internal server error"),
    "rate-limited": (429, "ThrottlingException", "Too many requests, please wait."),
    "bad-request": (400, "ValidationException", "temperature: must be between 0 and 1"),
    "context-too-long": (400, "ValidationException", "Input is too long for requested model."),
    "bad-key": (403, "AccessDeniedException", "You don't have access to the model"),
}


def encode_frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message: prelude, prelude CRC, string headers, payload, CRC."""
    raw_headers = b""
    for name, value in headers.items():
        encoded = value.encode()
        raw_headers += bytes([len(name)]) + name.encode() + b"\x07"
        raw_headers += struct.pack(">H", len(encoded)) + encoded
    total = 12 + len(raw_headers) + len(payload) + 4
    prelude = struct.pack(">II", total, len(raw_headers))
    prelude += struct.pack(">I", binascii.crc32(prelude))
    message = prelude + raw_headers + payload
    return message + struct.pack(">I", binascii.crc32(message))


def event_frame(kind: str, payload: dict[str, Any]) -> bytes:
    headers = {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}
    return encode_frame(headers, json.dumps(payload).encode())


def exception_frame(kind: str, message: str) -> bytes:
    headers = {
        ":exception-type": kind,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode_frame(headers, json.dumps({"message": message}).encode())


def stream_events(answer: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The ConverseStream events for a given Converse answer."""
    events: list[tuple[str, dict[str, Any]]] = [("messageStart", {"role": "assistant"})]
    for index, block in enumerate(answer["output"]["message"]["content"]):
        if "text" in block:
            words = block["text"].split(" ")
            for i, word in enumerate(words):
                piece = word if i == len(words) - 1 else word + " "
                events.append(
                    ("contentBlockDelta", {"contentBlockIndex": index, "delta": {"text": piece}})
                )
        else:
            use = block["toolUse"]
            start = {"toolUse": {"toolUseId": use["toolUseId"], "name": use["name"]}}
            events.append(("contentBlockStart", {"contentBlockIndex": index, "start": start}))
            args = json.dumps(use["input"])
            for i in range(0, len(args), 5):
                delta = {"toolUse": {"input": args[i : i + 5]}}
                events.append(("contentBlockDelta", {"contentBlockIndex": index, "delta": delta}))
        events.append(("contentBlockStop", {"contentBlockIndex": index}))
    events.append(("messageStop", {"stopReason": answer["stopReason"]}))
    events.append(("metadata", {"usage": answer["usage"], "metrics": {"latencyMs": 42}}))
    return events


def _signature_problem(request: Request, body: bytes) -> str | None:
    auth = request.headers.get("authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return "Missing Authentication Token"
    fields = dict(
        part.strip().split("=", 1) for part in auth[len("AWS4-HMAC-SHA256 ") :].split(",")
    )
    _, date, region, service, _ = fields["Credential"].split("/")
    if fields["Credential"].split("/")[0] != ACCESS_KEY:
        return "The security token included in the request is invalid."
    signed = fields["SignedHeaders"].split(";")
    headers = {name: request.headers[name] for name in signed}
    raw_path = request.scope.get("raw_path", b"").decode() or request.url.path
    url = f"{request.url.scheme}://{request.headers['host']}{raw_path}"
    aws = AWSRequest(method=request.method, url=url, data=body, headers=headers)
    aws.context["timestamp"] = request.headers["x-amz-date"]
    signer = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), service, region)
    canonical = signer.canonical_request(aws)
    expected = signer.signature(signer.string_to_sign(aws, canonical), aws)
    if expected != fields["Signature"]:
        return "The request signature we calculated does not match the signature you provided."
    return None


class FakeBedrock:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.script: list[Response] = []
        self.url = ""
        self.app = Starlette(
            routes=[
                Route("/model/{model_id:path}/converse", self.converse, methods=["POST"]),
                Route("/model/{model_id:path}/converse-stream", self.stream, methods=["POST"]),
            ]
        )

    def reset(self) -> None:
        self.calls.clear()
        self.script.clear()

    def count(self) -> int:
        return len(self.calls)

    async def _begin(self, request: Request) -> tuple[str, dict[str, Any], Response | None]:
        raw = await request.body()
        body = json.loads(raw)
        model = unquote(request.path_params["model_id"])
        self.calls.append(Call(request.url.path, dict(request.headers), {"modelId": model, **body}))
        problem = _signature_problem(request, raw)
        if problem:
            return model, body, _error(403, "UnrecognizedClientException", problem)
        if not body.get("messages"):
            return model, body, _error(400, "ValidationException", "messages is required")
        if self.script:
            return model, body, self.script.pop(0)
        if model in _ERRORS:
            return model, body, _error(*_ERRORS[model])
        return model, body, None

    async def converse(self, request: Request) -> Response:
        model, body, early = await self._begin(request)
        return early or JSONResponse(answer_for(body))

    async def stream(self, request: Request) -> Response:
        model, body, early = await self._begin(request)
        if early:
            return early
        frames = [event_frame(kind, payload) for kind, payload in stream_events(answer_for(body))]
        if model == "stream-throttled":
            frames = frames[:2] + [exception_frame("throttlingException", "Too many tokens")]
        return StreamingResponse(_split(frames), media_type=EVENTSTREAM)


def _error(status: int, kind: str, message: str) -> Response:
    headers = {"x-amzn-ErrorType": f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/"}
    return JSONResponse({"message": message}, status_code=status, headers=headers)


async def _split(frames: list[bytes]) -> AsyncIterator[bytes]:
    """Frames cut at awkward places: a prelude split, two frames in one read."""
    data = b"".join(frames)
    cuts = [0, 5, 13, 40, 41]
    cuts += list(range(90, len(data), 77)) + [len(data)]
    for start, end in zip(cuts, cuts[1:], strict=False):
        if end > start:
            yield data[start:end]


def _last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body["messages"]):
        if message["role"] == "user":
            texts = [b["text"] for b in message["content"] if "text" in b]
            if texts:
                return texts[-1]
    return ""


def answer_for(body: dict[str, Any]) -> dict[str, Any]:
    """Echo the last user text, or call the tool the request forces."""
    text = _last_user_text(body)
    tools = (body.get("toolConfig") or {}).get("tools") or []
    choice = (body.get("toolConfig") or {}).get("toolChoice") or {}
    tool = None
    if "any" in choice and tools:
        tool = tools[0]["toolSpec"]["name"]
    elif "tool" in choice:
        tool = choice["tool"]["name"]
    if tool:
        block = {
            "toolUse": {
                "toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q",
                "name": tool,
                "input": {"text": text},
            }
        }
        content: list[dict[str, Any]] = [block]
    else:
        content = [{"text": text}]
    prompt = sum(len(json.dumps(m["content"]).split()) for m in body["messages"])
    completion = len(text.split())
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": "tool_use" if tool else "end_turn",
        "usage": {
            "inputTokens": prompt,
            "outputTokens": completion,
            "totalTokens": prompt + completion,
            "cacheReadInputTokens": 0,
            "cacheWriteInputTokens": 0,
        },
        "metrics": {"latencyMs": 42},
    }

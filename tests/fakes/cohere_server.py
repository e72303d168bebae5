"""A fake Cohere Chat API v2 server (``POST /v2/chat``), from Cohere's API reference.

It checks what a real server would refuse (unknown roles and message fields,
``tool_choice`` values, a missing bearer key), records every call, and answers
like Cohere: it echoes the last user message, or calls the first tool when
``tool_choice`` is ``REQUIRED``. Streams are SSE with Cohere's event types.
Model names pick errors, as in the fake OpenAI server: ``error-500``,
``rate-limited``, ``bad-request``, ``context-too-long``, ``bad-key``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.openai_server import Call, Reply

_MESSAGE_FIELDS = {
    "system": {"role", "content"},
    "user": {"role", "content"},
    "assistant": {"role", "content", "tool_calls", "tool_plan", "citations"},
    "tool": {"role", "content", "tool_call_id"},
}
_NAMED = {
    "error-500": Reply(500, {"id": "e1", "message": "internal server error"}),
    "rate-limited": Reply(
        429,
        {"id": "e2", "message": "You are using a Trial key, which is limited to 10 API calls"},
        {"retry-after": "2"},
    ),
    "bad-request": Reply(400, {"id": "e3", "message": "invalid request: temperature is invalid"}),
    "context-too-long": Reply(
        400,
        {"id": "e4", "message": "too many tokens: size limit exceeded by 1200 tokens"},
    ),
    "bad-key": Reply(401, {"id": "e5", "message": "invalid api token"}),
}


def _last_user(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return "".join(p.get("text", "") for p in content if p.get("type") == "text")
            return content or ""
    return ""


def _validate(request: Request, body: dict[str, Any]) -> str | None:
    if not request.headers.get("authorization", "").startswith("Bearer "):
        return "no api key supplied"
    if not body.get("model") or not isinstance(body.get("messages"), list):
        return "invalid request: model and messages are required"
    for i, message in enumerate(body["messages"]):
        allowed = _MESSAGE_FIELDS.get(message.get("role"))
        if allowed is None:
            return f"invalid request: messages[{i}].role is invalid"
        extra = set(message) - allowed
        if extra:
            return f"invalid request: messages[{i}] has unknown field {sorted(extra)[0]}"
    if body.get("tool_choice") not in (None, "REQUIRED", "NONE"):
        return "invalid request: tool_choice must be REQUIRED or NONE"
    return None


class FakeCohere:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.script: list[Reply] = []
        self.app = Starlette(routes=[Route("/v2/chat", self.chat, methods=["POST"])])
        self.url = ""

    def reset(self) -> None:
        self.calls.clear()
        self.script.clear()

    def count(self) -> int:
        return len(self.calls)

    async def chat(self, request: Request) -> Response:
        body = json.loads(await request.body())
        self.calls.append(Call(request.url.path, dict(request.headers), body))
        problem = _validate(request, body)
        if problem:
            status = 401 if "api key" in problem else 400
            return JSONResponse({"id": "bad", "message": problem}, status_code=status)
        reply = self.script.pop(0) if self.script else _NAMED.get(body["model"])
        if reply is not None:
            if reply.chunks is not None:
                return StreamingResponse(
                    _raw(reply.chunks), media_type="text/event-stream", headers=reply.headers
                )
            return JSONResponse(reply.body or {}, status_code=reply.status, headers=reply.headers)
        text = _last_user(body["messages"])
        tool = (
            body["tools"][0]
            if body.get("tools") and body.get("tool_choice") == "REQUIRED"
            else None
        )
        answer = _answer(body, text, tool)
        if body.get("stream"):
            return StreamingResponse(
                _raw([_sse(e) for e in stream_events(answer)]), media_type="text/event-stream"
            )
        return JSONResponse(answer)


def _answer(body: dict[str, Any], text: str, tool: dict[str, Any] | None) -> dict[str, Any]:
    prompt = sum(len(json.dumps(m.get("content", "")).split()) for m in body["messages"])
    message: dict[str, Any] = {"role": "assistant"}
    if tool:
        name = tool["function"]["name"]
        message["tool_plan"] = f"I will call {name}."
        message["tool_calls"] = [
            {
                "id": f"{name}_9k2m4x7q1w3e",
                "type": "function",
                "function": {"name": name, "arguments": json.dumps({"text": text})},
            }
        ]
    else:
        message["content"] = [{"type": "text", "text": text}]
    completion = len(text.split())
    return {
        "id": "c14c80c3-18eb-4519-9460-6c92edd8cfb4",
        "finish_reason": "TOOL_CALL" if tool else "COMPLETE",
        "message": message,
        "usage": {
            "billed_units": {"input_tokens": prompt, "output_tokens": completion},
            "tokens": {"input_tokens": prompt + 10, "output_tokens": completion},
            "cached_tokens": 0,
        },
    }


def stream_events(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """The stream Cohere sends for a given JSON answer, event by event."""
    message = answer["message"]
    events: list[dict[str, Any]] = [
        {
            "type": "message-start",
            "id": answer["id"],
            "delta": {
                "message": {
                    "role": "assistant",
                    "content": [],
                    "tool_plan": "",
                    "tool_calls": [],
                    "citations": [],
                }
            },
        }
    ]
    if message.get("tool_plan"):
        plan = message["tool_plan"]
        for i in range(0, len(plan), 6):
            events.append(
                {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": plan[i : i + 6]}}}
            )
    for index, call in enumerate(message.get("tool_calls") or ()):
        head = {
            "id": call["id"],
            "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""},
        }
        events.append(
            {"type": "tool-call-start", "index": index, "delta": {"message": {"tool_calls": head}}}
        )
        args = call["function"]["arguments"]
        for i in range(0, len(args), 4):
            fragment = {"function": {"arguments": args[i : i + 4]}}
            events.append(
                {
                    "type": "tool-call-delta",
                    "index": index,
                    "delta": {"message": {"tool_calls": fragment}},
                }
            )
        events.append({"type": "tool-call-end", "index": index})
    for index, part in enumerate(message.get("content") or ()):
        events.append(
            {
                "type": "content-start",
                "index": index,
                "delta": {"message": {"content": {"type": "text", "text": ""}}},
            }
        )
        words = part["text"].split(" ")
        for i, word in enumerate(words):
            piece = word if i == len(words) - 1 else word + " "
            events.append(
                {
                    "type": "content-delta",
                    "index": index,
                    "delta": {"message": {"content": {"text": piece}}},
                }
            )
        events.append({"type": "content-end", "index": index})
    events.append(
        {
            "type": "message-end",
            "delta": {"finish_reason": answer["finish_reason"], "usage": answer["usage"]},
        }
    )
    return events


def _sse(event: dict[str, Any]) -> str:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n"


async def _raw(pieces: list[str]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece.encode()

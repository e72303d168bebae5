"""A fake Anthropic Messages API (``POST /v1/messages``), written from the public reference.

It checks requests the way the real API does (headers, roles alternating,
``max_tokens``, block shapes, every ``tool_result`` answering a ``tool_use`` of
the turn before, temperature range) and answers 400 ``invalid_request_error``
when they are wrong, so translation mistakes fail tests. Answers, JSON or SSE:

- a forcing ``tool_choice`` (any / tool): a ``tool_use`` of that tool with input
  ``{"text": <last user text>}``;
- a last user turn holding ``tool_result`` blocks: ``"Tool results: ..."``;
- otherwise the last user text, echoed (cut at a stop sequence or ``max_tokens`` words).

The upstream model name picks a behaviour: ``overloaded`` (529), ``rate-limited``
(429 with retry-after), ``too-long`` (400 prompt is too long), ``server-error``
(500), ``stream-overload`` (an ``error`` event mid-stream), ``thinker`` (a
thinking block first), ``cached`` (prompt-cache usage). ``fake.script`` replies
come first. Every request is recorded in ``fake.calls``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["AnthropicCall", "AnthropicReply", "FakeAnthropic", "anthropic_error"]

_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}$")  # 2023-06-01; newer SDKs send later dates
_ROLES = ("user", "assistant")
_IMAGE_TYPES = {"image/jpeg", "image/png", "image/gif", "image/webp"}


@dataclass
class AnthropicReply:
    status: int = 200
    body: dict[str, Any] | None = None  # a whole JSON answer
    events: list[tuple[str, dict[str, Any]]] | None = None  # a whole SSE answer
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class AnthropicCall:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


def anthropic_error(status: int, kind: str, message: str, **headers: str) -> AnthropicReply:
    body = {
        "type": "error",
        "error": {"type": kind, "message": message},
        "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy",
    }
    return AnthropicReply(status, body, headers=headers)


_NAMED = {
    "overloaded": anthropic_error(529, "overloaded_error", "Overloaded"),
    "rate-limited": anthropic_error(
        429,
        "rate_limit_error",
        "Number of request tokens has exceeded your rate limit.",
        **{"retry-after": "7"},
    ),
    "too-long": anthropic_error(
        400, "invalid_request_error", "prompt is too long: 208310 tokens > 200000 maximum"
    ),
    "server-error": anthropic_error(500, "api_error", "Internal server error"),
}


class _Invalid(Exception):
    pass


def _words(text: str) -> int:
    return len(text.split())


def _blocks(content: Any) -> list[dict[str, Any]]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else list(content)


def _text_of(blocks: list[dict[str, Any]]) -> str:
    return " ".join(b["text"] for b in blocks if b.get("type") == "text")


def _check_block(block: Any, role: str, previous_tool_ids: set[str], where: str) -> None:
    kind = block.get("type") if isinstance(block, dict) else None
    if kind == "text":
        if not isinstance(block.get("text"), str) or not block["text"].strip():
            raise _Invalid(f"{where}: text content blocks must contain non-whitespace text")
    elif kind == "image" and role == "user":
        source = block.get("source") or {}
        if source.get("type") == "base64":
            if source.get("media_type") not in _IMAGE_TYPES or not source.get("data"):
                raise _Invalid(f"{where}.source: invalid base64 image source")
        elif source.get("type") != "url" or not str(source.get("url", "")).startswith("http"):
            raise _Invalid(f"{where}.source: invalid image source")
    elif kind == "tool_use" and role == "assistant":
        if not block.get("id") or not block.get("name") or not isinstance(block.get("input"), dict):
            raise _Invalid(f"{where}: tool_use needs id, name and an input object")
    elif kind == "tool_result" and role == "user":
        if block.get("tool_use_id") not in previous_tool_ids:
            raise _Invalid(
                f"{where}: unexpected `tool_use_id` found in `tool_result` blocks: "
                f"{block.get('tool_use_id')}. Each `tool_result` block must have a "
                "corresponding `tool_use` block in the previous message."
            )
    else:
        raise _Invalid(f"{where}: unexpected block type {kind!r} in a {role} message")


def validate(headers: dict[str, str], body: dict[str, Any]) -> None:
    """Raise _Invalid the way the Messages API refuses a request."""
    if not _VERSION.match(headers.get("anthropic-version", "")):
        raise _Invalid("anthropic-version: header is required")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise _Invalid("model: Field required")
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        raise _Invalid("max_tokens: Field required")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _Invalid("messages: at least one message is required")
    previous: str | None = None
    tool_ids: set[str] = set()
    for i, message in enumerate(messages):
        role = message.get("role")
        if role not in _ROLES:
            raise _Invalid(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if role == previous:
            raise _Invalid(f"messages.{i}: roles must alternate between user and assistant")
        blocks = _blocks(message.get("content"))
        if not blocks:
            raise _Invalid(f"messages.{i}: all messages must have non-empty content")
        for j, block in enumerate(blocks):
            _check_block(block, role, tool_ids, f"messages.{i}.content.{j}")
        tool_ids = {b["id"] for b in blocks if b.get("type") == "tool_use"}
        previous = role
    temperature = body.get("temperature")
    if temperature is not None and not 0 <= temperature <= 1:
        raise _Invalid("temperature: Input should be less than or equal to 1")
    tools = body.get("tools") or []
    for k, tool in enumerate(tools):
        if not tool.get("name") or (tool.get("input_schema") or {}).get("type") != "object":
            raise _Invalid(f"tools.{k}.input_schema.type: Input should be 'object'")
    if body.get("tool_choice") and not tools:
        raise _Invalid("tool_choice: may only be specified while providing tools")
    used = any(
        b.get("type") in ("tool_use", "tool_result")
        for m in messages
        for b in _blocks(m["content"])
    )
    if used and not tools:
        raise _Invalid(
            "Requests which include `tool_use` or `tool_result` blocks must define tools."
        )


class FakeAnthropic:
    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.calls: list[AnthropicCall] = []
        self.script: list[AnthropicReply] = []
        self.url = ""
        self.app = Starlette(routes=[Route("/v1/messages", self.messages, methods=["POST"])])

    def reset(self) -> None:
        self.calls.clear()
        self.script.clear()

    def count(self) -> int:
        return len(self.calls)

    async def messages(self, request: Request) -> Response:
        body = json.loads(await request.body())
        headers = dict(request.headers)
        self.calls.append(AnthropicCall(request.url.path, headers, body))
        key = headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")
        if key != self.api_key:
            reply = anthropic_error(401, "authentication_error", "invalid x-api-key")
        elif self.script:
            reply = self.script.pop(0)
        else:
            reply = _NAMED.get(body.get("model", "")) or AnthropicReply()
        if reply.status != 200 or reply.body is not None:
            return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)
        try:
            validate(headers, body)
        except _Invalid as exc:
            error = anthropic_error(400, "invalid_request_error", str(exc))
            return JSONResponse(error.body, status_code=400)
        message = answer(body)
        if not body.get("stream"):
            return JSONResponse(message)
        events = reply.events if reply.events is not None else stream_events(body, message)
        return Response(sse(events), media_type="text/event-stream")


def answer(body: dict[str, Any]) -> dict[str, Any]:
    """The Message the fake answers with (also the source of its streams)."""
    messages = body["messages"]
    last = _blocks(messages[-1]["content"])
    choice = body.get("tool_choice") or {}
    tools = body.get("tools") or []
    content: list[dict[str, Any]] = []
    stop_sequence = None
    if choice.get("type") in ("any", "tool") and tools:
        name = choice.get("name") or tools[0]["name"]
        tool_input = {"text": _text_of(last)}
        digest = hashlib.sha256(json.dumps([name, tool_input]).encode()).hexdigest()[:20]
        content.append(
            {"type": "tool_use", "id": "toolu_" + digest, "name": name, "input": tool_input}
        )
        stop_reason, output = "tool_use", 12
    else:
        results = [b for b in last if b.get("type") == "tool_result"]
        if results:
            text = "Tool results: " + "; ".join(str(b.get("content", "")) for b in results)
        else:
            text = _text_of(last)
        stop_reason = "end_turn"
        for stop in body.get("stop_sequences") or []:
            if stop in text:
                text, stop_reason, stop_sequence = text[: text.index(stop)], "stop_sequence", stop
        words = text.split(" ")
        if len(words) > body["max_tokens"]:
            text, stop_reason = " ".join(words[: body["max_tokens"]]), "max_tokens"
        if body["model"] == "thinker":
            content.append({"type": "thinking", "thinking": "Let me think.", "signature": "c2ln"})
        content.append({"type": "text", "text": text})
        output = _words(text)
    prompt = sum(_words(_text_of(_blocks(m["content"]))) + 3 for m in messages)
    usage = {
        "input_tokens": prompt,
        "cache_creation_input_tokens": 20 if body["model"] == "cached" else 0,
        "cache_read_input_tokens": 100 if body["model"] == "cached" else 0,
        "output_tokens": output,
    }
    digest = hashlib.sha256(json.dumps(messages).encode()).hexdigest()[:24]
    return {
        "id": "msg_" + digest,
        "type": "message",
        "role": "assistant",
        "model": body["model"],
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": stop_sequence,
        "usage": usage,
    }


def stream_events(
    body: dict[str, Any], message: dict[str, Any]
) -> list[tuple[str, dict[str, Any]]]:
    """The documented event sequence for ``message``, text word by word and tool
    input JSON in small fragments."""
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    start["usage"] = {**message["usage"], "output_tokens": 1}
    events = [("message_start", {"type": "message_start", "message": start})]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            head = {"type": "text", "text": ""}
            pieces = [w + " " for w in block["text"].split(" ")[:-1]] + block["text"].split(" ")[
                -1:
            ]
            deltas = [{"type": "text_delta", "text": p} for p in pieces if p]
        elif block["type"] == "thinking":
            head = {"type": "thinking", "thinking": ""}
            deltas = [
                {"type": "thinking_delta", "thinking": block["thinking"]},
                {"type": "signature_delta", "signature": block["signature"]},
            ]
        else:
            head = {**block, "input": {}}
            raw = json.dumps(block["input"])
            deltas = [{"type": "input_json_delta", "partial_json": ""}] + [
                {"type": "input_json_delta", "partial_json": raw[i : i + 6]}
                for i in range(0, len(raw), 6)
            ]
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": head},
            )
        )
        if index == 0:
            events.append(("ping", {"type": "ping"}))
        events.extend(
            ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d})
            for d in deltas
        )
        if body["model"] == "stream-overload":
            error = {
                "type": "error",
                "error": {"type": "overloaded_error", "message": "Overloaded"},
            }
            return [*events, ("error", error)]
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    delta = {"stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"]}
    usage = {"output_tokens": message["usage"]["output_tokens"]}
    events.append(("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def sse(events: list[tuple[str, dict[str, Any]]]) -> bytes:
    return b"".join(
        f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events
    )

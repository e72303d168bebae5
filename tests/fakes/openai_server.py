"""A fake OpenAI Chat Completions server speaking the real wire format.

Behaviour is scripted per test (``fake.script``: replies served in order) or
chosen by the upstream model name, so tests read as stories:

- ``error-500`` / ``rate-limited`` / ``bad-request`` / ``context-too-long``: that error
- ``slow``: answers after ``fake.delay_s``
- anything else: echoes the last user message; with ``tools`` and a forcing
  ``tool_choice`` it calls the tool
Every request is recorded in ``fake.calls`` (path, headers, parsed body).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass
class Reply:
    status: int = 200
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    chunks: list[str] | None = None  # stream these content pieces
    cut_after: int | None = None  # stream: drop the connection after this many chunks
    chunk_delay_s: float = 0.0  # stream: pause between chunks
    usage: bool = True  # False: no usage, even when asked (servers that ignore include_usage)


@dataclass
class Call:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


def _error(status: int, message: str, type_: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


_NAMED: dict[str, Reply] = {
    "error-500": Reply(500, _error(500, "The server had an error", "server_error", None)),
    "rate-limited": Reply(
        429,
        _error(429, "Rate limit reached", "requests", "rate_limit_exceeded"),
        {"retry-after": "1"},
    ),
    "bad-request": Reply(400, _error(400, "Invalid 'temperature'", "invalid_request_error", None)),
    "context-too-long": Reply(
        400,
        _error(
            400,
            "This model's maximum context length is 8192 tokens",
            "invalid_request_error",
            "context_length_exceeded",
        ),
    ),
    "bad-key": Reply(
        401,
        _error(
            401, "Incorrect API key provided: sk-up***", "invalid_request_error", "invalid_api_key"
        ),
    ),
}


def _last_user(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return "".join(p.get("text", "") for p in content if p.get("type") == "text")
            return content or ""
    return ""


class FakeOpenAI:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.script: list[Reply] = []
        self.delay_s = 0.5
        self.streams_finished = 0  # streams sent to the end
        self.streams_abandoned = 0  # streams whose reader went away before the end
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self.chat, methods=["POST"]),
                Route(
                    "/openai/deployments/{deployment}/chat/completions", self.chat, methods=["POST"]
                ),
            ]
        )

    def reset(self) -> None:
        self.calls.clear()
        self.script.clear()
        self.streams_finished = self.streams_abandoned = 0

    def count(self, model: str | None = None) -> int:
        return sum(1 for c in self.calls if model is None or c.body.get("model") == model)

    def _next(self, model: str) -> Reply | None:
        if self.script:
            return self.script.pop(0)
        if model == "slow":
            return Reply(delay_s=self.delay_s)
        return _NAMED.get(model)

    async def chat(self, request: Request) -> Response:
        body = json.loads(await request.body())
        self.calls.append(Call(request.url.path, dict(request.headers), body))
        reply = self._next(body.get("model", "")) or Reply()
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        if reply.status != 200:
            return JSONResponse(reply.body or {}, status_code=reply.status, headers=reply.headers)
        if reply.body is not None:
            return JSONResponse(reply.body, headers=reply.headers)
        text = _last_user(body)
        tool = self._forced_tool(body)
        if body.get("stream"):
            return StreamingResponse(
                self._stream(body, text, tool, reply), media_type="text/event-stream"
            )
        completion = self._completion(body, text, tool)
        if not reply.usage:
            del completion["usage"]
        return JSONResponse(completion)

    @staticmethod
    def _forced_tool(body: dict[str, Any]) -> dict[str, Any] | None:
        choice = body.get("tool_choice")
        tools = body.get("tools") or []
        if not tools or choice in (None, "none", "auto"):
            return None
        if isinstance(choice, dict):
            name = choice["function"]["name"]
            return next(t for t in tools if t["function"]["name"] == name)
        return tools[0]

    @staticmethod
    def _usage(body: dict[str, Any], text: str) -> dict[str, Any]:
        prompt = sum(len(str(m.get("content", "")).split()) + 4 for m in body["messages"])
        completion = len(text.split())
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": 0},
        }

    def _completion(
        self, body: dict[str, Any], text: str, tool: dict[str, Any] | None
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None if tool else text,
            "refusal": None,
        }
        if tool:
            message["tool_calls"] = [
                {
                    "id": "call_fake_1",
                    "type": "function",
                    "function": {
                        "name": tool["function"]["name"],
                        "arguments": json.dumps({"text": text}),
                    },
                }
            ]
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "system_fingerprint": "fp_fake",
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": "tool_calls" if tool else "stop",
                }
            ],
            "usage": self._usage(body, text),
        }

    async def _stream(
        self, body: dict[str, Any], text: str, tool: dict[str, Any] | None, reply: Reply
    ) -> AsyncIterator[bytes]:
        base = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body["model"],
            "system_fingerprint": "fp_fake",
        }
        include_usage = (body.get("stream_options") or {}).get("include_usage") and reply.usage

        def event(delta: dict[str, Any], finish: str | None = None) -> bytes:
            chunk = {
                **base,
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }
            if include_usage:
                chunk["usage"] = None
            return f"data: {json.dumps(chunk)}\n\n".encode()

        events = [event({"role": "assistant", "content": "", "refusal": None})]
        if tool:
            args = json.dumps({"text": text})
            events.append(
                event(
                    {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_fake_1",
                                "type": "function",
                                "function": {"name": tool["function"]["name"], "arguments": ""},
                            }
                        ]
                    }
                )
            )
            for i in range(0, len(args), 5):
                events.append(
                    event(
                        {"tool_calls": [{"index": 0, "function": {"arguments": args[i : i + 5]}}]}
                    )
                )
            events.append(event({}, "tool_calls"))
        else:
            pieces = (
                reply.chunks
                if reply.chunks is not None
                else [w + " " for w in text.split(" ")[:-1]] + text.split(" ")[-1:]
            )
            events.extend(event({"content": p}) for p in pieces)
            events.append(event({}, "stop"))
        if include_usage:
            usage_chunk = {**base, "choices": [], "usage": self._usage(body, text)}
            events.append(f"data: {json.dumps(usage_chunk)}\n\n".encode())
        events.append(b"data: [DONE]\n\n")
        finished = False
        try:
            for i, data in enumerate(events):
                if reply.cut_after is not None and i >= reply.cut_after:
                    raise ConnectionResetError("stream cut on purpose")
                yield data
                await asyncio.sleep(reply.chunk_delay_s)
            finished = True
        finally:
            if finished:
                self.streams_finished += 1
            else:
                self.streams_abandoned += 1

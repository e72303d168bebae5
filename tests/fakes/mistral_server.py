"""A fake Mistral Chat Completions server (``POST /v1/chat/completions``).

From Mistral's API reference: it refuses what Mistral refuses (fields it does not
know, with a 422 ``extra_forbidden`` detail; tool-call ids that are not 9
characters of [a-zA-Z0-9]; unknown ``tool_choice`` values; message fields a role
does not have), records every call, and answers like Mistral: echo, or a tool
call when ``tool_choice`` is ``any``/``required``/named. Streams put ``usage`` on
the chunk with the ``finish_reason`` and send tool calls whole in one chunk.
Model names pick errors: ``error-500``, ``rate-limited``, ``context-too-long``,
``bad-key``.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.openai_server import Call, Reply

FIELDS = {
    "model",
    "messages",
    "temperature",
    "top_p",
    "max_tokens",
    "stream",
    "stop",
    "random_seed",
    "metadata",
    "response_format",
    "tools",
    "tool_choice",
    "presence_penalty",
    "frequency_penalty",
    "n",
    "prediction",
    "parallel_tool_calls",
    "safe_prompt",
    "logprobs",
    "top_logprobs",
    "reasoning_effort",
    "prompt_mode",
    "guardrails",
    "prompt_cache_key",
    "service_tier",
    "min_tokens",
    "top_k",
}
MESSAGE_FIELDS = {
    "system": {"role", "content"},
    "user": {"role", "content"},
    "assistant": {"role", "content", "tool_calls", "prefix"},
    "tool": {"role", "content", "tool_call_id", "name"},
}
_ID = re.compile(r"^[a-zA-Z0-9]{9}$")
_NAMED = {
    "error-500": Reply(
        500,
        {
            "object": "error",
            "message": "Service unavailable.",
            "type": "internal_server_error",
            "param": None,
            "code": "1000",
        },
    ),
    "rate-limited": Reply(429, {"message": "Requests rate limit exceeded"}, {"retry-after": "3"}),
    "context-too-long": Reply(
        400,
        {
            "object": "error",
            "message": "Prompt contains 40000 tokens and 0 draft tokens, too large for model "
            "with 32768 maximum context length",
            "type": "invalid_request_error",
            "param": None,
            "code": "3051",
        },
    ),
    "bad-key": Reply(401, {"message": "Unauthorized", "request_id": "7f1c0a"}),
}


def _unprocessable(loc: list[Any], message: str, value: Any) -> JSONResponse:
    detail = [{"type": "extra_forbidden", "loc": ["body", *loc], "msg": message, "input": value}]
    body = {
        "object": "error",
        "message": {"detail": detail},
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    return JSONResponse(body, status_code=422)


def _bad(message: str) -> JSONResponse:
    body = {
        "object": "error",
        "message": message,
        "type": "invalid_request_error",
        "param": None,
        "code": "3230",
    }
    return JSONResponse(body, status_code=400)


def _check(body: dict[str, Any]) -> Response | None:
    for key in body:
        if key not in FIELDS:
            return _unprocessable([key], "Extra inputs are not permitted", body[key])
    for i, message in enumerate(body.get("messages") or []):
        allowed = MESSAGE_FIELDS.get(message.get("role"), set())
        for key in message:
            if key not in allowed:
                return _unprocessable(["messages", i, key], "Extra inputs are not permitted", 1)
        ids = [c.get("id", "") for c in message.get("tool_calls") or ()]
        if message.get("role") == "tool":
            ids.append(message.get("tool_call_id", ""))
        for call_id in ids:
            if not _ID.match(call_id):
                return _bad(
                    f"Tool call id was {call_id} but must be a-z, A-Z, 0-9, with a length of 9."
                )
    choice = body.get("tool_choice")
    if isinstance(choice, str) and choice not in ("auto", "none", "any", "required"):
        return _bad(f"tool_choice {choice!r} is not valid")
    return None


class FakeMistral:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.script: list[Reply] = []
        self.url = ""
        self.app = Starlette(routes=[Route("/v1/chat/completions", self.chat, methods=["POST"])])

    def reset(self) -> None:
        self.calls.clear()
        self.script.clear()

    def count(self) -> int:
        return len(self.calls)

    async def chat(self, request: Request) -> Response:
        body = json.loads(await request.body())
        self.calls.append(Call(request.url.path, dict(request.headers), body))
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return JSONResponse({"message": "Unauthorized", "request_id": "x"}, status_code=401)
        problem = _check(body)
        if problem:
            return problem
        reply = self.script.pop(0) if self.script else _NAMED.get(body["model"])
        if reply is not None:
            return JSONResponse(reply.body or {}, status_code=reply.status, headers=reply.headers)
        answer = answer_for(body)
        if body.get("stream"):
            return StreamingResponse(_stream(answer), media_type="text/event-stream")
        return JSONResponse(answer)


def _forced_tool(body: dict[str, Any]) -> str | None:
    tools, choice = body.get("tools") or [], body.get("tool_choice")
    if isinstance(choice, dict):
        return str(choice["function"]["name"])
    if tools and choice in ("any", "required"):
        return str(tools[0]["function"]["name"])
    return None


def answer_for(body: dict[str, Any]) -> dict[str, Any]:
    text = ""
    for message in reversed(body["messages"]):
        if message["role"] == "user":
            content = message["content"]
            text = (
                content
                if isinstance(content, str)
                else "".join(p.get("text", "") for p in content if p.get("type") == "text")
            )
            break
    tool = _forced_tool(body)
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "" if tool else text,
        "tool_calls": None,
        "prefix": False,
    }
    if tool:
        message["tool_calls"] = [
            {
                "id": "D681PevKs",
                "type": "function",
                "function": {"name": tool, "arguments": json.dumps({"text": text})},
                "index": 0,
            }
        ]
    prompt = sum(len(json.dumps(m.get("content")).split()) for m in body["messages"])
    completion = len(text.split())
    return {
        "id": "cmpl-e5cc70bb28c444948073e77776eb30ef",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"],
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if tool else "stop"}
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


async def _stream(answer: dict[str, Any]) -> AsyncIterator[bytes]:
    base = {k: answer[k] for k in ("id", "created", "model")}
    base["object"] = "chat.completion.chunk"
    message = answer["choices"][0]["message"]

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        data = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(data)}\n\n".encode()

    yield chunk({"role": "assistant", "content": ""})
    if message["tool_calls"]:
        yield chunk({"tool_calls": message["tool_calls"]})
    else:
        words = message["content"].split(" ")
        for i, word in enumerate(words):
            yield chunk({"content": word if i == len(words) - 1 else word + " "})
    finish = answer["choices"][0]["finish_reason"]
    yield chunk({"content": ""}, finish, usage=answer["usage"])
    yield b"data: [DONE]\n\n"

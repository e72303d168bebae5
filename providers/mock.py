"""The ``mock`` provider: a deterministic, offline OpenAI-format upstream.

It goes through the same adapter contract and HTTP path as every real provider:
``MockAdapter`` builds an ``httpx.Request`` and ``MockUpstream`` is the httpx
transport that answers it in-process, with the per-deployment ``mock:`` options
(latency, stream pacing, seeded errors, echo or arithmetic replies).
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import re
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from providers.base import Target
from providers.openai_compat import Flavor, OpenAICompatAdapter
from providers.sse import DONE, encode_data
from providers.tokens import count_text_tokens

__all__ = ["MockAdapter", "MockOptions", "MockUpstream", "arithmetic_answer"]

MOCK_BASE_URL = "http://mock.arbiter.invalid/v1"
_OPTIONS_HEADER = "x-arbiter-mock"
_QUESTION = re.compile(r"(-?\d+(?:\.\d+)?)\s*([-+*/x×])\s*(-?\d+(?:\.\d+)?)")


@dataclass(frozen=True, slots=True)
class MockOptions:
    reply: str = "echo"  # echo | arithmetic
    accuracy: float = 1.0
    latency_ms: float = 0.0
    tokens_per_s: float = 0.0
    error_rate: float = 0.0
    seed: int = 0

    @classmethod
    def from_mapping(cls, data: dict[str, Any] | None) -> MockOptions:
        return cls(**(data or {}))


def _unit_hash(*parts: object) -> float:
    """A number in [0, 1) decided only by the parts: same input, same draw."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def arithmetic_answer(prompt: str, accuracy: float, seed: int) -> str:
    """The answer to "What is A op B?": right for an ``accuracy`` share of prompts."""
    match = _QUESTION.search(prompt)
    if not match:
        return "I can only answer arithmetic questions like 'What is 17 + 25?'."
    a, op, b = float(match.group(1)), match.group(2), float(match.group(3))
    if op == "+":
        value = a + b
    elif op == "-":
        value = a - b
    elif op in "*x×":
        value = a * b
    else:
        value = a / b if b else 0.0
    if _unit_hash(prompt, seed) >= accuracy:
        value += 1 + int(_unit_hash(seed, prompt) * 9)  # wrong, but plausibly so
    return str(int(value)) if float(value).is_integer() else f"{value:.4g}"


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "".join(p.get("text", "") for p in content if p.get("type") == "text")
    return ""


def _prompt_tokens(messages: list[dict[str, Any]]) -> int:
    total = 3
    for message in messages:
        content = message.get("content")
        text = content if isinstance(content, str) else orjson.dumps(content).decode()
        total += 3 + count_text_tokens(message.get("role", "")) + count_text_tokens(text or "")
    return total


def _forced_tool(body: dict[str, Any]) -> dict[str, Any] | None:
    """The tool the request forces (``required`` or a named function), if any."""
    tools = body.get("tools") or []
    choice = body.get("tool_choice")
    if not tools or choice in (None, "none", "auto"):
        return None
    if isinstance(choice, dict):
        name = choice.get("function", {}).get("name")
        return next((t for t in tools if t.get("function", {}).get("name") == name), None)
    return tools[0] if choice == "required" else None


class MockUpstream(httpx.AsyncBaseTransport):
    """An httpx transport that answers chat completions like an OpenAI server."""

    def __init__(self) -> None:
        self._counter = itertools.count()
        self.requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        options = MockOptions.from_mapping(orjson.loads(request.headers.get(_OPTIONS_HEADER, "{}")))
        body = orjson.loads(await request.aread())
        n = next(self._counter)
        if options.error_rate and _unit_hash(options.seed, "error", n) < options.error_rate:
            if options.latency_ms:
                await asyncio.sleep(options.latency_ms / 1000)
            error = {"error": {"message": "mock failure", "type": "server_error", "code": None}}
            return httpx.Response(500, json=error)
        text = self._reply(body, options)
        tool = _forced_tool(body)
        if body.get("stream"):
            return httpx.Response(
                200,
                headers={"content-type": "text/event-stream"},
                stream=_MockStream(body, text, tool, options),
            )
        if options.latency_ms:
            await asyncio.sleep(options.latency_ms / 1000)
        return httpx.Response(
            200,
            content=orjson.dumps(_completion(body, text, tool)),
            headers={"content-type": "application/json"},
        )

    @staticmethod
    def _reply(body: dict[str, Any], options: MockOptions) -> str:
        prompt = _last_user_text(body.get("messages", []))
        if options.reply == "arithmetic":
            return arithmetic_answer(prompt, options.accuracy, options.seed)
        return prompt


def _tool_call(tool: dict[str, Any], text: str) -> dict[str, Any]:
    name = tool.get("function", {}).get("name", "tool")
    arguments = orjson.dumps({"input": text}).decode()
    call_id = "call_" + hashlib.sha1(f"{name}{text}".encode()).hexdigest()[:24]
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _usage(body: dict[str, Any], text: str) -> dict[str, int]:
    prompt = _prompt_tokens(body.get("messages", []))
    completion = count_text_tokens(text)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _completion(body: dict[str, Any], text: str, tool: dict[str, Any] | None) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": None if tool else text}
    if tool:
        message["tool_calls"] = [_tool_call(tool, text)]
    return {
        "id": "chatcmpl-mock" + hashlib.sha1(text.encode()).hexdigest()[:20],
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "mock"),
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": "tool_calls" if tool else "stop",
            }
        ],
        "usage": _usage(body, text),
    }


class _MockStream(httpx.AsyncByteStream):
    def __init__(
        self, body: dict[str, Any], text: str, tool: dict[str, Any] | None, options: MockOptions
    ) -> None:
        self._body, self._text, self._tool, self._options = body, text, tool, options

    async def __aiter__(self) -> AsyncIterator[bytes]:
        body, options = self._body, self._options
        base = {
            "id": "chatcmpl-mock" + hashlib.sha1(self._text.encode()).hexdigest()[:20],
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model", "mock"),
        }

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return encode_data({**base, "choices": [choice]})

        if options.latency_ms:
            await asyncio.sleep(options.latency_ms / 1000)
        yield chunk({"role": "assistant", "content": ""})
        delay = 1.0 / options.tokens_per_s if options.tokens_per_s else 0.0
        if self._tool:
            call = _tool_call(self._tool, self._text)
            args = call["function"]["arguments"]
            head = {
                "index": 0,
                "id": call["id"],
                "type": "function",
                "function": {"name": call["function"]["name"], "arguments": ""},
            }
            yield chunk({"tool_calls": [head]})
            for i in range(0, len(args), 8):
                piece = {"index": 0, "function": {"arguments": args[i : i + 8]}}
                yield chunk({"tool_calls": [piece]})
            yield chunk({}, "tool_calls")
        else:
            for piece in re.findall(r"\S+\s*|\s+", self._text):
                if delay:
                    await asyncio.sleep(delay)
                yield chunk({"content": piece})
            yield chunk({}, "stop")
        if (body.get("stream_options") or {}).get("include_usage"):
            yield encode_data({**base, "choices": [], "usage": _usage(body, self._text)})
        yield DONE


class MockAdapter(OpenAICompatAdapter):
    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(Flavor(name="mock", base_url=MOCK_BASE_URL, auth_header=""))

    def build_request(self, request: Any, target: Target) -> httpx.Request:
        upstream = super().build_request(request, target)
        upstream.headers[_OPTIONS_HEADER] = orjson.dumps(target.options.get("mock") or {}).decode()
        return upstream

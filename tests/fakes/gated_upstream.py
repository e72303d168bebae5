"""An OpenAI-shaped upstream, as an httpx transport, whose answers wait behind a gate.

Tests hold the gate to keep a request in flight for as long as they need (no
timing guesses), count the calls, and script a status per call. ``asgi_app``
serves the same upstream over HTTP, for Arbiter processes started by a test.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterable

import httpx
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from providers.sse import DONE, encode_data


class GatedUpstream(httpx.AsyncBaseTransport):
    def __init__(self, *, gated_calls: Iterable[int] = (1,), statuses: list[int] | None = None):
        self.gate = threading.Event()
        self.gated_calls = set(gated_calls)  # these calls (numbered from 1) wait for the gate
        self.statuses = list(statuses or [])  # per call, in order; then 200
        self.calls = 0
        self._lock = threading.Lock()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.calls += 1
            number = self.calls
        if number in self.gated_calls:
            opened = await asyncio.to_thread(self.gate.wait, 30)
            if not opened:
                return httpx.Response(504, json={"error": {"message": "gate never opened"}})
        status = self.statuses[number - 1] if number <= len(self.statuses) else 200
        body = orjson.loads(await request.aread())
        if status != 200:
            error = {"error": {"message": "upstream failed", "type": "server_error"}}
            return httpx.Response(status, json=error)
        text = f"answer {number} to: {body['messages'][-1]['content']}"
        if body.get("stream"):
            return httpx.Response(
                200, headers={"content-type": "text/event-stream"}, stream=_Stream(body, text)
            )
        return httpx.Response(200, json=_completion(body, text))

    def hold_next(self) -> None:
        """The next call waits for the gate (closed again)."""
        self.gate.clear()
        self.gated_calls.add(self.calls + 1)

    def asgi_app(self) -> Starlette:
        """This upstream over HTTP (JSON answers only)."""

        async def chat(request: Request) -> Response:
            forwarded = httpx.Request("POST", str(request.url), content=await request.body())
            answer = await self.handle_async_request(forwarded)
            return Response(await answer.aread(), answer.status_code, media_type="application/json")

        return Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])


def _usage(text: str) -> dict[str, int]:
    words = len(text.split())
    return {"prompt_tokens": 10, "completion_tokens": words, "total_tokens": 10 + words}


def _completion(body: dict, text: str) -> dict:
    return {
        "id": "chatcmpl-gated",
        "object": "chat.completion",
        "created": 1,
        "model": body["model"],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": _usage(text),
    }


class _Stream(httpx.AsyncByteStream):
    def __init__(self, body: dict, text: str) -> None:
        self.body, self.text = body, text

    async def __aiter__(self) -> AsyncIterator[bytes]:
        head = {"id": "chatcmpl-gated", "object": "chat.completion.chunk", "created": 1}
        head["model"] = self.body["model"]

        def chunk(delta: dict, finish: str | None = None) -> bytes:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return encode_data({**head, "choices": [choice]})

        yield chunk({"role": "assistant", "content": ""})
        for word in self.text.split(" "):
            yield chunk({"content": word + " "})
        yield chunk({}, "stop")
        yield encode_data({**head, "choices": [], "usage": _usage(self.text)})
        yield DONE

"""A fault-injecting OpenAI-compatible upstream, on a raw asyncio TCP server.

A real HTTP framework cannot misbehave at the socket level, so this one speaks
just enough HTTP/1.1 itself (keep-alive, Content-Length requests, JSON answers,
chunked SSE streams) to fail the way real upstreams do:

- ``fail_next(n, status, retry_after=..., code=...)``: the next ``n`` requests get
  that status (OpenAI's error body with ``code``, and ``Retry-After`` when given);
- ``reset_next(n)``: the next ``n`` requests get their connection reset (RST, no answer);
- ``cut_next(n, after=k)``: the next ``n`` streams stop after ``k`` SSE events,
  the connection closed mid-body;
- ``delay_s``: every answer waits this long (``delay_next`` for the next ``n`` only);
- ``error_rate``: that share of requests (seeded) answers 500.

Every request is recorded (``calls``: parsed bodies, ``arrivals``: monotonic
times), so tests assert how many requests each upstream received. One instance
is one deployment; give each its own provider entry in the config.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

__all__ = ["Fault", "FaultyUpstream", "running_upstreams"]


@dataclass(frozen=True)
class Fault:
    status: int = 200
    retry_after: float | None = None
    reset: bool = False
    cut_after: int | None = None
    delay_s: float = 0.0
    code: str | None = None  # the OpenAI error code in the body


_REASONS = {200: "OK", 400: "Bad Request", 429: "Too Many Requests", 500: "Internal Server Error"}


def _last_user(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            return str(message["content"])
    return ""


class FaultyUpstream:
    def __init__(self, name: str = "upstream", *, error_rate: float = 0.0, seed: int = 0) -> None:
        self.name = name
        self.error_rate = error_rate
        self.delay_s = 0.0
        self.chunk_delay_s = 0.0
        self.calls: list[dict[str, Any]] = []
        self.arrivals: list[float] = []
        self.failures = 0  # requests answered with an injected fault
        self._random = random.Random(seed)
        self._script: list[Fault] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"fake-{name}")
        self.port = 0

    # -- scripting (from the test's thread) ------------------------------------

    def fail_next(
        self,
        n: int,
        status: int = 500,
        *,
        retry_after: float | None = None,
        code: str | None = None,
    ) -> None:
        self._push(n, Fault(status=status, retry_after=retry_after, code=code))

    def reset_next(self, n: int) -> None:
        self._push(n, Fault(reset=True))

    def cut_next(self, n: int, *, after: int) -> None:
        self._push(n, Fault(cut_after=after))

    def delay_next(self, n: int, seconds: float) -> None:
        self._push(n, Fault(delay_s=seconds))

    def _push(self, n: int, fault: Fault) -> None:
        with self._lock:
            self._script.extend([fault] * n)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.calls)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _take(self, body: dict[str, Any]) -> Fault:
        with self._lock:
            self.calls.append(body)
            self.arrivals.append(time.monotonic())
            if self._script:
                fault = self._script.pop(0)
            elif self.error_rate and self._random.random() < self.error_rate:
                fault = Fault(status=500, delay_s=self.delay_s)
            else:
                fault = Fault(delay_s=self.delay_s)
            if fault.status != 200 or fault.reset or fault.cut_after is not None:
                self.failures += 1
            return fault

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> FaultyUpstream:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"fake upstream {self.name} did not start")
        return self

    def stop(self) -> None:
        loop = self._loop
        if loop is not None and loop.is_running():
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=10)
            loop.call_soon_threadsafe(loop.stop)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._accept, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    async def _shutdown(self) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    # -- HTTP ------------------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while await self._one_request(reader, writer):
                pass
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        except asyncio.CancelledError:
            pass  # our own shutdown; asyncio's stream callback would log a cancelled task
        finally:
            self._tasks.discard(task)
            writer.transport.abort()

    async def _one_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Serve one request; False when the connection is finished."""
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])
        }
        length = int(headers.get("content-length") or 0)
        raw = await reader.readexactly(length) if length else b"{}"
        body = json.loads(raw)
        fault = self._take(body)
        if fault.delay_s:
            await asyncio.sleep(fault.delay_s)
        if fault.reset:
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if fault.status != 200:
            await self._send_error(writer, fault)
            return True
        if body.get("stream"):
            return await self._send_stream(writer, body, fault.cut_after)
        await self._send(writer, 200, {"content-type": "application/json"}, self._reply(body))
        return True

    @staticmethod
    async def _send(
        writer: asyncio.StreamWriter, status: int, headers: dict[str, str], payload: Any
    ) -> None:
        data = json.dumps(payload).encode()
        head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}"]
        head += [f"{k}: {v}" for k, v in {**headers, "content-length": str(len(data))}.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
        await writer.drain()

    async def _send_error(self, writer: asyncio.StreamWriter, fault: Fault) -> None:
        headers = {"content-type": "application/json"}
        if fault.retry_after is not None:
            headers["retry-after"] = f"{fault.retry_after:g}"
        kind = fault.code or ("rate_limit_exceeded" if fault.status == 429 else None)
        error = {
            "error": {
                "message": f"{self.name} injected a {fault.status}",
                "type": "server_error" if fault.status >= 500 else "invalid_request_error",
                "param": None,
                "code": kind,
            }
        }
        await self._send(writer, fault.status, headers, error)

    def _usage(self, body: dict[str, Any], text: str) -> dict[str, int]:
        prompt = sum(len(str(m.get("content", "")).split()) + 4 for m in body["messages"])
        completion = len(text.split())
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }

    def _reply(self, body: dict[str, Any]) -> dict[str, Any]:
        text = _last_user(body)
        return {
            "id": f"chatcmpl-{self.name}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", ""),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": self._usage(body, text),
        }

    def _events(self, body: dict[str, Any]) -> list[bytes]:
        text = _last_user(body)
        base = {
            "id": f"chatcmpl-{self.name}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model", ""),
        }

        def event(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            choice = {"index": 0, "delta": delta, "finish_reason": finish}
            return {**base, "choices": [choice]}

        words = text.split(" ")
        pieces = [w + " " for w in words[:-1]] + words[-1:]
        chunks = [event({"role": "assistant", "content": ""})]
        chunks += [event({"content": piece}) for piece in pieces]
        chunks.append(event({}, "stop"))
        if (body.get("stream_options") or {}).get("include_usage"):
            chunks.append({**base, "choices": [], "usage": self._usage(body, text)})
        return [f"data: {json.dumps(c)}\n\n".encode() for c in chunks] + [b"data: [DONE]\n\n"]

    async def _send_stream(
        self, writer: asyncio.StreamWriter, body: dict[str, Any], cut_after: int | None
    ) -> bool:
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )
        for i, data in enumerate(self._events(body)):
            if cut_after is not None and i >= cut_after:
                await writer.drain()
                return False  # closed mid-body: the chunked message never ends
            writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            await writer.drain()
            if self.chunk_delay_s:
                await asyncio.sleep(self.chunk_delay_s)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True


@contextmanager
def running_upstreams(*names: str, **options: Any) -> Iterator[list[FaultyUpstream]]:
    """Start one fake upstream per name; stop them all afterwards."""
    started: list[FaultyUpstream] = []
    try:
        for name in names:
            started.append(FaultyUpstream(name, **options).start())
        yield started
    finally:
        for upstream in started:
            upstream.stop()

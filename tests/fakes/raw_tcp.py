"""An upstream that misbehaves below HTTP: a raw asyncio TCP server on 127.0.0.1.

An HTTP framework always answers properly; real upstreams (and the proxies in
front of them) do not. This server reads each request itself and then follows
one ``Plan`` for every connection: bytes written exactly as given (a broken
status line, a truncated chunked body, garbage), pauses between them, a wait
until the test calls ``release()``, and an ending:

- ``close``: a normal close (FIN);
- ``reset``: SO_LINGER 0, so the peer gets an RST ("connection reset by peer");
- ``hang``: keep the socket open and say nothing until the server stops.

``requests`` counts the requests read, so tests assert how often the gateway
called this upstream. Plans are built with ``json_reply``, ``sse_reply``,
``reset`` and ``silence``; ``sse_chunk`` and ``DONE`` make the events.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "DONE",
    "HOLD",
    "Plan",
    "RawUpstream",
    "json_reply",
    "raw_upstream",
    "reset",
    "silence",
    "sse_chunk",
    "sse_reply",
]

DONE = b"data: [DONE]\n\n"
HOLD = "hold"  # a step: wait here until ``RawUpstream.release()``

Step = bytes | float | str  # bytes to write, seconds to pause, or HOLD


@dataclass(frozen=True)
class Plan:
    """What the server does after reading a request."""

    steps: tuple[Step, ...] = ()
    end: Literal["close", "reset", "hang"] = "close"


def _head(status: int, content_type: str, extra: str) -> bytes:
    return (
        f"HTTP/1.1 {status} OK\r\ncontent-type: {content_type}\r\n{extra}connection: close\r\n\r\n"
    ).encode()


def json_reply(
    body: bytes, *, content_type: str = "application/json", before: tuple[Step, ...] = ()
) -> Plan:
    """A 200 with this body (a Content-Length body), after ``before``."""
    head = _head(200, content_type, f"content-length: {len(body)}\r\n")
    return Plan((*before, head + body))


def sse_reply(*pieces: Step, finished: bool = True, end: str = "close") -> Plan:
    """A 200 event stream in chunked encoding, one HTTP chunk per bytes piece.

    ``finished=False`` leaves out the terminating chunk: with ``end="close"`` the
    body is cut off mid-message, as when an upstream dies."""
    steps: list[Step] = [_head(200, "text/event-stream", "transfer-encoding: chunked\r\n")]
    for piece in pieces:
        if isinstance(piece, bytes):
            steps.append(b"%x\r\n%s\r\n" % (len(piece), piece))
        else:
            steps.append(piece)
    if finished:
        steps.append(b"0\r\n\r\n")
    return Plan(tuple(steps), end=end)  # type: ignore[arg-type]


def reset() -> Plan:
    """Read the request, then reset the connection before sending a byte."""
    return Plan(end="reset")


def silence() -> Plan:
    """Read the request and never answer."""
    return Plan(end="hang")


def sse_chunk(
    content: str | None = None, *, role: bool = False, finish: str | None = None
) -> bytes:
    """One OpenAI ``chat.completion.chunk`` event."""
    delta: dict[str, Any] = {}
    if role:
        delta["role"] = "assistant"
    if content is not None:
        delta["content"] = content
    chunk = {
        "id": "chatcmpl-raw",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "raw",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


class RawUpstream:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.requests = 0
        self.bodies: list[dict[str, Any]] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._released: asyncio.Event | None = None
        self._stopping: asyncio.Event | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[Any]] = set()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> RawUpstream:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=10)
        return self

    def release(self) -> None:
        """Let every connection waiting at a HOLD step go on."""
        assert self._released is not None
        self._loop.call_soon_threadsafe(self._released.set)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    async def _listen(self) -> None:
        self._released = asyncio.Event()
        self._stopping = asyncio.Event()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        assert self._server is not None and self._stopping and self._released
        self._stopping.set()
        self._released.set()  # nothing is left waiting
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await asyncio.gather(*self._handlers, return_exceptions=True)  # sockets closed
        await self._server.wait_closed()

    async def _read_request(self, reader: asyncio.StreamReader) -> bool:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return False
        length = 0
        for line in head.decode("latin-1").split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        body = await reader.readexactly(length)
        self.requests += 1
        self.bodies.append(json.loads(body) if body else {})
        return True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert self._released is not None and self._stopping is not None
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        try:
            if not await self._read_request(reader):
                return
            for step in self.plan.steps:
                if isinstance(step, bytes):
                    writer.write(step)
                    await writer.drain()
                elif step == HOLD:
                    await self._released.wait()
                else:
                    await asyncio.sleep(float(step))
            if self.plan.end == "reset":
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
            elif self.plan.end == "hang":
                await self._stopping.wait()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the gateway gave up on us first: that is its right
        finally:
            self._writers.discard(writer)
            writer.close()
            self._handlers.discard(task)


@contextmanager
def raw_upstream(plan: Plan) -> Iterator[RawUpstream]:
    upstream = RawUpstream(plan).start()
    try:
        yield upstream
    finally:
        upstream.stop()

"""One HTTP/1.1 client connection: an asyncio ``Protocol`` that writes requests
and parses responses with httptools, for ``providers/h1_transport.py``.

A connection carries one exchange at a time. The protocol callbacks only record
what arrived (head, body pieces, the end, an error) and wake the one coroutine
waiting on the connection; that coroutine raises the httpx exception. Body
pieces are handed over as soon as they arrive (a streaming relay must not wait
for a buffer to fill); reading pauses when more than ``HIGH_WATER`` bytes wait
unread and resumes when the reader catches up.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterable, Callable
from typing import cast

import httptools
import httpx

__all__ = ["H1Connection", "open_connection"]

HIGH_WATER = 256 * 1024  # unread body bytes before the socket stops being read
MAX_HEAD = 256 * 1024  # status line + headers; any single header line up to 64 KiB fits
_FRAMING = (b"content-length", b"transfer-encoding")
_VERSIONS = {"1.1": b"HTTP/1.1", "1.0": b"HTTP/1.0"}

# (name as sent, name lowercased, value): the form ``httpx.Headers`` keeps them in
Headers = list[tuple[bytes, bytes, bytes]]
ErrorType = type[httpx.TransportError]


class _UnexpectedMessage(Exception):
    """A second response began on a connection that asked for one."""


async def open_connection(
    host: str,
    port: int,
    *,
    ssl_context: ssl.SSLContext | None,
    server_hostname: str | None,
    timeout: float | None,
    on_closed: Callable[[H1Connection], None],
) -> H1Connection:
    """A new connection, or ``ConnectTimeout``/``ConnectError`` (refused, DNS, TLS)."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            _, connection = await loop.create_connection(
                lambda: H1Connection(loop, on_closed),
                host,
                port,
                ssl=ssl_context,
                server_hostname=server_hostname if ssl_context is not None else None,
            )
    except TimeoutError:  # before OSError: TimeoutError is one
        raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from None
    except OSError as exc:  # refused, unreachable, DNS (gaierror), TLS (SSLError)
        raise httpx.ConnectError(str(exc) or type(exc).__name__) from exc
    return connection


class H1Connection(asyncio.Protocol):
    __slots__ = (
        "key",
        "idle_since",
        "pooled",
        "_loop",
        "_on_closed",
        "_transport",
        "_parser",
        "_waiter",
        "_deadline",
        "_timer",
        "_timer_at",
        "_closed",
        "_write_paused",
        "_read_paused",
        "_error",
        "_active",
        "_status",
        "_reason",
        "_headers",
        "_head_done",
        "_version",
        "_head_bytes",
        "_complete",
        "_keep_alive",
        "_informational",
        "_body",
        "_buffered",
    )

    def __init__(
        self, loop: asyncio.AbstractEventLoop, on_closed: Callable[[H1Connection], None]
    ) -> None:
        self.key: object = None  # the pool's origin key
        self.idle_since = 0.0
        self.pooled = False  # sitting in the pool's idle list
        self._loop = loop
        self._on_closed = on_closed
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._waiter: asyncio.Future[bool] | None = None
        self._deadline = 0.0  # when the current wait times out (loop time)
        self._timer: asyncio.TimerHandle | None = None  # fires at _timer_at, <= _deadline
        self._timer_at = 0.0
        self._closed = False
        self._write_paused = False
        self._read_paused = False
        self._error: tuple[ErrorType, str] | None = None
        self._body: list[bytes] = []
        self._buffered = 0
        self._start()
        self._active = False  # a request is out and its response is not complete

    # -- the exchange, driven by the transport ------------------------------------

    @property
    def reusable(self) -> bool:
        """Its last response was read to the end and both sides keep it open."""
        transport = self._transport
        return (
            self._complete
            and self._keep_alive
            and not self._body
            and self._error is None
            and not self._closed
            and transport is not None
            and not transport.is_closing()
        )

    @property
    def usable(self) -> bool:
        """Idle and still open (no EOF seen)."""
        transport = self._transport
        return not self._closed and transport is not None and not transport.is_closing()

    async def exchange(
        self,
        head: bytes,
        body: bytes,
        stream: AsyncIterable[bytes] | None,
        *,
        chunked: bool,
        head_only: bool,
        timeouts: dict[str, float | None],
    ) -> tuple[int, Headers, bytes, bytes]:
        """Sends one request; returns status, headers (see ``Headers``), reason and
        HTTP version once the response head has arrived. The body is read with ``read_body``."""
        transport = self._transport
        if transport is None or self._closed or transport.is_closing():
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        self._start()
        if stream is None:
            transport.write(head + body if len(body) < 65536 else head)
            if len(body) >= 65536:
                transport.write(body)
        else:
            transport.write(head)
            await self._send_stream(stream, chunked, timeouts.get("write"))
        if self._write_paused:
            await self._drain(timeouts.get("write"))
        read_timeout = timeouts.get("read")
        while not self._head_done:
            if self._error is not None:
                self._raise()
            if not await self._wait(read_timeout):
                self._fail(httpx.ReadTimeout, "timed out waiting for the response")
                self._raise()
        if head_only:  # a HEAD response has no body whatever its headers say
            self._complete, self._keep_alive, self._active = True, False, False
        return self._status, self._headers, self._reason, self._version

    async def read_body(self, timeout: float | None) -> bytes:
        """What arrived since the last call, waiting for it if nothing has;
        ``b""`` once the body is complete."""
        while True:
            body = self._body
            if body:
                data = body[0] if len(body) == 1 else b"".join(body)
                self._body = []
                self._buffered = 0
                if self._read_paused and self._transport is not None:
                    self._read_paused = False
                    self._transport.resume_reading()
                return data
            if self._complete:
                return b""
            if self._error is not None:
                self._raise()
            if not await self._wait(timeout):
                self._fail(httpx.ReadTimeout, "timed out reading the response body")
                self._raise()

    def close(self) -> None:
        """Closes the socket (the server sees EOF) and frees the pool slot."""
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()
        self._mark_closed()

    def _start(self) -> None:
        self._active = True
        self._status = 0
        self._reason = b""
        self._headers: Headers = []
        self._version = b"HTTP/1.1"
        self._head_done = False
        self._head_bytes = 0
        self._complete = False
        self._keep_alive = False
        self._informational = False

    async def _send_stream(
        self, stream: AsyncIterable[bytes], chunked: bool, timeout: float | None
    ) -> None:
        transport = self._transport
        assert transport is not None
        async for part in stream:
            if self._error is not None:
                self._raise()
            if part:
                transport.write(b"%x\r\n%b\r\n" % (len(part), part) if chunked else part)
            if self._write_paused:
                await self._drain(timeout)
        if chunked:
            transport.write(b"0\r\n\r\n")

    async def _drain(self, timeout: float | None) -> None:
        while self._write_paused:
            if self._error is not None:
                self._raise()
            if not await self._wait(timeout):
                self._fail(httpx.WriteTimeout, "timed out sending the request")
                self._raise()

    async def _wait(self, timeout: float | None) -> bool:
        """Until a protocol callback wakes us (True) or ``timeout`` passes (False).

        The connection keeps one timer across its waits, not one per wait: a wait
        moves the deadline, and the timer, when it fires, expires a wait whose
        deadline has passed or sets itself again for the one that has not. A timer
        set and cancelled per wait was ~2 us of every upstream call."""
        loop = self._loop
        waiter = loop.create_future()
        self._waiter = waiter
        if timeout is None:
            self._deadline = 0.0
        else:
            deadline = self._deadline = loop.time() + timeout
            if self._timer is None or deadline < self._timer_at:
                self._arm(deadline)
        try:
            return await waiter
        finally:
            self._waiter = None

    def _arm(self, at: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = at
        self._timer = self._loop.call_at(at, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done() or not self._deadline:
            return  # no wait with a timeout: the next one sets the timer again
        if self._loop.time() >= self._deadline:
            waiter.set_result(False)
        else:
            self._arm(self._deadline)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(True)

    def _raise(self) -> None:
        assert self._error is not None
        error_type, message = self._error
        raise error_type(message)

    def _fail(self, error_type: ErrorType, message: str) -> None:
        if self._error is None:
            self._error = (error_type, message)
        self.close()
        self._wake()

    def _mark_closed(self) -> None:
        if not self._closed:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._on_closed(self)

    def _ends_at_eof(self) -> bool:
        """The body has neither Content-Length nor chunked framing: EOF ends it."""
        return not any(lowered in _FRAMING for _, lowered, _ in self._headers)

    def _lost(self, exc: Exception | None) -> None:
        if self._active and self._error is None:
            if exc is not None:
                self._error = (httpx.ReadError, str(exc) or type(exc).__name__)
            elif not self._head_done:
                self._error = (
                    httpx.RemoteProtocolError,
                    "Server disconnected without sending a response.",
                )
            elif self._ends_at_eof():
                self._complete, self._active = True, False
            else:
                self._error = (
                    httpx.RemoteProtocolError,
                    "Server disconnected before the response body was complete.",
                )
        self._wake()

    # -- asyncio.Protocol ----------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        if not self._active:  # nothing was asked: a connection in an unknown state
            self._fail(httpx.RemoteProtocolError, "unexpected data from the server")
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(httpx.RemoteProtocolError, "the server switched protocols")
            return
        except httptools.HttpParserError as exc:
            if self._complete:  # bytes after a complete response: never reuse it
                self._keep_alive = False
                self.close()
            else:
                self._fail(httpx.RemoteProtocolError, f"malformed response: {exc}")
            return
        if not self._head_done:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD:
                self._fail(httpx.RemoteProtocolError, "response head too large")

    def eof_received(self) -> bool:
        self._lost(None)
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._write_paused = False  # nothing more goes out: no drain waits for its timeout
        self._lost(exc)
        self._mark_closed()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake()

    # -- httptools callbacks -------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._complete:
            raise _UnexpectedMessage
        self._reason = b""
        self._headers = []

    def on_status(self, reason: bytes) -> None:
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name, name.lower(), value))

    def on_headers_complete(self) -> None:
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # 100 Continue and friends: the real answer follows
            self._informational = True
            return
        self._status = status
        self._version = _VERSIONS.get(self._parser.get_http_version(), b"HTTP/1.1")
        self._head_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        self._body.append(body)
        self._buffered += len(body)
        if self._buffered > HIGH_WATER and not self._read_paused and self._transport:
            self._read_paused = True
            self._transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._informational:
            self._informational = False
            return
        self._complete = True
        self._active = False
        self._keep_alive = self._parser.should_keep_alive()
        self._wake()

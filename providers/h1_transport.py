"""An httpx transport that speaks HTTP/1.1 itself: asyncio ``Protocol`` +
httptools, a keep-alive pool per origin.

httpx stays the client API (``httpx.Request``/``httpx.Response`` are the provider
contract's types and ``MockTransport`` serves the tests); this carries the bytes
at a fraction of httpcore's or aiohttp's CPU per request (bench/README.md, "The
transport decision"). Requests go out exactly as httpx built them: the path and
query as encoded (signed paths stay valid), the headers the request carries and
no others. Proxies are not spoken: ``providers/transport.py`` picks the aiohttp
transport when a proxy variable is set.

Errors leave as the httpx exceptions httpcore raises in the same situation, so
``map_transport_errors`` lands them in the taxonomy:

  what happened                                       httpx
  no free connection within the pool timeout          PoolTimeout
  connect (TCP + TLS) past the connect timeout        ConnectTimeout
  refused, unreachable, DNS failure, TLS failure      ConnectError
  request not sent within the write timeout           WriteTimeout
  no response byte within the read timeout (per read) ReadTimeout
  server hung up before a response, or mid-body with  RemoteProtocolError
    Content-Length/chunked framing unfinished
  garbage status line or headers, head over 256 KiB,  RemoteProtocolError
    a protocol switch
  connection reset (or other socket error)            ReadError
  a scheme other than http/https                      UnsupportedProtocol
  CR or LF inside a request header                    LocalProtocolError
"""

from __future__ import annotations

import asyncio
import ssl
import sys
import time
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import suppress

import httpx

from providers.h1_connection import H1Connection, Headers, open_connection
from providers.upstream_client import take_plain_body, unread_plain_body

__all__ = ["H1Transport"]

_DEFAULT_PORTS = {b"http": 80, b"https": 443}
_NO_TIMEOUTS: dict[str, float | None] = {}
Key = tuple[bytes, bytes, str | None]  # (scheme, host:port as in the URL, TLS server name)


class _Origin:
    """Where a pool's connections for one key go, worked out once per origin."""

    __slots__ = ("key", "host", "port", "ssl_context", "server_hostname")

    def __init__(self, key: Key, url: httpx.URL, ssl_context: ssl.SSLContext | None) -> None:
        self.key = key
        self.host = url.raw_host.decode("ascii")
        self.port = url.port or _DEFAULT_PORTS[key[0]]
        self.ssl_context = ssl_context
        self.server_hostname = key[2] or self.host


class _Body(httpx.AsyncByteStream):
    """A response body, piece by piece as it arrives. Read to its end, the
    connection goes back to the pool; closed before, the connection is closed
    (the upstream sees EOF and stops generating)."""

    __slots__ = ("_connection", "_pool", "_timeout", "_open")

    def __init__(self, connection: H1Connection, pool: _Pool, timeout: float | None) -> None:
        self._connection = connection
        self._pool = pool
        self._timeout = timeout
        self._open = True

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self

    async def __anext__(self) -> bytes:
        if self._open:
            data = await self._connection.read_body(self._timeout)
            if data:
                return data
            self._open = False
            self._pool.release(self._connection)
        raise StopAsyncIteration

    async def aclose(self) -> None:
        if self._open:
            self._open = False
            self._pool.release(self._connection)


class _Response(httpx.Response):
    """An ``httpx.Response`` whose ``aread`` takes a body that is not content-encoded
    straight from the connection (``take_plain_body``). httpx's generic path
    (decoder, chunker, byte counting, request context) costs ~9 us per JSON answer
    (bench/README.md, "The third round"); streaming reads (``aiter_raw``/
    ``aiter_bytes``) stay httpx's own."""

    async def aread(self) -> bytes:
        if unread_plain_body(self):
            return await take_plain_body(self)
        return await super().aread()


class _Pool:
    """Connections by origin, within ``httpx.Limits``: at most ``max_connections``
    open in all, at most ``max_keepalive_connections`` idle, none idle longer
    than ``keepalive_expiry``. A request that finds no room waits (the pool
    timeout) for a connection to come back or close."""

    def __init__(self, limits: httpx.Limits) -> None:
        self._max = limits.max_connections or sys.maxsize
        idle = limits.max_keepalive_connections
        self._max_idle: int = self._max if idle is None else idle
        self._expiry = limits.keepalive_expiry
        self._idle: dict[Key, list[H1Connection]] = {}
        self._idle_count = 0
        self._open: set[H1Connection] = set()
        self._connecting = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self, origin: _Origin, timeouts: dict[str, float | None]) -> H1Connection:
        """An idle connection to the origin, else a new one if there is room, else
        the first that frees up within the pool timeout."""
        deadline: float | None = None
        waited = False
        while True:
            connection = self.take_idle(origin)
            if connection is not None:
                return connection
            if len(self._open) + self._connecting < self._max:
                return await self._connect(origin, timeouts.get("connect"))
            if self._evict_idle():
                continue
            if not waited:  # the pool timeout counts from the first wait
                waited, pool_timeout = True, timeouts.get("pool")
                if pool_timeout is not None:
                    deadline = asyncio.get_running_loop().time() + pool_timeout
            await self._wait_for_room(deadline)

    def release(self, connection: H1Connection) -> None:
        """Back to the pool if it can carry another request; closed otherwise."""
        if connection.reusable and self._idle_count < self._max_idle:
            connection.idle_since = time.monotonic()
            connection.pooled = True
            self._idle.setdefault(connection.key, []).append(connection)  # type: ignore[arg-type]
            self._idle_count += 1
            if self._waiters:
                self._wake_one()
        else:
            connection.close()

    def close_all(self) -> None:
        for connection in list(self._open):
            connection.close()

    def take_idle(self, origin: _Origin) -> H1Connection | None:
        """The origin's most recently used idle connection that is open and not
        expired, if there is one."""
        idle = self._idle.get(origin.key)
        if not idle:
            return None
        now = time.monotonic()  # not the loop's clock: asking for the loop is a getpid()
        expiry = self._expiry
        while idle:
            connection = idle.pop()
            connection.pooled = False
            self._idle_count -= 1
            if connection.usable and (expiry is None or now - connection.idle_since < expiry):
                return connection
            connection.close()
        return None

    async def _connect(self, origin: _Origin, timeout: float | None) -> H1Connection:
        self._connecting += 1
        try:
            connection = await open_connection(
                origin.host,
                origin.port,
                ssl_context=origin.ssl_context,
                server_hostname=origin.server_hostname,
                timeout=timeout,
                on_closed=self._closed,
            )
        except BaseException:
            self._connecting -= 1
            self._wake_one()  # the room this attempt held is free again
            raise
        self._connecting -= 1
        connection.key = origin.key
        self._open.add(connection)
        return connection

    async def _wait_for_room(self, deadline: float | None) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout_at(deadline):
                await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                self._wake_one()  # woken but leaving: pass the turn on
            else:
                waiter.cancel()
                with suppress(ValueError):  # _wake_one may have dropped it already
                    self._waiters.remove(waiter)
            if isinstance(exc, TimeoutError):
                raise httpx.PoolTimeout("timed out waiting for a free connection") from None
            raise

    def _evict_idle(self) -> bool:
        """Closes the longest-idle connection of any origin to make room."""
        oldest = min(
            (idle[0] for idle in self._idle.values() if idle),
            key=lambda c: c.idle_since,
            default=None,
        )
        if oldest is None:
            return False
        oldest.close()
        return True

    def _closed(self, connection: H1Connection) -> None:
        self._open.discard(connection)
        if connection.pooled:
            connection.pooled = False
            self._idle[connection.key].remove(connection)  # type: ignore[index]
            self._idle_count -= 1
        if self._waiters:
            self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


def _request_head(request: httpx.Request) -> bytes:
    url = request.url
    lines = [b"%s %s HTTP/1.1" % (request.method.encode("ascii"), url.raw_path)]
    lines.extend([name + b": " + value for name, value in request.headers.raw])
    head = b"\r\n".join(lines) + b"\r\n\r\n"
    if head.count(b"\n") != len(lines) + 1 or head.count(b"\r") != len(lines) + 1:
        raise httpx.LocalProtocolError("CR or LF inside a request header or the path")
    return head


class H1Transport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over one keep-alive pool, honouring ``httpx.Limits`` and the
    request's timeouts (connect, read, write, pool)."""

    def __init__(
        self, *, limits: httpx.Limits | None = None, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
        self._pool = _Pool(limits)
        self._ssl_context = ssl_context
        self._origins: dict[Key, _Origin] = {}

    def _tls(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            context = ssl.create_default_context()
            context.set_alpn_protocols(["http/1.1"])
            self._ssl_context = context
        return self._ssl_context

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.raw_scheme
        if scheme not in _DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(f"{scheme.decode()!r} is not http or https")
        head = _request_head(request)
        stream: AsyncIterable[bytes] | None = None
        try:
            body = request.content
        except httpx.RequestNotRead:
            body, stream = b"", request.stream  # type: ignore[assignment]
        extensions = request.extensions
        timeouts = extensions.get("timeout") or _NO_TIMEOUTS
        key = (scheme, url.netloc, extensions.get("sni_hostname"))
        origin = self._origins.get(key)
        if origin is None:
            if len(self._origins) >= 1024:  # provider origins are few; stay bounded anyway
                self._origins.clear()
            origin = _Origin(key, url, self._tls() if scheme == b"https" else None)
            self._origins[key] = origin
        # Usually a keep-alive connection is idle: taken without a coroutine.
        connection = self._pool.take_idle(origin) or await self._pool.acquire(origin, timeouts)
        try:
            status, headers, reason, version = await connection.exchange(
                head,
                body,
                stream,
                chunked=stream is not None and _is_chunked(request),
                head_only=request.method == "HEAD",
                timeouts=timeouts,
            )
        except BaseException:
            connection.close()
            raise
        return _Response(
            status,
            headers=_as_httpx_headers(headers),
            stream=_Body(connection, self._pool, timeouts.get("read")),
            request=request,
            extensions={"http_version": version, "reason_phrase": reason},
        )

    async def aclose(self) -> None:
        self._pool.close_all()


def _as_httpx_headers(parsed: Headers) -> httpx.Headers:
    """``httpx.Headers(pairs)`` normalises each name and value in Python, ~2.5k
    instructions a header (an API answers with a dozen or two); the connection
    keeps them as the (name, lowercased name, value) triples ``httpx.Headers``
    stores, so they are handed over as they are."""
    headers = httpx.Headers()
    headers._list = parsed
    return headers


def _is_chunked(request: httpx.Request) -> bool:
    return "chunked" in request.headers.get("transfer-encoding", "").lower()

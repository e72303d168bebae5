"""HTTP/1.1 for uvicorn: Arbiter's own protocol class over the httptools parser.

uvicorn runs it (``uvicorn.Config(http=ArbiterHttpProtocol)``): the sockets, the
workers, signals and graceful shutdown stay uvicorn's; this class turns the bytes
of one connection into ASGI requests and ASGI responses into bytes.

It exists for the hot path. uvicorn's own httptools protocol cost about 20 us of
CPU per request more than a minimal one (bench/README.md, "The sixth round"),
a sixth of a cache hit. Here:

- a response with a declared length leaves in one write, head and body together;
  a chunked one (a stream) sends its head with its first chunk, or at the end of
  the event loop step it was started in if no chunk follows in that step;
- a request whose body has arrived whole, as most have, is handed to the app
  without waiting on anything;
- keep-alive idleness is watched by one timer per connection, not by a timer set
  and cancelled per request;
- a response head is checked for control characters in one pass, not a regular
  expression per header.

What HTTP/1.1 asks of a server is all here: keep-alive and HTTP/1.0, pipelined
requests answered in order, ``Expect: 100-continue``, chunked request bodies,
flow control both ways, ``http.disconnect`` once the client has gone or the
response is complete, 400 for a malformed request, 500 when the app fails before
answering, a connection closed when it fails after. No WebSocket: an upgrade
request is answered as plain HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, cast
from urllib.parse import unquote

import httptools

from gateway.http_head import CHUNKED, ServerHeaders, plain_answer, response_head

__all__ = ["ArbiterHttpProtocol"]

# uvicorn's protocol classes report there, and Arbiter's logging config formats it.
log = logging.getLogger("uvicorn.error")

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[dict[str, Any], Receive, Send], Awaitable[None]]

HIGH_WATER_BYTES = 65536  # request body received but not yet read before reading pauses
_ASGI = {"version": "3.0", "spec_version": "2.3"}
_METHODS: dict[bytes, str] = {}  # method bytes -> str, so the common ones are decoded once
_LAST_CHUNK = b"0\r\n\r\n"
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_DISCONNECT: Message = {"type": "http.disconnect"}


def _method(raw: bytes) -> str:
    method = _METHODS.get(raw)
    if method is None:
        method = raw.decode("ascii")
        if len(_METHODS) < 64:
            _METHODS[raw] = method
    return method


def _address(info: Any) -> tuple[str, int] | None:
    """A socket address as ASGI's ``client``/``server``: (host, port), None for a Unix socket."""
    if isinstance(info, (tuple, list)) and len(info) >= 2:
        return str(info[0]), int(info[1])
    return None


class _Exchange:
    """One request and its response on a connection: the ``receive`` and ``send``
    its app is called with."""

    __slots__ = (
        "body",
        "chunked",
        "complete",
        "continue_wanted",
        "gone",
        "head",
        "head_only",
        "keep_alive",
        "left",
        "more_body",
        "protocol",
        "read",
        "scope",
        "started",
        "waiter",
    )

    def __init__(
        self,
        protocol: ArbiterHttpProtocol,
        scope: dict[str, Any],
        keep_alive: bool,
        continue_wanted: bool,
    ) -> None:
        self.protocol = protocol
        self.scope = scope
        self.keep_alive = keep_alive
        self.continue_wanted = continue_wanted  # Expect: 100-continue, not yet answered
        self.body: list[bytes] = []  # received, not yet read by the app
        self.more_body = True  # the request's body has not ended yet
        self.read = False  # the app has had the whole body: receive() now waits for the end
        self.waiter: asyncio.Future[None] | None = None  # the app's receive(), waiting
        self.started = False  # response head sent (or held)
        self.complete = False  # response body ended
        self.gone = False  # the connection was lost before the response completed
        self.head: bytes | None = None  # the head, held for the first body bytes
        self.chunked = False
        self.left = 0  # body bytes still due under a declared length
        self.head_only = scope["method"] == "HEAD"

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def receive(self) -> Message:
        protocol = self.protocol
        if self.continue_wanted:
            self.continue_wanted = False
            if not self.started and not self.gone:
                protocol.write(_CONTINUE)
        while True:
            if self.gone or self.complete:
                return _DISCONNECT
            if protocol.read_paused and not protocol.queued:
                protocol.resume_reading()  # the app reads: let more of the body in
            body = self.body
            if body or not (self.more_body or self.read):
                chunk = body[0] if len(body) == 1 else b"".join(body)
                self.body = []
                more = self.more_body
                self.read = not more
                return {"type": "http.request", "body": chunk, "more_body": more}
            waiter = self.waiter
            if waiter is None:
                waiter = self.waiter = protocol.loop.create_future()
            await waiter

    async def send(self, message: Message) -> None:
        protocol = self.protocol
        if protocol.write_paused and not self.gone:
            await protocol.drain()
        if self.gone:
            return
        kind = message["type"]
        if not self.started:
            if kind != "http.response.start":
                raise RuntimeError(f"Expected ASGI message 'http.response.start', got '{kind}'.")
            self._begin(message)
            return
        if self.complete or kind != "http.response.body":
            raise RuntimeError(f"Unexpected ASGI message '{kind}' sent.")
        body: bytes = message.get("body", b"")
        more = message.get("more_body", False)
        if self.head_only:
            body = b""
        elif self.chunked:
            if body:
                body = b"%x\r\n%s\r\n" % (len(body), body)
            if not more:
                body += _LAST_CHUNK
        else:
            left = self.left - len(body)
            if left < 0:
                raise RuntimeError("Response content longer than Content-Length")
            if not more and left:
                raise RuntimeError("Response content shorter than Content-Length")
            self.left = left
        head = self.head
        if head is not None:
            self.head = None
            body = head + body
        if body:
            protocol.write(body)
        if not more:
            protocol.complete(self)

    def _begin(self, message: Message) -> None:
        """The response head, held until the first body bytes (one write for both)."""
        headers = message.get("headers", ())
        head, length, keep_alive = response_head(
            message["status"],
            headers if isinstance(headers, (list, tuple)) else list(headers),
            self.protocol.server_headers(),
            bodiless=self.head_only,
            keep_alive=self.keep_alive,
        )
        self.started = True
        self.head = head
        self.keep_alive = keep_alive
        if length == CHUNKED:
            self.chunked = True
            # A stream's head must not wait for a first chunk that may be long in coming.
            self.protocol.loop.call_soon(self._send_head)
        else:
            self.left = length

    def _send_head(self) -> None:
        head = self.head
        if head is not None and not self.gone:
            self.head = None
            self.protocol.write(head)


class ArbiterHttpProtocol(asyncio.Protocol):
    """One HTTP/1.1 connection, for ``uvicorn.Config(http=ArbiterHttpProtocol)``."""

    _server_headers = ServerHeaders()

    def __init__(
        self,
        config: Any,
        server_state: Any,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not config.loaded:
            config.load()
        self.app: App = config.loaded_app
        self.loop = _loop or asyncio.get_event_loop()
        self.root_path: str = config.root_path
        self.keep_alive_s: float = config.timeout_keep_alive
        self.limit_concurrency: int | None = config.limit_concurrency
        self.server_state = server_state
        self.app_state = app_state
        self.parser = httptools.HttpRequestParser(self)
        # Bytes after a request that asked to close are dropped, not a 400 that would
        # take the place of that request's answer.
        with contextlib.suppress(AttributeError):  # httptools before 0.6.3
            self.parser.set_dangerous_leniencies(lenient_data_after_close=True)
        self.transport: asyncio.Transport | None = None
        self.server: tuple[str, int] | None = None
        self.client: tuple[str, int] | None = None
        self.scheme = "http"
        # The request being parsed, the one being answered, and parsed ones waiting
        # for it (pipelining): answered one at a time, in order.
        self.parsing: _Exchange | None = None
        self.running: _Exchange | None = None
        self.queued: deque[tuple[_Exchange, App]] = deque()
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.continue_wanted = False
        self.read_paused = False
        self.write_paused = False
        self.drained: asyncio.Future[None] | None = None
        self.last_active = 0.0
        self.idle_timer: asyncio.TimerHandle | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses: no isinstance check.
        self.transport = cast(asyncio.Transport, transport)
        self.server_state.connections.add(self)
        self.server = _address(transport.get_extra_info("sockname"))
        self.client = _address(transport.get_extra_info("peername"))
        if transport.get_extra_info("sslcontext"):
            self.scheme = "https"
        self.last_active = self.loop.time()
        self.idle_timer = self.loop.call_later(self.keep_alive_s, self._check_idle)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server_state.connections.discard(self)
        for exchange in (self.running, self.parsing):
            if exchange is not None and not exchange.complete:
                exchange.gone = True
                exchange.wake()
        self.queued.clear()
        self._drain_done()
        if self.idle_timer is not None:
            self.idle_timer.cancel()
            self.idle_timer = None

    def data_received(self, data: bytes) -> None:
        self.last_active = self.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._decline_upgrade()
        except httptools.HttpParserError as exc:
            self._refuse_malformed(exc)

    def eof_received(self) -> bool:
        """The client closed its side: taken as gone (``http.disconnect``), the
        connection closes. A gateway must hear a client leave, to stop paying for an
        upstream call nobody waits for; a client that half-closes and still waits
        for its answer is the rarer case, and it is the one to lose."""
        return False  # the transport closes, then connection_lost tells the request

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        self._drain_done()

    # httptools parser callbacks

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = []
        self.continue_wanted = False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"expect" and value.lower() == b"100-continue":
            self.continue_wanted = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        parser = self.parser
        version = parser.get_http_version()
        url = self.url
        if url[:1] == b"/":
            raw_path, _, query = url.partition(b"?")
            raw_path = raw_path.partition(b"#")[0]
        else:  # absolute form (a proxy's request line) or '*'
            parsed = httptools.parse_url(url)
            raw_path, query = parsed.path or b"/", parsed.query or b""
        path = raw_path.decode("ascii", "replace")
        if "%" in path:
            path = unquote(path)
        root = self.root_path
        scope = {
            "type": "http",
            "asgi": _ASGI,
            "http_version": version,
            "server": self.server,
            "client": self.client,
            "scheme": self.scheme,
            "method": _method(parser.get_method()),
            "root_path": root,
            "path": root + path if root else path,
            "raw_path": root.encode("ascii") + raw_path if root else raw_path,
            "query_string": query,
            "headers": self.headers,
            "state": self.app_state.copy() if self.app_state else {},
        }
        # HTTP/1.0 closes after each answer (as uvicorn does), even with keep-alive asked.
        keep_alive = version != "1.0" and parser.should_keep_alive()
        exchange = _Exchange(self, scope, keep_alive, self.continue_wanted)
        self.parsing = exchange
        app = self.app
        limit = self.limit_concurrency
        if limit is not None and (
            len(self.server_state.connections) > limit or len(self.server_state.tasks) >= limit
        ):
            app = _service_unavailable
            log.warning("Exceeded concurrency limit.")
        if self.running is None:
            self._start(exchange, app)
        else:
            self.queued.append((exchange, app))
            self._pause_reading()  # one request ahead is enough

    def on_body(self, body: bytes) -> None:
        exchange = self.parsing
        if exchange is None or exchange.complete:
            return  # answered already: the rest of its body is read and dropped
        exchange.body.append(body)
        if sum(map(len, exchange.body)) > HIGH_WATER_BYTES:
            self._pause_reading()
        exchange.wake()

    def on_message_complete(self) -> None:
        exchange = self.parsing
        self.parsing = None
        if exchange is not None:
            exchange.more_body = False
            exchange.wake()

    # requests and responses

    def _start(self, exchange: _Exchange, app: App) -> None:
        self.running = exchange
        task = self.loop.create_task(self._run(exchange, app))
        tasks = self.server_state.tasks
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def _run(self, exchange: _Exchange, app: App) -> None:
        try:
            await app(exchange.scope, exchange.receive, exchange.send)
        except BaseException as exc:
            log.error("Exception in ASGI application\n", exc_info=exc)
            if not exchange.started:
                self._fail(exchange)
            elif not exchange.complete:
                self._close()
            if not isinstance(exc, Exception):
                raise
        else:
            if not exchange.gone:
                if not exchange.started:
                    log.error("ASGI callable returned without starting response.")
                    self._fail(exchange)
                elif not exchange.complete:
                    log.error("ASGI callable returned without completing response.")
                    self._close()

    def complete(self, exchange: _Exchange) -> None:
        """``exchange``'s answer has been written whole: the next request, or keep-alive."""
        exchange.complete = True
        exchange.wake()  # a receive() waiting for the client's disconnect gets it now
        self.server_state.total_requests += 1
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if not exchange.keep_alive:
            transport.close()
            return
        self.running = None
        self.last_active = self.loop.time()
        if self.queued:
            next_exchange, app = self.queued.popleft()
            if not self.queued:
                self.resume_reading()
            self._start(next_exchange, app)
        elif self.read_paused:
            self.resume_reading()  # the rest of an unread body is read and dropped

    def _fail(self, exchange: _Exchange) -> None:
        """A 500 for a request the app did not answer; the connection then closes."""
        if exchange.gone:
            return
        exchange.started = exchange.complete = True
        self.write(plain_answer(500, b"Internal Server Error", self.server_headers()))
        self._close()

    def _decline_upgrade(self) -> None:
        """No protocol to switch to: the request is answered as plain HTTP, and the
        connection closes after it (what follows the request is not HTTP/1.1)."""
        exchange = self.parsing or self.running
        self.parsing = None
        if exchange is not None:
            exchange.keep_alive = False
            exchange.more_body = False
            exchange.wake()

    def _refuse_malformed(self, exc: Exception) -> None:
        log.warning("Invalid HTTP request received: %s", exc)
        running = self.running
        if running is not None and running.started:
            self._close()  # answering mid-response would corrupt it: just close
            return
        if running is not None:
            running.gone = True  # nothing more of it will be answered
            running.wake()
        self.write(plain_answer(400, b"Invalid HTTP request received.", self.server_headers()))
        self._close()

    # the transport

    def server_headers(self) -> bytes:
        """The server's own headers (``date``...), encoded."""
        return self._server_headers.of(self.server_state.default_headers)

    def write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def _close(self) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.close()

    def _pause_reading(self) -> None:
        if not self.read_paused and self.transport is not None:
            self.read_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.read_paused and self.transport is not None:
            self.read_paused = False
            self.transport.resume_reading()

    async def drain(self) -> None:
        drained = self.drained
        if drained is None:
            drained = self.drained = self.loop.create_future()
        await drained

    def _drain_done(self) -> None:
        drained, self.drained = self.drained, None
        if drained is not None and not drained.done():
            drained.set_result(None)

    def _check_idle(self) -> None:
        """The keep-alive timer: closes a connection with no request in flight that
        has been quiet for ``timeout_keep_alive``; otherwise looks again later."""
        self.idle_timer = None
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        now = self.loop.time()
        due = self.last_active + self.keep_alive_s
        if self.running is None and now >= due:
            transport.close()
            return
        wait = self.keep_alive_s if self.running is not None else due - now
        self.idle_timer = self.loop.call_later(wait, self._check_idle)

    # uvicorn's server

    def shutdown(self) -> None:
        """Graceful shutdown: an idle connection closes now, a busy one after its response."""
        running = self.running
        if running is None or running.complete:
            self._close()
        else:
            running.keep_alive = False
            self.queued.clear()


async def _service_unavailable(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    body = b"Service Unavailable"
    await send(
        {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", b"%d" % len(body)),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

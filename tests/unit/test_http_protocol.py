"""Arbiter's HTTP/1.1 protocol (``gateway.http_protocol``), as a client sees it.

Most stories drive one connection directly: bytes in through ``data_received``,
what the server wrote read back from a recording transport and parsed by
httptools' response parser. The last ones run a real uvicorn server on it."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import httptools
import httpx
import pytest

from gateway.http_protocol import HIGH_WATER_BYTES, ArbiterHttpProtocol
from gateway.server import fast_server_options
from tests.fakes.serving import ServerThread

DATE = (b"date", b"Sun, 29 Nov 2026 16:00:00 GMT")


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.reading = True

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8080)}.get(
            name, default
        )


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class _Responses:
    """httptools' response parser's callbacks, collecting whole responses."""

    done: list[Answer] = field(default_factory=list)
    current: Answer | None = None
    name: bytes = b""

    def on_message_begin(self) -> None:
        self.current = Answer(0, {})

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.current is not None
        self.current.headers[name.decode().lower()] = value.decode()

    def on_body(self, body: bytes) -> None:
        assert self.current is not None
        self.current.body += body

    def on_message_complete(self) -> None:
        assert self.current is not None
        self.done.append(self.current)


def parse_answers(data: bytes, head_only: bool = False) -> list[Answer]:
    collected = _Responses()
    parser = httptools.HttpResponseParser(collected)
    if head_only:  # a HEAD answer's head has a length its body does not have
        head, _, rest = data.partition(b"\r\n\r\n")
        assert rest == b""
        data = head.replace(b"content-length", b"x-length") + b"\r\ncontent-length: 0\r\n\r\n"
    parser.feed_data(data)
    for answer in collected.done:
        answer.status = parser.get_status_code()
    return collected.done


class Wire:
    """One client connection to the protocol, with a recording transport."""

    def __init__(self, app: Any, keep_alive_s: float = 5.0, **config: Any) -> None:
        self.state = SimpleNamespace(
            connections=set(), tasks=set(), default_headers=[DATE], total_requests=0
        )
        self.config = SimpleNamespace(
            loaded=True,
            loaded_app=app,
            root_path="",
            timeout_keep_alive=keep_alive_s,
            limit_concurrency=None,
            **config,
        )
        self.protocol = ArbiterHttpProtocol(self.config, self.state, {})
        self.transport = RecordingTransport()
        self.protocol.connection_made(self.transport)

    def send(self, data: bytes) -> None:
        self.protocol.data_received(data)

    async def settle(self) -> None:
        """Runs the loop until every request task has finished."""
        for _ in range(100):
            await asyncio.sleep(0)
            if not self.state.tasks:
                await asyncio.sleep(0)
                return
        raise AssertionError("the requests did not finish")

    @property
    def written(self) -> bytes:
        return b"".join(self.transport.writes)

    def answers(self) -> list[Answer]:
        return parse_answers(self.written)


def post(path: str = "/v1/chat/completions", body: bytes = b'{"a":1}', **headers: str) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "host: gateway", f"content-length: {len(body)}"]
    lines += [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def start(send: Any, status: int, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})


async def read_all(receive: Any) -> bytes:
    body = b""
    while True:
        message = await receive()
        assert message["type"] == "http.request"
        body += message["body"]
        if not message["more_body"]:
            return body


def echo_app(seen: list[dict[str, Any]] | None = None) -> Any:
    """Answers with the request's body, as JSON with a declared length."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = await read_all(receive)
        if seen is not None:
            seen.append({**scope, "body": body})
        length = b"%d" % len(body)
        await start(
            send, 200, [(b"content-type", b"application/json"), (b"content-length", length)]
        )
        await send({"type": "http.response.body", "body": body})

    return app


async def test_a_json_answer_leaves_in_one_write_head_and_body_together() -> None:
    wire = Wire(echo_app())

    wire.send(post(body=b'{"question": 42}'))
    await wire.settle()

    assert len(wire.transport.writes) == 1
    (answer,) = wire.answers()
    assert answer.status == 200
    assert answer.body == b'{"question": 42}'
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["date"] == DATE[1].decode()
    assert not wire.transport.closed  # kept alive


async def test_keep_alive_answers_requests_one_after_another_on_one_connection() -> None:
    wire = Wire(echo_app())

    for n in range(3):
        wire.send(post(body=b"%d" % n))
        await wire.settle()

    assert [a.body for a in wire.answers()] == [b"0", b"1", b"2"]
    assert wire.state.total_requests == 3


async def test_pipelined_requests_are_answered_in_order_one_at_a_time() -> None:
    running = 0
    most = 0

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        body = await read_all(receive)
        await asyncio.sleep(0.01 if body == b"slow" else 0)
        await start(send, 200, [])
        await send({"type": "http.response.body", "body": body})
        running -= 1

    wire = Wire(app)
    wire.send(post(body=b"slow") + post(body=b"fast") + post(body=b"last"))
    assert not wire.transport.reading  # no more requests read while these wait
    for _ in range(3):
        await asyncio.sleep(0.02)
    await wire.settle()

    assert [a.body for a in wire.answers()] == [b"slow", b"fast", b"last"]
    assert most == 1
    assert wire.transport.reading


async def test_a_body_arriving_in_pieces_reaches_the_app_whole() -> None:
    seen: list[dict[str, Any]] = []
    wire = Wire(echo_app(seen))
    request = post(body=b'{"messages": ["' + b"x" * 3000 + b'"]}')

    for start in range(0, len(request), 1000):
        wire.send(request[start : start + 1000])
        await asyncio.sleep(0)
    await wire.settle()

    assert seen[0]["body"] == request.partition(b"\r\n\r\n")[2]
    assert wire.answers()[0].body == seen[0]["body"]


async def test_a_chunked_request_body_is_decoded() -> None:
    seen: list[dict[str, Any]] = []
    wire = Wire(echo_app(seen))

    wire.send(
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: g\r\ntransfer-encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    await wire.settle()

    assert seen[0]["body"] == b"hello world"


async def test_expect_100_continue_is_answered_when_the_app_reads_the_body() -> None:
    wire = Wire(echo_app())
    head, _, body = post(body=b"payload", expect="100-continue").partition(b"\r\n\r\n")

    wire.send(head + b"\r\n\r\n")
    await asyncio.sleep(0)
    assert wire.transport.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    wire.send(body)
    await wire.settle()

    assert wire.written.split(b"\r\n\r\n", 1)[1].startswith(b"HTTP/1.1 200 OK")
    assert wire.written.endswith(b"payload")


async def test_no_100_continue_for_a_request_refused_without_reading_its_body() -> None:
    async def refuse(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await start(send, 413, [])
        await send({"type": "http.response.body", "body": b"too large"})

    wire = Wire(refuse)
    declared_huge = post(body=b"", expect="100-continue").replace(b"length: 0", b"length: 9999999")
    wire.send(declared_huge)
    await wire.settle()

    assert wire.written.startswith(b"HTTP/1.1 413 Request Entity Too Large")
    assert b"100 Continue" not in wire.written


async def test_a_stream_is_chunked_and_its_head_leaves_with_its_first_chunk() -> None:
    release = asyncio.Event()

    async def stream(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await start(send, 200, [(b"content-type", b"text/event-stream")])
        await send({"type": "http.response.body", "body": b"data: one\n\n", "more_body": True})
        await release.wait()
        await send({"type": "http.response.body", "body": b"data: two\n\n", "more_body": False})

    wire = Wire(stream)
    wire.send(post())
    await asyncio.sleep(0)
    await asyncio.sleep(0)

    assert len(wire.transport.writes) == 1  # head and first chunk, together
    assert wire.transport.writes[0].endswith(b"b\r\ndata: one\n\n\r\n")
    release.set()
    await wire.settle()
    (answer,) = wire.answers()
    assert answer.headers["transfer-encoding"] == "chunked"
    assert answer.body == b"data: one\n\ndata: two\n\n"


async def test_a_streams_head_does_not_wait_for_a_late_first_chunk() -> None:
    release = asyncio.Event()

    async def slow_start(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await start(send, 200, [])
        await release.wait()
        await send({"type": "http.response.body", "body": b"late"})

    wire = Wire(slow_start)
    wire.send(post())
    for _ in range(3):
        await asyncio.sleep(0)

    assert wire.transport.writes and wire.transport.writes[0].startswith(b"HTTP/1.1 200 OK")
    release.set()
    await wire.settle()
    assert wire.answers()[0].body == b"late"


async def test_http_1_0_and_connection_close_end_the_connection_after_the_answer() -> None:
    for request in (
        b"GET / HTTP/1.0\r\n\r\n",
        b"GET / HTTP/1.1\r\nhost: g\r\nconnection: close\r\n\r\n",
    ):
        wire = Wire(echo_app())
        wire.send(request)
        await wire.settle()

        assert wire.answers()[0].headers["connection"] == "close"
        assert wire.transport.closed


async def test_a_client_that_closes_its_side_is_taken_as_gone() -> None:
    wire = Wire(echo_app())
    wire.send(post(body=b"0123456789")[:-5])
    await asyncio.sleep(0)

    assert not wire.protocol.eof_received()  # the transport closes itself


async def test_what_follows_a_request_that_asked_to_close_is_dropped() -> None:
    wire = Wire(echo_app())

    wire.send(post(body=b"first", connection="close") + post(body=b"second"))
    await wire.settle()

    assert [a.body for a in wire.answers()] == [b"first"]
    assert wire.transport.closed


async def test_a_malformed_request_gets_400_and_the_connection_closes() -> None:
    wire = Wire(echo_app())

    wire.send(b"NONSENSE\x00 / HTTP/9\r\n\r\n")

    assert wire.written.startswith(b"HTTP/1.1 400 Bad Request")
    assert wire.transport.closed


async def test_an_app_that_fails_before_answering_gets_500() -> None:
    async def broken(scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise ValueError("bug")

    wire = Wire(broken)
    wire.send(post())
    await wire.settle()

    (answer,) = wire.answers()
    assert answer.status == 500 and answer.body == b"Internal Server Error"
    assert wire.transport.closed


async def test_an_app_that_fails_mid_answer_has_its_connection_closed() -> None:
    async def broken(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await start(send, 200, [])
        await send({"type": "http.response.body", "body": b"half", "more_body": True})
        raise ValueError("bug")

    wire = Wire(broken)
    wire.send(post())
    await wire.settle()

    assert wire.transport.closed
    assert not wire.written.endswith(b"0\r\n\r\n")  # not presented as a whole answer


async def test_a_client_that_leaves_is_told_and_later_writes_are_dropped() -> None:
    heard = asyncio.Event()

    async def listens(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await read_all(receive)
        await start(send, 200, [])
        await send({"type": "http.response.body", "body": b"data: 1\n\n", "more_body": True})
        assert (await receive())["type"] == "http.disconnect"
        heard.set()
        await send({"type": "http.response.body", "body": b"data: 2\n\n", "more_body": True})

    wire = Wire(listens)
    wire.send(post())
    await asyncio.sleep(0.01)
    written = wire.written
    wire.protocol.connection_lost(None)
    await asyncio.wait_for(heard.wait(), 1)
    await wire.settle()

    assert b"data: 1" in written and wire.written == written
    assert not wire.state.connections


async def test_receive_after_a_complete_answer_says_disconnect() -> None:
    after: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await read_all(receive)
        await start(send, 200, [(b"content-length", b"2")])
        await send({"type": "http.response.body", "body": b"ok"})
        after.append((await receive())["type"])

    wire = Wire(app)
    wire.send(post())
    await wire.settle()

    assert after == ["http.disconnect"]


async def test_an_idle_connection_is_closed_after_the_keep_alive_timeout() -> None:
    wire = Wire(echo_app(), keep_alive_s=0.2)
    wire.send(post())
    await wire.settle()
    assert not wire.transport.closed  # answered, kept alive

    for _ in range(100):  # closed once idle for 0.2 s (polled: a loaded machine is slow)
        await asyncio.sleep(0.05)
        if wire.transport.closed:
            break
    assert wire.transport.closed


async def test_a_busy_connection_outlives_the_keep_alive_timeout() -> None:
    open_when_answering: list[bool] = []

    async def slow(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await asyncio.sleep(0.15)  # three keep-alive timeouts
        open_when_answering.append(not wire.transport.closed)
        await start(send, 200, [(b"content-length", b"4")])
        await send({"type": "http.response.body", "body": b"done"})

    wire = Wire(slow, keep_alive_s=0.05)
    wire.send(post())
    await asyncio.sleep(0.16)
    await wire.settle()

    assert open_when_answering == [True]
    assert wire.answers()[0].body == b"done"


async def test_writes_wait_while_the_client_reads_slowly() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await start(send, 200, [])
        await send({"type": "http.response.body", "body": b"one", "more_body": True})
        await send({"type": "http.response.body", "body": b"two"})

    wire = Wire(app)
    wire.protocol.pause_writing()  # the transport's buffer is full
    wire.send(post())
    for _ in range(5):
        await asyncio.sleep(0)
    assert wire.transport.writes == []

    wire.protocol.resume_writing()
    await wire.settle()
    assert wire.answers()[0].body == b"onetwo"


async def test_shutdown_closes_idle_connections_and_busy_ones_after_their_answer() -> None:
    idle = Wire(echo_app())
    idle.protocol.shutdown()
    assert idle.transport.closed

    release = asyncio.Event()

    async def busy_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await release.wait()
        await start(send, 200, [(b"content-length", b"2")])
        await send({"type": "http.response.body", "body": b"ok"})

    busy = Wire(busy_app)
    busy.send(post())
    await asyncio.sleep(0)
    busy.protocol.shutdown()
    assert not busy.transport.closed
    release.set()
    await busy.settle()
    (answer,) = busy.answers()
    assert answer.body == b"ok" and answer.headers["connection"] == "close"
    assert busy.transport.closed


async def test_a_head_request_gets_the_headers_and_no_body() -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await start(send, 200, [(b"content-length", b"5")])
        await send({"type": "http.response.body", "body": b"hello"})

    wire = Wire(app)
    wire.send(b"HEAD / HTTP/1.1\r\nhost: g\r\n\r\n")
    await wire.settle()

    assert wire.written.endswith(b"content-length: 5\r\n\r\n")
    (answer,) = parse_answers(wire.written, head_only=True)
    assert answer.headers["x-length"] == "5"


@pytest.mark.parametrize(
    "header",
    [
        (b"x-id", b"1\r\nset-cookie: stolen=1"),
        (b"x-id", b"1\nx: y"),
        (b"x-id", b"a\x00b"),
        (b"x id", b"1"),
    ],
)
async def test_headers_that_would_break_the_head_are_refused(header: tuple[bytes, bytes]) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await start(send, 200, [header])
        await send({"type": "http.response.body", "body": b""})

    wire = Wire(app)
    wire.send(post())
    await wire.settle()

    (answer,) = wire.answers()
    assert answer.status == 500
    assert b"stolen" not in wire.written and b"x: y" not in wire.written


async def test_a_body_must_match_its_declared_length() -> None:
    for body in (b"four", b"toolong!"):

        async def app(scope: dict[str, Any], receive: Any, send: Any, body: bytes = body) -> None:
            await start(send, 200, [(b"content-length", b"5")])
            await send({"type": "http.response.body", "body": body})

        wire = Wire(app)
        wire.send(post())
        await wire.settle()

        assert wire.transport.closed
        assert body not in wire.written or len(wire.written.split(b"\r\n\r\n")[1]) == 5


async def test_a_large_unread_body_pauses_reading_until_the_app_reads_it() -> None:
    release = asyncio.Event()
    seen: list[int] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await release.wait()
        seen.append(len(await read_all(receive)))
        await start(send, 200, [(b"content-length", b"0")])
        await send({"type": "http.response.body", "body": b""})

    wire = Wire(app)
    size = 3 * HIGH_WATER_BYTES
    wire.send(post(body=b"x" * size)[: HIGH_WATER_BYTES + 2000])
    await asyncio.sleep(0)
    assert not wire.transport.reading

    release.set()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert wire.transport.reading
    wire.send(post(body=b"x" * size)[HIGH_WATER_BYTES + 2000 :])
    await wire.settle()
    assert seen == [size]


async def test_the_scope_names_path_query_method_and_peers() -> None:
    seen: list[dict[str, Any]] = []
    wire = Wire(echo_app(seen))

    wire.send(post(path="/v1/models/gpt%2D4o?verbose=1&x=%20", body=b""))
    await wire.settle()

    scope = seen[0]
    assert scope["method"] == "POST"
    assert scope["path"] == "/v1/models/gpt-4o"
    assert scope["raw_path"] == b"/v1/models/gpt%2D4o"
    assert scope["query_string"] == b"verbose=1&x=%20"
    assert scope["http_version"] == "1.1"
    assert scope["client"] == ("127.0.0.1", 50000) and scope["server"] == ("127.0.0.1", 8080)
    assert (b"host", b"gateway") in scope["headers"]
    assert scope["state"] == {}


async def test_an_upgrade_request_is_answered_as_plain_http() -> None:
    wire = Wire(echo_app())

    wire.send(b"GET / HTTP/1.1\r\nhost: g\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n")
    await wire.settle()

    assert wire.answers()[0].status == 200
    assert wire.transport.closed


async def _two_part_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await start(send, 200, [(b"x-a", b"1")])
    await send({"type": "http.response.body", "body": b"one ", "more_body": True})
    await asyncio.sleep(0.01)
    await send({"type": "http.response.body", "body": b"two", "more_body": False})


def test_a_uvicorn_server_on_arbiters_protocol_serves_clients_over_keep_alive() -> None:
    server = ServerThread(_two_part_app, http=fast_server_options()["http"]).start()
    try:
        with httpx.Client(base_url=server.url) as client:
            for _ in range(3):  # one connection, kept alive
                response = client.get("/")
                assert response.text == "one two" and response.headers["x-a"] == "1"
                assert response.headers["date"]
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
        assert received.startswith(b"HTTP/1.1 200 OK") and received.endswith(b"two\r\n0\r\n\r\n")
    finally:
        server.stop()

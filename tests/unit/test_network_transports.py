"""The network transports under httpx (Arbiter's own HTTP/1.1 one, the aiohttp
one, httpx's own): their errors land in the taxonomy, and they behave alike on
real loopback sockets (every scenario runs on all three)."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import httpx
import pytest

from providers import transport
from providers.aiohttp_transport import AiohttpTransport, map_aiohttp_errors
from providers.base import Target
from providers.errors import UpstreamTimeoutError, UpstreamUnavailableError
from providers.h1_transport import H1Transport
from providers.registry import create_adapter
from providers.types import ChatRequest
from providers.upstream_client import JsonPost, UpstreamClient, request_headers

TARGET = Target(
    id="m/p/up#0", model_name="m", provider="p", provider_type="openai", model="up", base_url=""
)
COMPLETION = (
    b'{"id":"c1","object":"chat.completion","created":1,"model":"up",'
    b'"choices":[{"index":0,"message":{"role":"assistant","content":"hi"},'
    b'"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}'
)


def _event(content: str) -> bytes:
    chunk = (
        b'{"id":"c1","object":"chat.completion.chunk","created":1,"model":"up",'
        b'"choices":[{"index":0,"delta":{"content":"' + content.encode() + b'"},'
        b'"finish_reason":null}]}'
    )
    return b"data: " + chunk + b"\n\n"


def _chunked(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Upstream:
    """A raw HTTP/1.1 server on 127.0.0.1 whose every connection runs ``handler``."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> bytes | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.lower().split(b"\r\n")
            if line.startswith(b"content-length:")
        )
        await reader.readexactly(length)
        self.requests.append(head)
        return head

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"


@pytest.fixture
async def upstream() -> AsyncIterator[Callable[[Handler], Awaitable[Upstream]]]:
    servers: list[Upstream] = []

    async def start(handler: Handler) -> Upstream:
        fake = Upstream(handler)
        fake.server = await asyncio.start_server(fake._serve, "127.0.0.1", 0)
        servers.append(fake)
        return fake

    yield start
    for fake in servers:
        assert fake.server is not None
        fake.server.close()
        await fake.server.wait_closed()


@pytest.fixture(params=["h1", "aiohttp", "httpx"])
def kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(transport.TRANSPORT_ENV, request.param)
    return str(request.param)


def _target(url: str, timeout_s: float = 5.0) -> Target:
    return Target(
        id="m/p/up#0",
        model_name="m",
        provider="p",
        provider_type="openai",
        model="up",
        base_url=url,
        timeout_s=timeout_s,
    )


def _chat(stream: bool = False) -> ChatRequest:
    return ChatRequest.model_validate(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    )


ADAPTER = create_adapter("openai", {})


# -- the mapping table ------------------------------------------------------------

TIMEOUT, UNAVAILABLE = UpstreamTimeoutError, UpstreamUnavailableError
MAPPING = [
    (aiohttp.ConnectionTimeoutError("pool"), False, httpx.ConnectTimeout, TIMEOUT),
    (aiohttp.SocketTimeoutError("read"), True, httpx.ReadTimeout, TIMEOUT),
    (TimeoutError(), True, httpx.ReadTimeout, TIMEOUT),
    (aiohttp.ServerDisconnectedError(), False, httpx.RemoteProtocolError, UNAVAILABLE),
    (aiohttp.ServerDisconnectedError(), True, httpx.ReadError, UNAVAILABLE),
    (aiohttp.ClientOSError(104, "reset"), True, httpx.ReadError, UNAVAILABLE),
    (aiohttp.ClientPayloadError("short"), True, httpx.RemoteProtocolError, UNAVAILABLE),
    (aiohttp.InvalidURL("x"), False, httpx.UnsupportedProtocol, UNAVAILABLE),
    (aiohttp.ClientError("other"), False, httpx.TransportError, UNAVAILABLE),
]


@pytest.mark.parametrize(("error", "responded", "as_httpx", "as_gateway"), MAPPING)
def test_aiohttp_errors_map_to_httpx_and_to_the_taxonomy(error, responded, as_httpx, as_gateway):
    with pytest.raises(as_httpx) as raised, map_aiohttp_errors(responded=responded):
        raise error
    assert type(raised.value) is as_httpx
    with pytest.raises(as_gateway), transport.map_transport_errors(TARGET):
        raise raised.value


def test_a_raw_aiohttp_error_is_still_upstream_unavailable():
    """Safety net: an aiohttp error that escaped its transport is not a 500."""
    with pytest.raises(UpstreamUnavailableError), transport.map_transport_errors(TARGET):
        raise aiohttp.ServerDisconnectedError()


PROXY_VARIABLES = [
    name for upper in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY") for name in (upper, upper.lower())
]


def test_the_default_transport_is_h1_and_the_others_can_be_chosen(monkeypatch):
    limits = httpx.Limits(max_connections=10)
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv(transport.TRANSPORT_ENV, raising=False)
    assert isinstance(transport.network_transport(limits), H1Transport)
    monkeypatch.setenv(transport.TRANSPORT_ENV, "aiohttp")
    assert isinstance(transport.network_transport(limits), AiohttpTransport)
    monkeypatch.setenv(transport.TRANSPORT_ENV, "httpx")
    assert isinstance(transport.network_transport(limits), httpx.AsyncHTTPTransport)
    monkeypatch.setenv(transport.TRANSPORT_ENV, "curl")
    with pytest.raises(ValueError, match="h1"):
        transport.network_transport(limits)


def test_a_proxy_in_the_environment_selects_the_aiohttp_transport(monkeypatch):
    """h1 speaks no proxy protocol; aiohttp honours HTTP(S)_PROXY and ALL_PROXY."""
    limits = httpx.Limits(max_connections=10)
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv(transport.TRANSPORT_ENV, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    assert isinstance(transport.network_transport(limits), AiohttpTransport)
    monkeypatch.setenv(transport.TRANSPORT_ENV, "h1")  # an explicit choice wins
    assert isinstance(transport.network_transport(limits), H1Transport)


async def test_upstream_client_refuses_options_it_would_ignore():
    client = transport.build_client(timeout_s=1, transport=httpx.MockTransport(lambda r: None))
    assert isinstance(client, UpstreamClient)
    with pytest.raises(TypeError, match="follow_redirects"):
        await client.send(httpx.Request("GET", "http://x"), follow_redirects=True)
    await client.aclose()


async def test_upstream_client_applies_its_timeout_to_each_request():
    seen: list[dict] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(200, content=b"ok")

    client = transport.build_client(timeout_s=7, transport=httpx.MockTransport(answer))
    response = await client.send(httpx.Request("GET", "http://x"))
    assert response.content == b"ok"
    assert seen == [{"connect": 7.0, "read": 7.0, "write": 7.0, "pool": 7.0}]
    await client.aclose()


# -- real sockets, both transports --------------------------------------------------


async def _complete(url: str, timeout_s: float = 5.0):
    client = transport.build_client(timeout_s=timeout_s)
    try:
        return await transport.complete(ADAPTER, client, _chat(), _target(url, timeout_s))
    finally:
        await client.aclose()


async def test_refused_connection_is_upstream_unavailable(kind, upstream):
    fake = await upstream(lambda r, w: asyncio.sleep(0))
    url = fake.url
    fake.server.close()
    await fake.server.wait_closed()
    with pytest.raises(UpstreamUnavailableError):
        await _complete(url)


async def test_silent_upstream_is_upstream_timeout(kind, upstream):
    async def silent(reader, writer):
        await fake.read_request(reader)
        await asyncio.sleep(5)

    fake = await upstream(silent)
    with pytest.raises(UpstreamTimeoutError):
        await _complete(fake.url, timeout_s=0.2)


async def test_body_cut_short_is_upstream_unavailable(kind, upstream):
    async def short(reader, writer):
        await fake.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 500\r\n\r\n" + COMPLETION[:40])
        await writer.drain()

    fake = await upstream(short)
    with pytest.raises(UpstreamUnavailableError):
        await _complete(fake.url)


async def test_connection_kept_alive_and_no_cookie_carried(kind, upstream):
    async def answer(reader, writer):
        while await fake.read_request(reader) is not None:
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                b"set-cookie: session=caller-one\r\n"
                + f"content-length: {len(COMPLETION)}\r\n\r\n".encode()
                + COMPLETION
            )
            await writer.drain()

    fake = await upstream(answer)
    client = transport.build_client(timeout_s=5)
    try:
        for _ in range(3):
            response = await transport.complete(ADAPTER, client, _chat(), _target(fake.url))
            assert response["choices"][0]["message"]["content"] == "hi"
    finally:
        await client.aclose()
    assert fake.connections == 1
    assert len(fake.requests) == 3
    assert not any(b"cookie:" in head.lower() for head in fake.requests)


async def _stream_first_event(fake, reader, writer) -> None:
    """Reads the request, answers with an SSE stream's head and its first event."""
    await fake.read_request(reader)
    writer.write(
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        b"transfer-encoding: chunked\r\n\r\n" + _chunked(_event("one"))
    )
    await writer.drain()


async def test_stream_chunks_arrive_before_the_upstream_finishes(kind, upstream):
    """Regression guard: a transport that buffered the body would hang here."""
    first_seen = asyncio.Event()
    closed = asyncio.Event()

    async def paced(reader, writer):
        await _stream_first_event(fake, reader, writer)
        await asyncio.wait_for(first_seen.wait(), 5)  # the rest only once the first arrived
        writer.write(_chunked(_event("two")) + _chunked(b"data: [DONE]\n\n") + b"0\r\n\r\n")
        await writer.drain()
        await reader.read()  # until the client closes or returns the connection
        closed.set()

    fake = await upstream(paced)
    client = transport.build_client(timeout_s=5)
    texts = []
    try:
        chunks = transport.stream(ADAPTER, client, _chat(stream=True), _target(fake.url))
        async for chunk in chunks:
            texts.append(chunk["choices"][0]["delta"]["content"])
            first_seen.set()
    finally:
        await client.aclose()
    assert texts == ["one", "two"]


async def test_abandoned_stream_closes_the_upstream_connection(kind, upstream):
    upstream_saw_close = asyncio.Event()

    async def endless(reader, writer):
        await _stream_first_event(fake, reader, writer)
        assert await asyncio.wait_for(reader.read(), 5) == b""
        upstream_saw_close.set()

    fake = await upstream(endless)
    client = transport.build_client(timeout_s=5)
    try:
        chunks = transport.stream(ADAPTER, client, _chat(stream=True), _target(fake.url))
        first = await chunks.__anext__()
        assert first["choices"][0]["delta"]["content"] == "one"
        await chunks.aclose()
        await asyncio.wait_for(upstream_saw_close.wait(), 5)
    finally:
        await client.aclose()


async def test_stream_cut_midway_is_upstream_unavailable(kind, upstream):
    async def cut(reader, writer):
        await _stream_first_event(fake, reader, writer)

    fake = await upstream(cut)
    client = transport.build_client(timeout_s=5)
    got = []
    try:
        with pytest.raises(UpstreamUnavailableError):
            async for chunk in transport.stream(
                ADAPTER, client, _chat(stream=True), _target(fake.url)
            ):
                got.append(chunk)
    finally:
        await client.aclose()
    assert len(got) == 1


async def test_the_path_goes_out_exactly_as_encoded(kind, upstream):
    """Regression: aiohttp re-normalised '%3A' to ':' and broke SigV4-signed requests."""

    async def answer(reader, writer):
        await fake.read_request(reader)
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()

    fake = await upstream(answer)
    client = transport.build_client(timeout_s=5)
    try:
        url = fake.url + "/model/anthropic.claude-v2%3A1/converse?x=a%2Fb"
        response = await client.send(httpx.Request("POST", url, content=b"{}"))
        assert response.status_code == 204
    finally:
        await client.aclose()
    head = fake.requests[0]
    assert head.startswith(b"POST /v1/model/anthropic.claude-v2%3A1/converse?x=a%2Fb ")
    names = {line.split(b":")[0].lower() for line in head.split(b"\r\n")[1:] if line}
    assert names == {b"host", b"content-length"}  # what httpx.Request carries, nothing added


async def test_long_response_headers_are_accepted(kind, upstream):
    """A 20 KB header line (over aiohttp's default 8 KiB limit) still parses."""

    async def answer(reader, writer):
        await fake.read_request(reader)
        writer.write(b"HTTP/1.1 204 No Content\r\nx-trace: " + b"t" * 20_000 + b"\r\n\r\n")
        await writer.drain()

    fake = await upstream(answer)
    client = transport.build_client(timeout_s=5)
    try:
        response = await client.send(httpx.Request("POST", fake.url, content=b"{}"))
    finally:
        await client.aclose()
    assert len(response.headers["x-trace"]) == 20_000


def _json_answer(body: bytes, extra: bytes = b"") -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
        + extra
        + b"content-length: %d\r\n\r\n" % len(body)
        + body
    )


async def test_a_gzipped_answer_is_decoded_and_a_plain_one_read_as_sent(kind, upstream):
    """``transport.complete`` reads plain bodies straight from the transport; an
    encoded one still goes through httpx's decoders."""
    answers = [
        _json_answer(gzip.compress(COMPLETION), b"content-encoding: gzip\r\n"),
        _json_answer(COMPLETION),
    ]

    async def answer(reader, writer):
        for raw in answers:
            await fake.read_request(reader)
            writer.write(raw)
            await writer.drain()

    fake = await upstream(answer)
    async with transport.build_client(timeout_s=5) as client:
        replies = [
            await transport.complete(ADAPTER, client, _chat(), _target(fake.url)) for _ in answers
        ]
    assert [r["choices"][0]["message"]["content"] for r in replies] == ["hi", "hi"]
    assert fake.connections == 1  # both bodies were read to the end: the connection is reused


async def test_provider_requests_carry_the_deployment_headers_and_the_body_length():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=COMPLETION)

    url = httpx.URL("https://api.example.com/v1/chat/completions")
    fixed = request_headers(url, {"Authorization": "Bearer sk-1", "content-length": "99"})
    client = UpstreamClient(
        transport=httpx.MockTransport(handler),
        timeout=httpx.Timeout(5),
        limits=httpx.Limits(),
    )
    async with client:
        for body in (b'{"a":1}', b'{"bb":22}'):
            response = await client.send(JsonPost(url, fixed, body))
            assert response.content == COMPLETION
    assert [r.content for r in seen] == [b'{"a":1}', b'{"bb":22}']
    assert seen[1].method == "POST" and seen[1].url == url
    assert seen[1].headers.raw == [
        (b"Host", b"api.example.com"),
        (b"Authorization", b"Bearer sk-1"),
        (b"Content-Length", b"9"),  # the body's own, whatever the configured headers said
    ]
    assert "content-length" not in fixed  # the template is never changed

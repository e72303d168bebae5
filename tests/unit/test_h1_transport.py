"""Arbiter's own HTTP/1.1 transport on real loopback sockets: keep-alive reuse,
framing at awkward boundaries, flow control, every timeout phase, the pool's
limits, cancellation, and TLS."""

from __future__ import annotations

import asyncio
import datetime
import gzip
import hashlib
import inspect
import ipaddress
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import uvloop

from providers.h1_transport import H1Transport

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
CLOSE = b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok"


class Server:
    """A raw loopback server: counts connections and how many are open at once."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.open_now = 0
        self.most_open = 0
        self.closed = asyncio.Event()  # set each time a client connection ends
        self.server: asyncio.Server | None = None

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_now += 1
        self.most_open = max(self.most_open, self.open_now)
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            self.open_now -= 1
            writer.close()
            self.closed.set()

    def url(self, scheme: str = "http") -> str:
        assert self.server is not None
        return f"{scheme}://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/v1/x"


@asynccontextmanager
async def loopback_servers() -> AsyncIterator[Callable[..., Awaitable[Server]]]:
    servers: list[Server] = []

    async def start(handler: Handler, tls: ssl.SSLContext | None = None) -> Server:
        server = Server(handler)
        server.server = await asyncio.start_server(server.serve, "127.0.0.1", 0, ssl=tls)
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in servers:
            assert server.server is not None
            server.server.close()
            await server.server.wait_closed()


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[Server]]]:
    async with loopback_servers() as start:
        yield start


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """One request head, its body discarded; b"" when the client closed."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return b""
    for line in head.lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            await reader.readexactly(int(line.split(b":")[1]))
    return head


def answer_each(response: bytes) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await read_request(reader):
            writer.write(response)
            await writer.drain()

    return handler


async def stall(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(5)


async def reset_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(0.05)
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()  # an RST, not a FIN


def answer_once(*pieces: bytes, then: Handler | None = None) -> Handler:
    """Reads one request, writes ``pieces`` (20 ms apart), then runs ``then``;
    the connection closes when the handler returns."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        for index, piece in enumerate(pieces):
            if index:
                await asyncio.sleep(0.02)
            writer.write(piece)
            await writer.drain()
        if then is not None:
            await then(reader, writer)

    return handler


def client(timeout: float = 5.0, **limits: float | int) -> httpx.AsyncClient:
    transport = H1Transport(limits=httpx.Limits(**limits))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, timeout=timeout)


# -- keep-alive ----------------------------------------------------------------------


async def test_sequential_requests_share_one_connection(serve):
    server = await serve(answer_each(OK))
    async with client() as http:
        for _ in range(10):
            assert (await http.post(server.url(), content=b"{}")).text == "ok"
    assert server.connections == 1


async def test_a_connection_the_server_closed_while_idle_is_not_reused(serve):
    server = await serve(answer_once(OK))
    async with client() as http:
        assert (await http.get(server.url())).text == "ok"
        await asyncio.wait_for(server.closed.wait(), 5)
        await asyncio.sleep(0.05)  # the FIN reaches the client
        assert (await http.get(server.url())).text == "ok"
    assert server.connections == 2


async def test_idle_connections_past_keepalive_expiry_are_not_reused(serve):
    server = await serve(answer_each(OK))
    async with client(keepalive_expiry=0.05) as http:
        assert (await http.get(server.url())).text == "ok"
        await asyncio.sleep(0.1)
        assert (await http.get(server.url())).text == "ok"
    assert server.connections == 2


async def test_no_connection_kept_when_max_keepalive_is_zero(serve):
    server = await serve(answer_each(OK))
    async with client(max_keepalive_connections=0) as http:
        for _ in range(3):
            assert (await http.get(server.url())).text == "ok"
    assert server.connections == 3


async def test_a_full_pool_closes_an_idle_connection_to_another_origin(serve):
    first, second = await serve(answer_each(OK)), await serve(answer_each(OK))
    async with client(max_connections=1) as http:
        assert (await http.get(first.url())).text == "ok"
        assert (await http.get(second.url())).text == "ok"
        await asyncio.wait_for(first.closed.wait(), 5)
    assert first.open_now == 0


@pytest.mark.parametrize(
    "answer",
    [
        CLOSE,
        b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok",
    ],
    ids=["connection-close", "http-1.0"],
)
async def test_answers_that_end_the_connection_are_not_reused(serve, answer):
    server = await serve(answer_each(answer))
    async with client() as http:
        for _ in range(3):
            assert (await http.get(server.url())).text == "ok"
    assert server.connections == 3


async def test_a_body_delimited_by_the_server_closing_is_read_whole(serve):
    server = await serve(
        answer_once(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\npart one, ", b"part two")
    )
    async with client() as http:
        response = await http.get(server.url())
    assert response.text == "part one, part two"


# -- framing -------------------------------------------------------------------------


async def test_chunked_body_split_at_awkward_boundaries(serve):
    pieces = [b"data: one\n\n", b"x" * 300, b"data: \xe2\x82\xac\n\n"]
    wire = b"".join(b"%x\r\n%b\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    head = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"

    async def dribble(reader, writer):
        await read_request(reader)
        data = head + wire
        cuts = [1, 2, 17, 18, 19, len(head) + 1, len(head) + 3, len(head) + 15, len(head) + 16]
        cuts += list(range(len(head) + 20, len(data), 97))
        for start, end in zip([0, *cuts], [*cuts, len(data)], strict=True):
            writer.write(data[start:end])
            await writer.drain()
            await asyncio.sleep(0.001)
        await read_request(reader)

    server = await serve(dribble)
    async with client() as http:
        response = await http.get(server.url())
    assert response.content == b"".join(pieces)
    assert response.headers["transfer-encoding"] == "chunked"


async def test_a_gzip_encoded_answer_is_read_decoded(serve):
    body = gzip.compress(b'{"answer": "decoded"}')
    head = b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: %d\r\n\r\n" % len(body)
    server = await serve(answer_once(head + body[:10], body[10:]))
    async with client() as http:
        response = await http.get(server.url())
    assert response.json() == {"answer": "decoded"}


async def test_response_head_with_a_64_kib_header_line(serve):
    server = await serve(
        answer_each(
            b"HTTP/1.1 200 OK\r\nx-big: " + b"b" * 65536 + b"\r\ncontent-length: 2\r\n\r\nok"
        )
    )
    async with client() as http:
        response = await http.get(server.url())
    assert len(response.headers["x-big"]) == 65536


async def test_a_streaming_request_body_goes_out_chunked(serve):
    received = []

    async def echo(reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        received.append(head)
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            body += (await reader.readexactly(size + 2))[:-2]
            if size == 0:
                break
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%b" % (len(body), body))
        await writer.drain()

    async def parts():
        for part in (b"alpha ", b"", b"beta"):
            yield part

    server = await serve(echo)
    async with client() as http:
        response = await http.post(server.url(), content=parts())
    assert response.content == b"alpha beta"
    assert b"transfer-encoding: chunked" in received[0].lower()


async def test_an_informational_answer_before_the_real_one_is_skipped(serve):
    server = await serve(answer_each(b"HTTP/1.1 100 Continue\r\n\r\n" + OK))
    async with client() as http:
        response = await http.post(server.url(), content=b"{}")
    assert (response.status_code, response.text) == (200, "ok")


async def test_head_and_204_answers_have_no_body(serve):
    server = await serve(answer_each(b"HTTP/1.1 204 No Content\r\n\r\n"))
    async with client() as http:
        for _ in range(2):
            assert (await http.delete(server.url())).content == b""
        assert server.connections == 1  # a 204 leaves the connection reusable
        head = await serve(answer_each(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n"))
        response = await http.head(head.url())
        assert (response.headers["content-length"], response.content) == ("10", b"")


async def test_a_garbage_status_line_is_a_protocol_error(serve):
    server = await serve(answer_each(b"SMTP ready\r\n\r\n"))
    async with client() as http:
        with pytest.raises(httpx.RemoteProtocolError):
            await http.get(server.url())


async def test_a_server_that_hangs_up_without_answering(serve):
    server = await serve(answer_once())
    async with client() as http:
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            await http.get(server.url())


async def test_a_reset_mid_body_is_a_read_error(serve):
    head = b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\npartial"
    server = await serve(answer_once(head, then=reset_connection))
    async with client() as http:
        async with http.stream("GET", server.url()) as response:
            with pytest.raises(httpx.ReadError):
                await response.aread()


async def test_a_header_with_a_newline_is_refused_before_sending(serve):
    server = await serve(answer_each(OK))
    async with client() as http:
        request = http.build_request("GET", server.url(), headers={"x-a": "b"})
        request.headers._list[-1] = (b"x-a", b"x-a", b"b\r\nx-injected: 1")  # as a bug would
        with pytest.raises(httpx.LocalProtocolError):
            await http.send(request)
    assert server.connections == 0


# -- flow control --------------------------------------------------------------------


async def test_a_large_body_streams_through_without_being_buffered_whole(serve):
    body = bytes(range(256)) * (24 * 4096)  # 24 MiB
    finished_writing = asyncio.Event()

    async def large(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body))
        writer.write(body)
        await writer.drain()
        finished_writing.set()
        await read_request(reader)

    server = await serve(large)
    async with client() as http, http.stream("GET", server.url()) as response:
        parts = response.aiter_raw()
        first = await parts.__anext__()
        await asyncio.sleep(0.3)  # a slow reader: the upstream must be held back
        assert not finished_writing.is_set()
        digest = hashlib.sha256(first)
        async for part in parts:
            digest.update(part)
    assert digest.hexdigest() == hashlib.sha256(body).hexdigest()
    assert finished_writing.is_set()
    assert server.connections == 1


# -- timeouts ------------------------------------------------------------------------


async def test_read_timeout_waiting_for_the_answer(serve):
    server = await serve(answer_once(then=stall))
    async with client(timeout=0.2) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get(server.url())


async def test_read_timeout_between_body_pieces(serve):
    server = await serve(
        answer_once(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nfirst", then=stall)
    )
    async with client(timeout=0.2) as http, http.stream("GET", server.url()) as response:
        with pytest.raises(httpx.ReadTimeout):
            await response.aread()


async def test_the_read_timeout_is_per_wait_so_a_steady_trickle_is_read_whole(serve):
    pieces = [b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n"] + [b"xx"] * 5
    server = await serve(answer_once(*pieces))  # 20 ms apart: 100 ms in all
    async with client(timeout=0.05) as http:
        response = await http.get(server.url())
    assert response.content == b"x" * 10


async def test_a_shorter_timeout_on_a_kept_alive_connection_is_kept(serve):
    """The connection keeps one timer across its waits: a later request with a
    shorter timeout than the one before must still time out on its own."""

    async def answer_then_stall(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await writer.drain()
        await read_request(reader)
        await asyncio.sleep(5)

    server = await serve(answer_then_stall)
    async with client(timeout=3.0) as http:
        assert (await http.get(server.url())).content == b"ok"
        started = asyncio.get_running_loop().time()
        with pytest.raises(httpx.ReadTimeout):
            await http.get(server.url(), timeout=0.2)
        assert asyncio.get_running_loop().time() - started < 2.0
    assert server.connections == 1


async def test_write_timeout_when_the_server_reads_nothing(serve):
    server = await serve(stall)  # reads nothing
    async with client(timeout=0.3) as http:
        with pytest.raises(httpx.WriteTimeout):
            await http.post(server.url(), content=b"x" * (64 * 1024 * 1024))


async def test_connect_timeout_when_the_tls_handshake_never_completes(serve):
    server = await serve(stall)  # answers no ClientHello
    async with client(timeout=0.2) as http:
        with pytest.raises(httpx.ConnectTimeout):
            await http.get(server.url("https"))


async def test_refused_connection_is_a_connect_error(serve):
    server = await serve(answer_each(OK))
    url = server.url()
    server.server.close()
    await server.server.wait_closed()
    async with client() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(url)


# -- the pool ------------------------------------------------------------------------


def held_open(release: asyncio.Event) -> Handler:
    """Answers each request with a streamed body that ends once ``release`` is set."""

    async def handler(reader, writer):
        while await read_request(reader):
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n")
            await writer.drain()
            await release.wait()
            writer.write(b"0\r\n\r\n")
            await writer.drain()

    return handler


async def test_requests_beyond_max_connections_queue_for_a_free_one(serve):
    async def slow(reader, writer):
        while await read_request(reader):
            await asyncio.sleep(0.05)
            writer.write(OK)
            await writer.drain()

    server = await serve(slow)
    async with client(max_connections=2) as http:
        answers = await asyncio.gather(*(http.get(server.url()) for _ in range(6)))
    assert [a.text for a in answers] == ["ok"] * 6
    assert server.most_open == 2


async def test_pool_timeout_when_every_connection_is_busy(serve):
    release = asyncio.Event()
    server = await serve(held_open(release))
    async with client(timeout=0.2, max_connections=1) as http:
        async with http.stream("GET", server.url()) as first:
            with pytest.raises(httpx.PoolTimeout):
                await http.get(server.url())
            release.set()
            assert await first.aread() == b"ok"
        assert (await http.get(server.url())).text == "ok"
    assert server.connections == 1


async def test_a_cancelled_wait_for_the_pool_leaks_nothing(serve):
    release = asyncio.Event()
    server = await serve(held_open(release))
    async with client(max_connections=1) as http:
        async with http.stream("GET", server.url()) as first:
            waiting = asyncio.create_task(http.get(server.url()))
            await asyncio.sleep(0.05)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            release.set()
            await first.aread()
        assert (await http.get(server.url())).text == "ok"
    assert server.connections == 1


async def test_a_request_cancelled_while_waiting_for_the_answer_closes_its_connection(serve):
    async def silent(reader, writer):
        await read_request(reader)
        await reader.read()  # until the client hangs up

    server = await serve(silent)
    async with client(max_connections=1) as http:
        waiting = asyncio.create_task(http.get(server.url()))
        await asyncio.sleep(0.05)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await asyncio.wait_for(server.closed.wait(), 5)
        server.handler = answer_each(OK)
        assert (await http.get(server.url())).text == "ok"  # the one slot is free again


async def test_a_reader_cancelled_mid_stream_closes_the_upstream_connection(serve):
    async def endless(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        while True:
            writer.write(b"5\r\nchunk\r\n")
            await writer.drain()
            await asyncio.sleep(0.01)

    async def relay(http: httpx.AsyncClient, seen: asyncio.Event) -> None:
        async with http.stream("GET", server.url()) as response:
            async for _ in response.aiter_raw():
                seen.set()

    server = await serve(endless)
    async with client() as http:
        seen = asyncio.Event()
        task = asyncio.create_task(relay(http, seen))
        await asyncio.wait_for(seen.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(server.closed.wait(), 5)
    assert server.open_now == 0


async def test_aclose_closes_every_connection_idle_or_busy(serve):
    async def streams_until_the_client_leaves(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n")
        await writer.drain()
        await reader.read()

    busy_server = await serve(streams_until_the_client_leaves)
    idle_server = await serve(answer_each(OK))
    http = client()
    assert (await http.get(idle_server.url())).text == "ok"
    busy = await http.send(http.build_request("GET", busy_server.url()), stream=True)
    await http.aclose()
    await asyncio.wait_for(idle_server.closed.wait(), 5)
    await asyncio.wait_for(busy_server.closed.wait(), 5)
    assert idle_server.open_now == busy_server.open_now == 0
    with pytest.raises(httpx.TransportError):
        await busy.aread()


# -- TLS -----------------------------------------------------------------------------


def self_signed(tmp: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp / "cert.pem", tmp / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


async def test_https_with_a_trusted_certificate_and_keep_alive(serve, tmp_path):
    cert_file, key_file = self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert_file, key_file)
    server = await serve(answer_each(OK), tls=server_tls)
    trusted = ssl.create_default_context(cafile=str(cert_file))
    transport = H1Transport(limits=httpx.Limits(), ssl_context=trusted)
    async with httpx.AsyncClient(transport=transport, timeout=5) as http:
        for _ in range(3):
            assert (await http.get(server.url("https"))).text == "ok"
    assert server.connections == 1


async def test_https_with_an_untrusted_certificate_is_a_connect_error(serve, tmp_path):
    cert_file, key_file = self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert_file, key_file)
    server = await serve(answer_each(OK), tls=server_tls)
    async with client() as http:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await http.get(server.url("https"))


# -- every story again on uvloop, the loop the gateway runs on ---------------------

STORIES = [
    story
    for name, story in list(globals().items())
    if name.startswith("test_") and inspect.iscoroutinefunction(story)
]


@pytest.mark.parametrize("story", STORIES, ids=lambda story: story.__name__[5:])
def test_on_uvloop(story, tmp_path):
    async def run() -> None:
        async with loopback_servers() as serve:
            given = {"serve": serve, "tmp_path": tmp_path, "answer": CLOSE}
            await story(**{name: given[name] for name in inspect.signature(story).parameters})

    uvloop.run(run())

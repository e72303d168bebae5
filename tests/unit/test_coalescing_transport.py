"""A response's head and body leave in one write; nothing written is held past the
event loop step it was written in, lost at close, or sent after an abort."""

from __future__ import annotations

import asyncio
import socket

import httpx

from gateway.http_protocol import CoalescingTransport
from gateway.server import fast_server_options
from tests.fakes.serving import ServerThread


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = self.aborted = False

    def write(self, data: bytes) -> None:  # type: ignore[override]
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True


async def test_a_head_and_body_written_in_one_step_leave_as_one_write() -> None:
    real = RecordingTransport()
    transport = CoalescingTransport(real, asyncio.get_running_loop())

    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(b'{"answer": 42}')

    assert real.writes == [b'HTTP/1.1 200 OK\r\n\r\n{"answer": 42}']


async def test_a_lone_write_leaves_at_the_end_of_its_step() -> None:
    real = RecordingTransport()
    transport = CoalescingTransport(real, asyncio.get_running_loop())

    transport.write(b"data: first\n\n")
    assert real.writes == []  # held for a write that may follow in this step...
    await asyncio.sleep(0)
    assert real.writes == [b"data: first\n\n"]  # ...and sent when none did


async def test_close_sends_what_is_held_then_closes() -> None:
    real = RecordingTransport()
    transport = CoalescingTransport(real, asyncio.get_running_loop())

    transport.write(b"last words")
    transport.close()

    assert real.writes == [b"last words"] and real.closed
    await asyncio.sleep(0)
    assert real.writes == [b"last words"]  # not sent twice


async def test_abort_drops_what_is_held() -> None:
    real = RecordingTransport()
    transport = CoalescingTransport(real, asyncio.get_running_loop())

    transport.write(b"never sent")
    transport.abort()
    await asyncio.sleep(0)

    assert real.writes == [] and real.aborted


async def _app(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x-a", b"1")]})
    await send({"type": "http.response.body", "body": b"one ", "more_body": True})
    await asyncio.sleep(0.01)
    await send({"type": "http.response.body", "body": b"two", "more_body": False})


def test_a_server_on_arbiters_protocol_answers_whole_over_keep_alive() -> None:
    server = ServerThread(_app, http=fast_server_options()["http"]).start()
    try:
        with httpx.Client(base_url=server.url) as client:
            for _ in range(3):  # one connection, kept alive
                response = client.get("/")
                assert response.text == "one two" and response.headers["x-a"] == "1"
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            received = b""
            while chunk := sock.recv(65536):
                received += chunk
        assert received.startswith(b"HTTP/1.1 200 OK") and received.endswith(b"two\r\n0\r\n\r\n")
    finally:
        server.stop()

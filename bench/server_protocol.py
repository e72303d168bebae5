"""What the HTTP server protocol costs per request, alone: no sockets, no Arbiter.

    python bench/server_protocol.py [--requests N]

Drives one connection of each protocol class through a recording transport:
the bytes of a small POST in through ``data_received``, a trivial ASGI app that
reads the body and answers with a declared length and the headers an Arbiter
answer carries, the response out through ``write``. Prints the process CPU per
request and the writes per answer for uvicorn's httptools protocol and for
Arbiter's (``gateway.http_protocol``). The loop's own cost is in both figures.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import uvicorn  # noqa: E402
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol  # noqa: E402

from gateway.http_protocol import ArbiterHttpProtocol  # noqa: E402

BODY = b'{"model":"bench","messages":[{"role":"user","content":"Summarise Hamlet."}]}' * 4
REQUEST = (
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
    b"Authorization: Bearer sk-bench\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n" % len(BODY)
) + BODY
ANSWER = b'{"id":"chatcmpl-bench","object":"chat.completion","choices":[]}' * 5
HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", b"%d" % len(ANSWER)),
    (b"x-arbiter-model", b"bench"),
    (b"x-arbiter-provider", b"bench"),
    (b"x-arbiter-attempts", b"1"),
    (b"x-arbiter-cache", b"miss"),
    (b"x-arbiter-cost-usd", b"0.0000327000"),
    (b"x-request-id", b"0123456789abcdef0123456789abcdef"),
]
WARMUP = 2000


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": list(HEADERS)})
    await send({"type": "http.response.body", "body": ANSWER})


class CountingTransport:
    """The transport calls the protocols make, counting writes."""

    def __init__(self) -> None:
        self.writes = 0
        self.closing = False

    def write(self, data: bytes) -> None:
        self.writes += 1

    def writelines(self, lines: list[bytes]) -> None:
        self.writes += 1

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8080)}.get(
            name, default
        )


async def measure(protocol_class: Any, requests: int) -> tuple[float, float]:
    config = uvicorn.Config(app, lifespan="off", access_log=False, proxy_headers=False)
    config.load()
    state = SimpleNamespace(
        connections=set(),
        tasks=set(),
        default_headers=[(b"date", b"Sun, 29 Nov 2026 16:00:00 GMT")],
        total_requests=0,
    )
    protocol = protocol_class(config, state, {})
    transport = CountingTransport()
    protocol.connection_made(transport)

    async def one() -> None:
        before = transport.writes
        protocol.data_received(REQUEST)
        while transport.writes == before or state.tasks:
            await asyncio.sleep(0)

    for _ in range(WARMUP):
        await one()
    started = time.process_time()
    for _ in range(requests):
        await one()
    per_request = (time.process_time() - started) / requests
    return per_request * 1e6, transport.writes / (requests + WARMUP)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=50_000)
    args = parser.parse_args()
    try:
        import uvloop

        run = uvloop.run
    except ImportError:
        run = asyncio.run
    for name, protocol_class in (
        ("uvicorn httptools", HttpToolsProtocol),
        ("arbiter", ArbiterHttpProtocol),
    ):
        us, writes = run(measure(protocol_class, args.requests))
        print(f"{name:18} {us:6.2f} us CPU/request  {writes:.1f} writes/answer")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

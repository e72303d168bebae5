"""Client-only micro-benchmark: CPU time per upstream request for each HTTP client
stack, against the nginx fake upstream, on uvloop. No server in the way.

    PYTHONPATH=.:bench python bench/client_micro.py [--requests 3000] [--concurrency 1,8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import bodies
import httpx
import uvloop
from httpx_aiohttp import AiohttpTransport as PackagedAiohttpTransport
from procs import free_port
from upstream import start_nginx

from providers.aiohttp_transport import AiohttpTransport
from providers.h1_transport import H1Transport
from providers.upstream_client import UpstreamClient

LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
BODY = json.dumps(bodies.small_request()).encode()
HEADERS = {"content-type": "application/json", "authorization": "Bearer sk-x"}

Send = Callable[[], Awaitable[bytes]]


async def _stacks(url: str) -> dict[str, tuple[Send, Callable[[], Awaitable[None]]]]:
    def stack(
        send_request: Callable[[httpx.Request], Awaitable[httpx.Response]],
        close: Callable[[], Awaitable[None]],
    ) -> tuple[Send, Callable[[], Awaitable[None]]]:
        async def send() -> bytes:
            request = httpx.Request("POST", url, headers=HEADERS, content=BODY)
            response = await send_request(request)
            try:
                return await response.aread()
            finally:
                await response.aclose()

        return send, close

    def via_client(transport: httpx.AsyncBaseTransport | None, lean: bool = False) -> tuple:
        """``lean``: what the gateway runs, build_client's UpstreamClient and its send."""
        if lean:
            assert transport is not None
            client: httpx.AsyncClient = UpstreamClient(
                transport=transport, timeout=httpx.Timeout(30), limits=LIMITS
            )
        else:
            client = httpx.AsyncClient(limits=LIMITS, timeout=30, transport=transport)
        return stack(lambda request: client.send(request, stream=True), client.aclose)

    def direct(transport: httpx.AsyncBaseTransport) -> tuple:
        return stack(transport.handle_async_request, transport.aclose)

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000))

    async def raw() -> bytes:
        async with session.post(url, data=BODY, headers=HEADERS) as response:
            return await response.read()

    return {
        "httpx default (httpcore)": via_client(None),
        "httpx + httpx-aiohttp": via_client(PackagedAiohttpTransport(limits=LIMITS)),
        "httpx + arbiter AiohttpTransport": via_client(AiohttpTransport(limits=LIMITS)),
        "arbiter AiohttpTransport, no AsyncClient.send": direct(AiohttpTransport(limits=LIMITS)),
        "arbiter AiohttpTransport via UpstreamClient": via_client(
            AiohttpTransport(limits=LIMITS), lean=True
        ),
        "httpx + arbiter H1Transport": via_client(H1Transport(limits=LIMITS)),
        "arbiter H1Transport, no AsyncClient.send": direct(H1Transport(limits=LIMITS)),
        "arbiter H1Transport via UpstreamClient": via_client(H1Transport(limits=LIMITS), lean=True),
        "aiohttp alone": (raw, session.close),
        "raw asyncio streams": raw_streams(url),
    }


def raw_streams(url: str) -> tuple[Send, Callable[[], Awaitable[None]]]:
    """The floor: a hand-written request over asyncio streams, one connection per
    worker, reading Content-Length bodies only (nginx's fixed answer)."""
    parsed = httpx.URL(url)
    head = (
        f"POST {parsed.raw_path.decode()} HTTP/1.1\r\nhost: {parsed.netloc.decode()}\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in HEADERS.items())
        + f"content-length: {len(BODY)}\r\n\r\n"
    ).encode() + BODY
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def send() -> bytes:
        if idle:
            reader, writer = idle.pop()
        else:
            reader, writer = await asyncio.open_connection(parsed.host, parsed.port)
        writer.write(head)
        response = await reader.readuntil(b"\r\n\r\n")
        length = int(response.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        body = await reader.readexactly(length)
        idle.append((reader, writer))
        return body

    async def close() -> None:
        for _, writer in idle:
            writer.close()

    return send, close


async def _measure(send: Send, requests: int, concurrency: int) -> float:
    """CPU microseconds per request."""

    async def worker(n: int) -> None:
        for _ in range(n):
            await send()

    await asyncio.gather(*(worker(20) for _ in range(concurrency)))  # warm
    cpu = time.process_time()
    await asyncio.gather(*(worker(requests // concurrency) for _ in range(concurrency)))
    return (time.process_time() - cpu) / (requests // concurrency * concurrency) * 1e6


async def main_async(url: str, requests: int, levels: list[int], rounds: int) -> None:
    stacks = await _stacks(url)
    rows: dict[tuple[str, int], list[float]] = {}
    for _ in range(rounds):
        for name, (send, _close) in stacks.items():
            for c in levels:
                rows.setdefault((name, c), []).append(await _measure(send, requests, c))
    for _send, close in stacks.values():
        await close()
    print("| client stack | " + " | ".join(f"CPU us/request, c={c}" for c in levels) + " |")
    print("|---|" + "---:|" * len(levels))
    for name in stacks:
        cells = [f"{statistics.median(rows[(name, c)]):.0f}" for c in levels]
        print(f"| {name} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", default="1,8")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="arbiter-micro-"))
    port = free_port()
    nginx = start_nginx(port, tmp, "0")
    try:
        uvloop.run(
            main_async(
                f"http://127.0.0.1:{port}/v1/chat/completions",
                args.requests,
                [int(c) for c in args.concurrency.split(",")],
                args.rounds,
            )
        )
    finally:
        nginx.stop()


if __name__ == "__main__":
    main()

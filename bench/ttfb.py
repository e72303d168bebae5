"""Time to first byte of a stream, through a raw socket (no client library cost).

Sends the same streaming request ``n`` times, one at a time, each on a fresh
connection (connect time excluded), and times the first SSE event and the end.
With a paced upstream this shows whether a proxy relays chunks as they come.
"""

from __future__ import annotations

import socket
import statistics
import time
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["StreamTiming", "probe_stream"]


@dataclass(frozen=True, slots=True)
class StreamTiming:
    ttfb_p50_ms: float
    total_p50_ms: float
    events: int  # data events of the last response, [DONE] included


def _once(host: str, port: int, request: bytes, timeout_s: float) -> tuple[float, float, int]:
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        started = time.perf_counter()
        sock.sendall(request)
        buffer = b""
        first = None
        while True:
            data = sock.recv(65536)
            if not data:
                break
            buffer += data
            if first is None:
                head_end = buffer.find(b"\r\n\r\n")
                if head_end != -1 and b"data:" in buffer[head_end:]:
                    first = time.perf_counter() - started
        total = time.perf_counter() - started
    if not buffer.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"stream probe got: {buffer[:200]!r}")
    return (first if first is not None else total), total, buffer.count(b"data:")


def probe_stream(url: str, body: bytes, *, key: str = "", n: int = 10) -> StreamTiming:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    firsts, totals, events = [], [], 0
    for _ in range(n):
        # a fresh token where the body has its @N@ marker: never a cache hit
        unique = body.replace(b"@N@", uuid.uuid4().hex.encode())
        headers = [
            f"POST {parts.path} HTTP/1.1",
            f"Host: {host}:{port}",
            "Content-Type: application/json",
            f"Content-Length: {len(unique)}",
            "Connection: close",
        ]
        if key:
            headers.append(f"Authorization: Bearer {key}")
        request = ("\r\n".join(headers) + "\r\n\r\n").encode() + unique
        first, total, events = _once(host, port, request, timeout_s=30)
        firsts.append(first * 1000)
        totals.append(total * 1000)
    return StreamTiming(statistics.median(firsts), statistics.median(totals), events)

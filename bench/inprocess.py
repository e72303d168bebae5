"""What one chat request costs inside Arbiter, without uvicorn, sockets or an upstream.

    python bench/inprocess.py [miss|hit|stream] [--requests N] [--no-access-log]
                              [--concurrency N] [--gc]
                              [--profile [--sort cumulative] [--top 40]]
    python bench/inprocess.py miss --instructions     # under valgrind: exact counts

Builds the app from the benchmark's config (``targets._arbiter_config``), calls it
as an ASGI app the way uvicorn would, and answers every upstream call from memory
with the benchmark's own bodies (``bodies.completion``, ``bodies.stream_events``).
It prints the process CPU per request: gateway work only, no event loop I/O, so an
A/B of a hot-path change shows through noise that moves wrk's figures by 10%.

``--instructions`` runs the same loop twice under ``valgrind --tool=callgrind``
(N and 3N requests) and prints the difference per request: instruction counts do
not depend on what else the machine is doing, so two commits compare exactly.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# bench/ goes last: its profile.py would otherwise hide the standard library's.
sys.path[:] = [str(HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.append(str(HERE))

import cProfile  # noqa: E402

import bodies  # noqa: E402
import httpx  # noqa: E402
import orjson  # noqa: E402
from targets import KEY, _arbiter_config  # noqa: E402

from gateway.app import create_app  # noqa: E402
from gateway.config import load_settings  # noqa: E402
from gateway.logging_setup import configure_logging  # noqa: E402

_COMPLETION = orjson.dumps(bodies.completion())
_EVENTS = b"".join(bodies.stream_events())
_WARMUP = 1000


class MemoryUpstream(httpx.AsyncBaseTransport):
    """Answers every request with the benchmark's completion or 20-event stream;
    ``pause``: lets the other requests in flight run first, as a network wait would."""

    def __init__(self, pause: bool = False) -> None:
        self.pause = pause

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.pause:
            await asyncio.sleep(0)
        await request.aread()
        if request.url.path.startswith("/stream/"):
            return httpx.Response(
                200, headers={"content-type": "text/event-stream"}, stream=httpx.ByteStream(_EVENTS)
            )
        return httpx.Response(
            200,
            headers={"content-type": "application/json"},
            stream=httpx.ByteStream(_COMPLETION),
        )


def _scope(body: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "root_path": "",
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
        "state": {},
        "headers": [
            (b"host", b"127.0.0.1:8080"),
            (b"content-type", b"application/json"),
            (b"authorization", f"Bearer {KEY}".encode()),
            (b"content-length", str(len(body)).encode()),
        ],
    }


class GcClock:
    """CPU time spent in the garbage collector, by generation."""

    def __init__(self) -> None:
        self.spent = [0.0, 0.0, 0.0]
        self.runs = [0, 0, 0]
        self._began = 0.0
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.process_time()
        else:
            generation = info["generation"]
            self.spent[generation] += time.process_time() - self._began
            self.runs[generation] += 1

    def reset(self) -> None:
        self.spent, self.runs = [0.0, 0.0, 0.0], [0, 0, 0]


async def _serve(
    mode: str,
    requests: int,
    access_log: bool,
    profile: cProfile.Profile | None,
    tmp: Path,
    concurrency: int = 1,
    gc_clock: GcClock | None = None,
) -> float:
    config = tmp / "arbiter.yaml"
    text = _arbiter_config(9, 8080)  # the upstream port is never dialled
    if not access_log:
        text += "logging:\n  access_log: false\n"
    config.write_text(text)
    settings = load_settings(config)
    configure_logging(settings)
    # freeze_heap: as ``arbiter serve`` runs it (the startup heap out of the collector's way)
    app = create_app(settings, transport=MemoryUpstream(concurrency > 1), freeze_heap=True)
    template = json.dumps(
        bodies.small_request(
            "bench-stream" if mode == "stream" else "bench", stream=mode == "stream"
        )
    )

    async def one(i: int) -> None:
        body = template.replace(bodies.COUNTER, "same" if mode == "hit" else str(i)).encode()
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(_scope(body), receive, send)
        if sent[0]["status"] != 200:
            raise SystemExit(f"request failed: {sent}")

    async def worker(first: int, count: int) -> None:
        for i in range(first, first + count):
            await one(i)

    async def run(first: int, count: int) -> None:
        """``count`` requests, ``concurrency`` of them in flight at a time."""
        share = count // concurrency
        await asyncio.gather(*(worker(first + w * share, share) for w in range(concurrency)))

    async with app.router.lifespan_context(app):
        await run(0, _WARMUP)
        if gc_clock is not None:
            gc_clock.reset()
        if profile is not None:
            profile.enable()
        started = time.process_time()
        await run(_WARMUP, requests)
        spent = time.process_time() - started
        if profile is not None:
            profile.disable()
    logging.shutdown()
    return spent / (requests // concurrency * concurrency)


def _instructions(args: argparse.Namespace) -> int:
    """Instructions per request: two callgrind runs, N and 3N requests, differenced."""
    if not shutil.which("valgrind"):
        print("apt-get install valgrind", file=sys.stderr)
        return 2
    counts = []
    tmp = Path(tempfile.mkdtemp(prefix="arbiter-inprocess-"))
    for n in (args.requests, 3 * args.requests):
        argv = [sys.executable, __file__, args.mode, "--requests", str(n)]
        if not args.access_log:
            argv.append("--no-access-log")
        out = tmp / f"callgrind.{n}"
        run = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *argv],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )
        found = re.search(r"Collected\s*:\s*(\d+)", run.stderr)
        if run.returncode or not found:
            print(run.stderr[-2000:], file=sys.stderr)
            return 1
        counts.append(int(found.group(1)))
    per_request = (counts[1] - counts[0]) / (2 * args.requests)
    print(f"{args.mode}: {per_request:,.0f} instructions/request")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", nargs="?", default="miss", choices=["miss", "hit", "stream"])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--no-access-log", dest="access_log", action="store_false")
    parser.add_argument("--concurrency", type=int, default=1, help="requests in flight")
    parser.add_argument("--gc", action="store_true", help="report the garbage collector's share")
    parser.add_argument("--profile", action="store_true", help="cProfile the measured loop")
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions per request under valgrind (slow, exact)",
    )
    args = parser.parse_args()
    if args.instructions:
        args.requests = min(args.requests, 1000)
        return _instructions(args)
    profile = cProfile.Profile() if args.profile else None
    gc_clock = GcClock() if args.gc else None
    with tempfile.TemporaryDirectory(prefix="arbiter-inprocess-") as tmp:
        serving = _serve(
            args.mode,
            args.requests,
            args.access_log,
            profile,
            Path(tmp),
            concurrency=args.concurrency,
            gc_clock=gc_clock,
        )
        try:
            import uvloop

            per_request = uvloop.run(serving)
        except ImportError:
            per_request = asyncio.run(serving)
    if profile is not None:
        pstats.Stats(profile, stream=sys.stdout).sort_stats(args.sort).print_stats(args.top)
    print(f"{args.mode}: {per_request * 1e6:.1f} us CPU/request (in process)")
    if gc_clock is not None:
        spent = sum(gc_clock.spent) / args.requests * 1e6
        print(f"garbage collector: {spent:.1f} us/request; runs by generation {gc_clock.runs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

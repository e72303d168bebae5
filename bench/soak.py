"""Soak benchmark: RSS of one Arbiter process over minutes of mixed traffic.

    python bench/soak.py                 # 10 minutes, 16 concurrent clients
    python bench/soak.py --duration 60   # a quick look

Traffic mixes JSON and streamed completions, cache hits and misses, seeded
upstream errors with failover, tool calls and abandoned streams, all against
the built-in mock provider on loopback. RSS is sampled from /proc every few
seconds; the verdict compares growth over the second half of the run with the
first: a leak keeps growing, a healthy process flattens after warm-up.
Not part of the test suite (it is long by design).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-soak"

CONFIG = {
    "server": {"master_key": KEY},
    "providers": {"local": {"type": "mock"}},
    "models": {
        "steady": {
            "deployments": [{"provider": "local", "model": "steady", "mock": {"latency_ms": 5}}]
        },
        "flaky": {
            "deployments": [
                {"provider": "local", "model": "flaky-a", "mock": {"error_rate": 0.2, "seed": 1}},
                {"provider": "local", "model": "flaky-b", "mock": {"latency_ms": 2}},
            ],
        },
        "paced": {
            "deployments": [{"provider": "local", "model": "paced", "mock": {"tokens_per_s": 400}}]
        },
    },
    "cache": {"enabled": True, "ttl_s": 30, "max_bytes": 8 * 1024 * 1024},
}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def body(rng: random.Random) -> dict[str, object]:
    model = rng.choice(["steady", "steady", "flaky", "paced"])
    words = " ".join(
        f"w{rng.randrange(200 if rng.random() < 0.5 else 10**9)}"
        for _ in range(rng.randrange(5, 60))
    )
    request: dict[str, object] = {"model": model, "messages": [{"role": "user", "content": words}]}
    if rng.random() < 0.4:
        request["stream"] = True
        request["stream_options"] = {"include_usage": rng.random() < 0.5}
    if rng.random() < 0.1:
        request["tools"] = [
            {
                "type": "function",
                "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
            }
        ]
        request["tool_choice"] = "required"
    return request


async def client(url: str, deadline: float, seed: int, counts: dict[str, int]) -> None:
    rng = random.Random(seed)
    headers = {"authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http:
        while time.monotonic() < deadline:
            request = body(rng)
            try:
                if request.get("stream"):
                    async with http.stream("POST", "/v1/chat/completions", json=request) as r:
                        abandon = rng.random() < 0.1
                        async for _ in r.aiter_lines():
                            if abandon:
                                break
                        counts[str(r.status_code)] = counts.get(str(r.status_code), 0) + 1
                else:
                    r = await http.post("/v1/chat/completions", json=request)
                    counts[str(r.status_code)] = counts.get(str(r.status_code), 0) + 1
            except httpx.HTTPError as exc:
                counts[type(exc).__name__] = counts.get(type(exc).__name__, 0) + 1


async def drive(url: str, pid: int, duration: float, concurrency: int, every: float) -> None:
    counts: dict[str, int] = {}
    start = time.monotonic()
    deadline = start + duration
    tasks = [asyncio.create_task(client(url, deadline, i, counts)) for i in range(concurrency)]
    samples: list[tuple[float, float, int]] = []
    while time.monotonic() < deadline:
        await asyncio.sleep(every)
        samples.append((time.monotonic() - start, rss_mb(pid), sum(counts.values())))
        t, rss, done = samples[-1]
        print(f"{t:7.0f}s  rss {rss:7.1f} MB  requests {done:8d}", flush=True)
    await asyncio.gather(*tasks)
    report(samples, counts)


def report(samples: list[tuple[float, float, int]], counts: dict[str, int]) -> None:
    if len(samples) < 4:
        print("too short to judge growth")
        return
    half = len(samples) // 2
    first = samples[half - 1][1] - samples[0][1]
    second = samples[-1][1] - samples[half][1]
    print(f"\nresponses by status: {dict(sorted(counts.items()))}")
    print(
        f"RSS: start {samples[0][1]:.1f} MB, middle {samples[half][1]:.1f} MB, "
        f"end {samples[-1][1]:.1f} MB"
    )
    print(f"growth: first half {first:+.1f} MB, second half {second:+.1f} MB")
    verdict = "flat (no leak seen)" if second <= max(2.0, 0.5 * abs(first)) else "STILL GROWING"
    print(f"verdict: {verdict}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--every", type=float, default=10.0, help="seconds between samples")
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "soak.yaml"
        config.write_text(yaml.safe_dump(CONFIG))
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gateway.cli",
                "serve",
                "--config",
                str(config),
                "--port",
                str(port),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    if httpx.get(url + "/health/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            asyncio.run(
                drive(
                    url,
                    proc.pid,
                    args.duration,
                    args.concurrency,
                    min(args.every, args.duration / 4),
                )
            )
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark (not a test): latency of a cache hit against a miss, through a real Arbiter.

Starts ``arbiter serve`` in a subprocess on the mock provider with an upstream
latency, then sends sequential requests over one keep-alive connection:
``--requests`` misses (each prompt new) and as many hits (one prompt, stored
first), as JSON and as streams, and prints p50/p99 per kind. ``--redis URL``
puts the cache in Redis (under a fresh key prefix, deleted afterwards) instead
of the in-process LRU.

    python bench/cache_hit.py [--requests 300] [--latency-ms 50] [--redis redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-bench-cache-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def config(latency_ms: float, redis_url: str | None, prefix: str) -> dict:
    return {
        "server": {"master_key": KEY},
        "state": {"redis_url": redis_url, "key_prefix": prefix},
        "logging": {"level": "warning", "access_log": False},
        "providers": {"local": {"type": "mock"}},
        "models": {
            "demo": {
                "deployments": [
                    {
                        "provider": "local",
                        "model": "mock-1",
                        "input_cost_per_mtok": 0.15,
                        "output_cost_per_mtok": 0.6,
                        "mock": {"latency_ms": latency_ms},
                    }
                ]
            }
        },
    }


def start(config_path: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "gateway.cli", "serve", "--config", config_path]
    process = subprocess.Popen(
        [*command, "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/ready").status_code == 200:
                return process
        except httpx.TransportError:
            pass
        if process.poll() is not None:
            raise SystemExit(f"arbiter exited with {process.returncode}")
        time.sleep(0.1)
    process.terminate()
    raise SystemExit("arbiter did not become ready")


def timed(client: httpx.Client, prompt: str, stream: bool, expect: str) -> float:
    body = {"model": "demo", "messages": [{"role": "user", "content": prompt}], "stream": stream}
    started = time.perf_counter()
    if stream:
        with client.stream("POST", "/v1/chat/completions", json=body) as response:
            for _ in response.iter_bytes():
                pass
    else:
        response = client.post("/v1/chat/completions", json=body)
        response.read()
    elapsed = time.perf_counter() - started
    got = response.headers.get("x-arbiter-cache")
    if response.status_code != 200 or got != expect:
        raise SystemExit(f"expected a {expect}, got {response.status_code} / {got}")
    return elapsed


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def run(client: httpx.Client, requests: int, stream: bool, tag: str) -> dict[str, list[float]]:
    prompt = f"a question asked again and again ({tag}) " * 8
    timed(client, prompt, stream, "miss")  # stores it
    misses = [timed(client, f"{prompt} #{i}", stream, "miss") for i in range(requests)]
    hits = [timed(client, prompt, stream, "hit") for _ in range(requests)]
    return {"miss": misses, "hit": hits}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--redis", default=None, help="cache in this Redis instead of in-process")
    args = parser.parse_args()

    prefix = f"bench:{uuid.uuid4().hex}:"
    port = free_port()
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        yaml.safe_dump(config(args.latency_ms, args.redis, prefix), handle)
    process = start(handle.name, port)
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"authorization": f"Bearer {KEY}"},
            timeout=30,
        ) as client:
            for _ in range(20):  # warm up the connection and the server
                timed(client, f"warm-up {uuid.uuid4().hex}", False, "miss")
            results = {
                "stream": run(client, args.requests, True, "stream"),
                "json": run(client, args.requests, False, "json"),
            }
    finally:
        process.terminate()
        process.wait(timeout=30)
        os.unlink(handle.name)
        if args.redis:
            import redis

            client = redis.Redis.from_url(args.redis)
            keys = list(client.scan_iter(match=prefix + "*"))
            if keys:
                client.delete(*keys)
            client.close()

    backend = "redis" if args.redis else "memory"
    print(
        f"cache hit vs miss: mock upstream latency {args.latency_ms:g} ms, backend {backend}, "
        f"{args.requests} sequential requests each"
    )
    print(f"{'kind':<8}{'result':<8}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}")
    for kind, by_result in results.items():
        for result, samples in by_result.items():
            ms = [s * 1000 for s in samples]
            print(
                f"{kind:<8}{result:<8}{percentile(ms, 50):>10.2f}{percentile(ms, 99):>10.2f}"
                f"{statistics.fmean(ms):>10.2f}"
            )


if __name__ == "__main__":
    main()

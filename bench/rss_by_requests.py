"""Memory under sustained load: Arbiter's RSS after 10k and after 100k requests.

    python bench/rss_by_requests.py [--checkpoints 10000,100000] [--connections 8]
    python bench/rss_by_requests.py --cache-max-mib 64         # another cache.max_bytes
    python bench/rss_by_requests.py --checkpoints 10000,50000 --tracemalloc   # what grew

Runs wrk in slices against Arbiter (pinned as in bench/run, the benchmark's
default config: every request a distinct cache miss, so the response cache
fills) until the request count passes each checkpoint, and reads there the RSS
and what the response cache says it holds (``arbiter_cache_stored_bytes``).
A leak shows as RSS that keeps climbing once the cache is full; the issue's
bound is RSS(100k) within 10% of RSS(10k).

``--tracemalloc`` runs Arbiter under ``bench/traced_serve.py`` instead, takes a
snapshot at each checkpoint and prints the source lines whose live allocations
grew most between the first checkpoint and the last (RSS is then inflated by
tracemalloc itself and not comparable).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
import tracemalloc
import urllib.request
from pathlib import Path

import bodies
from load import run_wrk
from procs import Proc, free_port, rss_kib, wait_http
from targets import ROOT, TARGETS, Running, _arbiter_config, _env
from upstream import start_nginx

HERE = Path(__file__).resolve().parent


def cache_bytes(url: str) -> float | None:
    """What the response cache says it holds, from /metrics."""
    try:
        with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("arbiter_cache_stored_bytes"):
            return float(line.split()[-1])
    return None


def start_arbiter(
    tmp: Path, upstream_port: int, cpus: str, *, traced: bool, cache_mib: float | None
) -> tuple[Proc, int, Path | None]:
    """Arbiter on the benchmark's config (``cache.max_bytes`` overridden if asked), under
    ``bench/traced_serve.py`` when ``traced``."""
    port = free_port()
    config = tmp / "arbiter.yaml"
    text = _arbiter_config(upstream_port, port)
    if cache_mib is not None:
        text += f"cache:\n  max_bytes: {int(cache_mib * 2**20)}\n"
    config.write_text(text)
    serve = ["serve", "--config", str(config)]
    snapshots = None
    if traced:
        snapshots = tmp / "snapshots"
        snapshots.mkdir()
        argv = [sys.executable, str(HERE / "traced_serve.py"), str(snapshots), *serve]
    else:
        argv = [sys.executable, "-m", "gateway.cli", *serve]
    proc = Proc.start(
        "arbiter",
        argv,
        cpus=cpus,
        log=tmp / "arbiter.log",
        env=_env(PYTHONPATH=str(ROOT)),
        cwd=ROOT,
    )
    wait_http(f"http://127.0.0.1:{port}/health/live", proc, timeout_s=60)
    return proc, port, snapshots


def take_snapshot(pid: int, snapshots: Path, number: int) -> Path:
    os.kill(pid, signal.SIGUSR1)
    path = snapshots / f"snapshot-{number}.pickle"
    deadline = time.monotonic() + 120
    while not path.exists():
        if time.monotonic() > deadline:
            raise RuntimeError("no tracemalloc snapshot after 120 s")
        time.sleep(0.2)
    return path


def print_growth(first: Path, last: Path, top: int = 15) -> None:
    before = tracemalloc.Snapshot.load(str(first))
    after = tracemalloc.Snapshot.load(str(last))
    ignore = [tracemalloc.Filter(False, tracemalloc.__file__)]
    stats = after.filter_traces(ignore).compare_to(before.filter_traces(ignore), "traceback")
    print(
        f"\nLive allocations that grew most between the first and last checkpoint "
        f"(total {sum(s.size_diff for s in stats) / 2**20:+.1f} MiB):\n"
    )
    for stat in stats[:top]:
        frames = [f"{Path(f.filename).name}:{f.lineno}" for f in stat.traceback]
        print(
            f"- {stat.size_diff / 2**20:+.2f} MiB, {stat.count_diff:+,} blocks: "
            f"{' <- '.join(reversed(frames[-4:]))}"
        )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--checkpoints",
        default="10000,100000",
        help="request counts to read RSS at; the verdict compares first and last",
    )
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--slice", type=float, default=5.0, help="seconds per wrk run (at most)")
    parser.add_argument("--target", default="arbiter", help="arbiter, or another bench target")
    parser.add_argument(
        "--cache-max-mib",
        type=float,
        help="Arbiter's cache.max_bytes, in MiB (default: the config default)",
    )
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="run under tracemalloc and print what grew between checkpoints",
    )
    args = parser.parse_args()
    checkpoints = sorted(int(c) for c in args.checkpoints.split(","))
    tmp = Path(tempfile.mkdtemp(prefix="arbiter-soak-"))
    body_file = tmp / "small.json"
    body_file.write_text(json.dumps(bodies.small_request("bench")))
    upstream_port = free_port()
    nginx = start_nginx(upstream_port, tmp, "0")
    snapshots: Path | None = None
    if args.target == "arbiter":
        proc, port, snapshots = start_arbiter(
            tmp, upstream_port, "1", traced=args.tracemalloc, cache_mib=args.cache_max_mib
        )
        run = Running(TARGETS["arbiter"], proc, port)
    else:
        run = TARGETS[args.target].start(tmp, upstream_port, "1")
    assert run.proc is not None
    base = run.url("small").rsplit("/v1/", 1)[0]
    done, errors, rate, marks, taken = 0, 0, 0.0, {}, []
    print("| requests | RSS MB | cache holds MB |\n|---:|---:|---:|")
    print(f"| 0 | {rss_kib(run.proc.pid) / 1024:.1f} | – |", flush=True)
    try:
        for mark in checkpoints:
            while done < mark:
                # Shorter slices near a checkpoint, so that RSS is read close to it.
                left_s = (mark - done) / rate if rate else 1.0  # first: measure the rate
                seconds = max(1, round(min(args.slice, left_s)))  # wrk takes whole seconds
                result = run_wrk(
                    run.url("small"),
                    body_file,
                    connections=args.connections,
                    duration_s=seconds,
                    key=run.target.key,
                    cpus="0",
                )
                done += result.requests
                errors += result.errors
                rate = result.requests / seconds
            marks[mark] = rss_kib(run.proc.pid) / 1024
            held = cache_bytes(base)
            held_mb = "–" if held is None else f"{held / 2**20:.1f}"
            print(f"| {done:,} | {marks[mark]:.1f} | {held_mb} |", flush=True)
            if snapshots is not None:
                taken.append(take_snapshot(run.proc.pid, snapshots, len(taken) + 1))
    finally:
        run.proc.stop()
        nginx.stop()
    first, last = marks[checkpoints[0]], marks[checkpoints[-1]]
    print(
        f"\n{errors} errors; RSS after {checkpoints[-1]:,} is {100 * (last / first - 1):+.1f}% "
        f"of RSS after {checkpoints[0]:,}"
    )
    if len(taken) >= 2:
        print_growth(taken[0], taken[-1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

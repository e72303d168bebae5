"""Memory under sustained load: Arbiter's RSS after 10k and after 100k requests.

    python bench/rss_by_requests.py [--requests 100000] [--checkpoint 10000] [--connections 8]

Runs wrk in slices against Arbiter (pinned as in bench/run) until the request
count passes each checkpoint and reads the RSS there. A leak shows as RSS that
keeps climbing; the issue's bound is RSS(100k) within 10% of RSS(10k).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import bodies
from load import run_wrk
from procs import free_port, rss_kib
from targets import TARGETS
from upstream import start_nginx


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--checkpoint", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--slice", type=float, default=5.0, help="seconds per wrk run")
    parser.add_argument("--target", default="arbiter")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="arbiter-soak-"))
    body_file = tmp / "small.json"
    body_file.write_text(json.dumps(bodies.small_request("bench")))
    upstream_port = free_port()
    nginx = start_nginx(upstream_port, tmp, "0")
    run = TARGETS[args.target].start(tmp, upstream_port, "1")
    assert run.proc is not None
    done, errors, marks = 0, 0, {}
    print(f"| requests | RSS MB |\n|---:|---:|\n| 0 | {rss_kib(run.proc.pid) / 1024:.1f} |")
    try:
        checkpoints = [args.checkpoint, args.requests]
        while done < args.requests:
            result = run_wrk(run.url("small"), body_file, connections=args.connections,
                             duration_s=args.slice, key=run.target.key, cpus="0")
            done += result.requests
            errors += result.errors
            for mark in checkpoints:
                if done >= mark and mark not in marks:
                    marks[mark] = rss_kib(run.proc.pid) / 1024
                    print(f"| {done:,} | {marks[mark]:.1f} |", flush=True)
    finally:
        run.proc.stop()
        nginx.stop()
    first, last = marks[args.checkpoint], marks[args.requests]
    print(f"\n{errors} errors; RSS after {args.requests:,} is {100 * (last / first - 1):+.1f}% "
          f"of RSS after {args.checkpoint:,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

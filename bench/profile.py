"""Profiles Arbiter under load with py-spy and prints where the time goes.

    python bench/profile.py [--seconds 10] [--connections 8] [--body small|large|stream]
                            [--target arbiter|arbiter-httpx|floor-...] [--fixed]
                            [--out DIR]

Starts nginx and the target pinned as bench/run does, runs wrk while
``py-spy record`` samples the target, writes the collapsed stacks (open them in
speedscope or flamegraph.pl) and prints the functions that take the most time,
by their own samples and including callees.
"""

from __future__ import annotations

import argparse
import collections
import json
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import bodies
from load import run_wrk
from procs import free_port
from targets import TARGETS
from upstream import start_nginx

HERE = Path(__file__).resolve().parent


def summarise(collapsed: Path, top: int) -> str:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        total += n
        frames = [
            f.split(" (")[0] + " (" + f.split(" (")[-1].split(":")[0].rsplit("/", 1)[-1] + ")"
            if " (" in f
            else f
            for f in stack.split(";")
        ]
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    lines = [f"{total} samples", "", "| own % | function |", "|---:|---|"]
    lines += [f"| {100 * n / total:.1f} | `{f}` |" for f, n in own.most_common(top)]
    lines += ["", "| incl % | function |", "|---:|---|"]
    lines += [f"| {100 * n / total:.1f} | `{f}` |" for f, n in inclusive.most_common(top * 2)]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--body", default="small", choices=["small", "large", "stream"])
    parser.add_argument("--target", default="arbiter")
    parser.add_argument(
        "--fixed", action="store_true", help="the same body every time (cache hits once cached)"
    )
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--out", type=Path, default=HERE / "out")
    args = parser.parse_args()
    if not shutil.which("py-spy"):
        print("pip install py-spy", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="arbiter-profile-"))
    body = {
        "small": bodies.small_request("bench"),
        "large": bodies.large_request("bench"),
        "stream": bodies.small_request("bench-stream", stream=True),
    }[args.body]
    body_file = tmp / "body.json"
    body_file.write_text(json.dumps(body))
    upstream_port = free_port()
    nginx = start_nginx(upstream_port, tmp, "0")
    run = TARGETS[args.target].start(tmp, upstream_port, "1")
    collapsed = args.out / f"profile-{args.target}-{args.body}-c{args.connections}.txt"
    try:
        url = run.url("stream" if args.body == "stream" else "small")
        run_wrk(
            url,
            body_file,
            connections=args.connections,
            duration_s=2,
            key=run.target.key,
            fixed=args.fixed,
            cpus="0",
        )  # warm up
        spy = subprocess.Popen(
            [
                "py-spy",
                "record",
                "--pid",
                str(run.proc.pid),
                "--duration",
                str(args.seconds),
                "--rate",
                str(args.rate),
                "--format",
                "raw",
                "--output",
                str(collapsed),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        result: dict = {}
        load = threading.Thread(
            target=lambda: result.update(
                run_wrk(
                    url,
                    body_file,
                    connections=args.connections,
                    duration_s=args.seconds,
                    key=run.target.key,
                    fixed=args.fixed,
                    cpus="0",
                ).to_dict()
            )
        )
        load.start()
        spy.wait(timeout=args.seconds + 60)
        load.join()
    finally:
        if run.proc:
            run.proc.stop()
        nginx.stop()
    print(f"load: {result}")
    print(f"collapsed stacks: {collapsed}\n")
    print(summarise(collapsed, args.top))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

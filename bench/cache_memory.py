"""What the in-process response cache really takes, next to what it accounts.

    PYTHONPATH=.:bench python bench/cache_memory.py [--max-mib 16] [--writes 3]

For answers of a few sizes (the benchmark's small completion, and longer ones),
fills a ``MemoryCache`` of ``--max-mib`` with distinct answers (as the gateway
stores them in process: priced, without their usage), keeps
writing until ``--writes`` times its capacity went through it (so eviction
churns), and prints per value size: the entries held, the bytes accounted
(``stored_bytes``, what ``max_bytes`` bounds), the RSS the process grew by, and
the live allocations tracemalloc sees. Each size runs in a fresh process, so
freed memory of one does not hide the next one's growth.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import subprocess
import sys
import tracemalloc

import bodies

from cache.entry import CachedAnswer
from cache.memory import MemoryCache

SIZES = {"small": 0, "1 KB reply": 1_000, "8 KB reply": 8_000}


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def answer(n: int, extra: int) -> CachedAnswer:
    """A distinct answer: the bench completion, its reply grown by ``extra`` bytes
    of varied words (compressible about as well as real text)."""
    response = bodies.completion()
    response["id"] = f"chatcmpl-{n:024d}"
    if extra:
        words = " ".join(f"w{(n * 7919 + i * 104729) % 100_003}" for i in range(extra // 7))
        response["choices"][0]["message"]["content"] += " " + words
    stored = CachedAnswer.of(response, "bench", "bench", "gpt-4o-mini", "b/0", 0.0)
    return stored.priced(0.0001)  # what ``ResponseCache.write`` keeps in process


def measure(max_mib: int, writes: float, extra: int, traced: bool) -> tuple[int, int, int, int]:
    cache = MemoryCache(max_mib * 2**20)
    value_size = len(answer(0, extra).body)
    planned = int(writes * cache.max_bytes / (value_size + 300))
    if traced:
        tracemalloc.start()
    gc.collect()
    before_rss, before_traced = rss_bytes(), tracemalloc.get_traced_memory()[0]

    async def fill() -> None:
        for n in range(planned):
            key = hashlib.sha256(str(n).encode()).hexdigest()
            await cache.set(key, answer(n, extra), 600)

    asyncio.run(fill())
    gc.collect()
    grown_rss = rss_bytes() - before_rss
    grown_traced = tracemalloc.get_traced_memory()[0] - before_traced
    return len(cache), cache.stored_bytes(), grown_rss, grown_traced if traced else 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-mib", type=int, default=16)
    parser.add_argument("--writes", type=float, default=3.0, help="times the capacity written")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # child: one size, one mode
    args = parser.parse_args()
    if args.one:
        size, mode = args.one.rsplit(":", 1)
        held, accounted, rss, traced = measure(
            args.max_mib, args.writes, SIZES[size], mode == "traced"
        )
        print(held, accounted, rss, traced, len(answer(0, SIZES[size]).body))
        return 0
    print(f"max_bytes {args.max_mib} MiB, {args.writes:g}x its capacity written\n")
    print(
        "| answer | stored value B | entries | accounted MiB | RSS grew MiB | RSS / accounted "
        "| traced MiB | traced / accounted |\n|---|---:|---:|---:|---:|---:|---:|---:|"
    )
    for size in SIZES:
        runs = {}
        for mode in ("rss", "traced"):
            argv = [
                sys.executable,
                __file__,
                "--max-mib",
                str(args.max_mib),
                "--writes",
                str(args.writes),
                "--one",
                f"{size}:{mode}",
            ]
            out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
            runs[mode] = [int(x) for x in out.split()]

        held, accounted, rss, _, value = runs["rss"]
        traced = runs["traced"][3]
        mib = 2**20
        print(
            f"| {size} | {value:,} | {held:,} | {accounted / mib:.1f} | {rss / mib:.1f} | "
            f"{rss / accounted:.2f} | {traced / mib:.1f} | {traced / accounted:.2f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

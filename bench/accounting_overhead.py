"""What keys, limits, budgets and cost accounting add to one request.

    python bench/accounting_overhead.py [--redis redis://127.0.0.1:6379/0]

Times, per call: counting a prompt's tokens (short and ~1k tokens), a rate-limit
decision (rpm + tpm together) and a budget read, in this process and in Redis,
and recording a request in the usage ledger. Redis keys go under a unique prefix
and are deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

from gateway.gcra import Gcra, Limit
from gateway.usage import UsageLedger
from providers.tokens import count_prompt_tokens
from providers.types import ChatRequest
from routing.state import SharedState


def _per_call_us(run: Callable[[], object], n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        run()
    return (time.perf_counter() - started) / n * 1e6


async def _per_call_async_us(run: Callable[[], Awaitable[object]], n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        await run()
    return (time.perf_counter() - started) / n * 1e6


async def _limits(store: SharedState | None, label: str, n: int) -> None:
    gcra = Gcra(lambda: store)
    limits = [
        Limit("requests", "bench:requests", 10**9, 60, 1),
        Limit("tokens", "bench:tokens", 10**12, 60, 500),
    ]
    ledger = UsageLedger(lambda: store)
    acquire = await _per_call_async_us(lambda: gcra.acquire(limits), n)
    spend = await _per_call_async_us(lambda: ledger.daily_spend("bench", ["total"]), n)
    print(f"{f'rate-limit decision ({label}):':<36}{acquire:8.1f} us")
    print(f"{f'budget read ({label}):':<36}{spend:8.1f} us")


async def main(redis_url: str | None, n: int) -> None:
    short = ChatRequest(model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}])
    long_text = "The quick brown fox jumps over the lazy dog near the riverbank. " * 80
    long = ChatRequest(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "You are a careful assistant."},
            {"role": "user", "content": long_text},
        ],
    )
    for request in (short, long):
        tokens = count_prompt_tokens(request)  # also loads the encoding, once
        took = _per_call_us(lambda r=request: count_prompt_tokens(r), n)
        print(f"{f'count prompt tokens ({tokens} tokens):':<36}{took:8.1f} us")
    await _limits(None, "in-process", n)
    ledger = UsageLedger(lambda: None)
    usage = {"prompt_tokens": 500, "completion_tokens": 100}
    record = _per_call_us(lambda: ledger.record("bench", "m", usage, 0.001), n)
    print(f"{'ledger record (in-process):':<36}{record:8.1f} us")
    if redis_url:
        prefix = f"bench:{uuid.uuid4().hex}:"
        store = SharedState.from_url(redis_url, prefix=prefix)
        try:
            await _limits(store, "redis", n)
        finally:
            assert store.redis is not None
            keys = [k async for k in store.redis.scan_iter(match=prefix + "*")]
            if keys:
                await store.redis.delete(*keys)
            await store.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", default=None)
    parser.add_argument("-n", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(main(args.redis, args.n))

"""An operator sets ``cache.max_bytes``: the in-process cache's entries really take no
more memory than that, however many distinct answers go through it.

"Really" is measured with tracemalloc (every byte Python allocates for the entries),
not with RSS, which other work in the process moves."""

from __future__ import annotations

import gc
import hashlib
import tracemalloc

import pytest

from cache.entry import CachedAnswer
from cache.memory import MemoryCache


def distinct_answer(n: int, reply_words: int) -> CachedAnswer:
    """A distinct answer, as the gateway stores it."""
    content = " ".join(f"word{(n * 31 + i) % 9973}" for i in range(reply_words))
    response = {
        "id": f"chatcmpl-{n}",
        "object": "chat.completion",
        "created": 1700000000 + n,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 12, "completion_tokens": reply_words, "total_tokens": 99},
    }
    return CachedAnswer.of(response, "demo", "openai", "gpt-4o-mini", "demo/0", 1.0)


def key(n: int) -> str:
    return hashlib.sha256(f"question {n}".encode()).hexdigest()


async def fill(cache: MemoryCache, answers: int, reply_words: int) -> int:
    """Writes distinct answers; returns the most bytes the cache ever said it held."""
    most = 0
    for n in range(answers):
        await cache.set(key(n), distinct_answer(n, reply_words), ttl_s=600)
        most = max(most, cache.stored_bytes())
    return most


# What the cache holds was allocated in one of these: the key and the usage (here), the
# record and its body (cache/entry.py; a long body deflated: cache/deflate.py), the entry
# and the dict's growth (cache/memory.py). Other threads (servers other tests left
# running) allocate elsewhere and are not counted.
WHERE_ENTRIES_ARE_MADE = [
    tracemalloc.Filter(True, __file__),
    tracemalloc.Filter(True, "*/cache/entry.py"),
    tracemalloc.Filter(True, "*/cache/deflate.py"),
    tracemalloc.Filter(True, "*/cache/memory.py"),
]


def traced_bytes() -> int:
    snapshot = tracemalloc.take_snapshot().filter_traces(WHERE_ENTRIES_ARE_MADE)
    return sum(stat.size for stat in snapshot.statistics("filename"))


async def traced_fill(max_bytes: int, answers: int, reply_words: int) -> tuple[MemoryCache, int]:
    """A cache filled with distinct answers, and the memory its entries take."""
    gc.collect()
    tracemalloc.start()
    try:
        before = traced_bytes()
        cache = MemoryCache(max_bytes)
        await fill(cache, answers, reply_words)
        gc.collect()
        return cache, traced_bytes() - before
    finally:
        tracemalloc.stop()


async def test_distinct_answers_never_make_the_cache_hold_more_than_max_bytes():
    cache = MemoryCache(64_000)
    most = await fill(cache, answers=1_000, reply_words=40)
    assert 0 < most <= 64_000
    assert len(cache) < 1_000  # older answers were evicted to stay within the bound
    assert await cache.get(key(999)) is not None  # the newest is kept
    assert await cache.get(key(0)) is None


@pytest.mark.parametrize(
    ("reply_words", "answers"),
    [(5, 1_000), (60, 1_000), (400, 300), (4_000, 60)],
    ids=["a few words", "a paragraph", "a page", "a long document"],
)
async def test_what_an_entry_is_accounted_tracks_what_it_really_takes(reply_words, answers):
    cache, real = await traced_fill(2_000_000, answers=answers, reply_words=reply_words)
    accounted = cache.stored_bytes()
    assert len(cache) > 10
    # The allowance for bookkeeping is an average (allocator headers, which tracemalloc
    # does not see, are part of it): never far under, never far over.
    assert 0.8 * accounted <= real <= 1.1 * accounted


async def test_a_full_cache_takes_no_more_memory_than_max_bytes_however_many_go_through():
    cache, real = await traced_fill(200_000, answers=3_000, reply_words=40)
    assert len(cache) < 3_000
    assert real <= 1.05 * 200_000

"""The in-process cache: answers until their TTL, least recently used out first, bounded in
bytes; a hit is the answer that was stored, not a copy decoded again."""

from __future__ import annotations

from cache.entry import CachedAnswer
from cache.memory import MemoryCache, entry_bytes

USAGE = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}


def answer(body: bytes) -> CachedAnswer:
    return CachedAnswer(body, "demo", "openai", "gpt-4o-mini", "demo/0", 1700.0, USAGE)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def entry_size(key: str, value: CachedAnswer) -> int:
    return entry_bytes(key, value)


async def test_a_value_is_there_until_its_ttl_passes():
    clock = Clock()
    cache = MemoryCache(10_000, clock=clock)
    v = answer(b'{"id": "v"}')
    await cache.set("k", v, ttl_s=10)
    assert await cache.get("k") == v
    clock.now += 9.9
    assert await cache.get("k") == v
    clock.now += 0.1
    assert await cache.get("k") is None
    assert cache.stored_bytes() == 0 and len(cache) == 0


async def test_the_least_recently_used_entry_leaves_first_when_bytes_run_out():
    value = answer(b"x" * 100)
    cache = MemoryCache(3 * entry_size("a", value))
    for name in "abc":
        await cache.set(name, value, ttl_s=60)
    assert await cache.get("a") == value  # a is now the most recently used
    await cache.set("d", value, ttl_s=60)
    assert await cache.get("b") is None
    assert [await cache.get(n) for n in "acd"] == [value] * 3
    assert cache.stored_bytes() == 3 * entry_size("a", value) <= cache.max_bytes


async def test_replacing_a_value_keeps_the_byte_count_exact():
    cache = MemoryCache(10_000)
    first, second = answer(b"x" * 10), answer(b"y" * 30)
    await cache.set("k", first, ttl_s=60)
    await cache.set("k", second, ttl_s=60)
    assert await cache.get("k") is second
    assert cache.stored_bytes() == entry_size("k", second)


async def test_a_value_larger_than_the_whole_cache_is_not_stored():
    cache = MemoryCache(1000)
    small = answer(b"s")
    await cache.set("small", small, ttl_s=60)
    await cache.set("huge", answer(b"h" * 2000), ttl_s=60)
    assert await cache.get("huge") is None
    assert await cache.get("small") is small


async def test_a_private_cache_always_grants_claims():
    cache = MemoryCache(1000)
    assert cache.available
    assert await cache.claim("k", 5) and await cache.claim("k", 5)
    await cache.release("k")


async def test_expired_entries_leave_when_the_cache_is_written_not_only_when_read():
    clock = Clock()
    cache = MemoryCache(100_000, clock=clock)
    for name in "abc":
        await cache.set(name, answer(b"x" * 500), ttl_s=10)
    clock.now += 11
    latest = answer(b"y" * 500)
    await cache.set("d", latest, ttl_s=10)
    assert len(cache) == 1
    assert cache.stored_bytes() == entry_size("d", latest)


async def test_a_hit_is_the_very_answer_that_was_stored():
    """Nothing to decode on a hit: the record is immutable, so every hit shares it."""
    cache = MemoryCache(10_000)
    stored = answer(b'{"id": "chatcmpl-1"}')
    await cache.set("k", stored, ttl_s=60)
    assert await cache.get("k") is stored
    assert await cache.get("k") is stored


async def test_an_answer_is_accounted_with_its_body_and_its_usage():
    cache = MemoryCache(100_000)
    bare = CachedAnswer(b"x" * 1000, "demo", "openai", "gpt-4o-mini", "demo/0", 1.0, None)
    await cache.set("bare", bare, ttl_s=60)
    with_usage = CachedAnswer(b"x" * 3000, "demo", "openai", "gpt-4o-mini", "demo/0", 1.0, USAGE)
    await cache.set("with usage", with_usage, ttl_s=60)
    assert entry_size("k", with_usage) > entry_size("k", bare) + 2000  # the body and the usage
    assert cache.stored_bytes() == entry_size("bare", bare) + entry_size("with usage", with_usage)


async def test_a_long_answer_is_kept_deflated_and_comes_back_whole():
    """Long answers take about half their size in memory (as in the byte form), and a hit
    still sends exactly the bytes that were stored."""
    cache = MemoryCache(1_000_000)
    words = " ".join(f"word{i % 97}" for i in range(2_000)).encode()
    long_answer = answer(b'{"content": "' + words + b'"}')
    await cache.set("long", long_answer, ttl_s=60)
    assert cache.stored_bytes() < len(long_answer.body) / 2
    hit = await cache.get("long")
    assert hit is not None and hit.body == long_answer.body
    assert (hit.model, hit.target_id, hit.usage) == ("demo", "demo/0", USAGE)

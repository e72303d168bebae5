"""The in-process cache: values until their TTL, least recently used out first, bounded in bytes."""

from __future__ import annotations

from cache.memory import MemoryCache, entry_bytes


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def entry_size(key: str, value: bytes) -> int:
    return entry_bytes(key, value)


async def test_a_value_is_there_until_its_ttl_passes():
    clock = Clock()
    cache = MemoryCache(10_000, clock=clock)
    await cache.set("k", b"v", ttl_s=10)
    assert await cache.get("k") == b"v"
    clock.now += 9.9
    assert await cache.get("k") == b"v"
    clock.now += 0.1
    assert await cache.get("k") is None
    assert cache.stored_bytes() == 0 and len(cache) == 0


async def test_the_least_recently_used_entry_leaves_first_when_bytes_run_out():
    value = b"x" * 100
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
    await cache.set("k", b"x" * 10, ttl_s=60)
    await cache.set("k", b"y" * 30, ttl_s=60)
    assert await cache.get("k") == b"y" * 30
    assert cache.stored_bytes() == entry_size("k", b"y" * 30)


async def test_a_value_larger_than_the_whole_cache_is_not_stored():
    cache = MemoryCache(1000)
    await cache.set("small", b"s", ttl_s=60)
    await cache.set("huge", b"h" * 2000, ttl_s=60)
    assert await cache.get("huge") is None
    assert await cache.get("small") == b"s"


async def test_a_private_cache_always_grants_claims():
    cache = MemoryCache(1000)
    assert cache.available
    assert await cache.claim("k", 5) and await cache.claim("k", 5)
    await cache.release("k")


async def test_expired_entries_leave_when_the_cache_is_written_not_only_when_read():
    clock = Clock()
    cache = MemoryCache(100_000, clock=clock)
    for name in "abc":
        await cache.set(name, b"x" * 500, ttl_s=10)
    clock.now += 11
    await cache.set("d", b"y" * 500, ttl_s=10)
    assert len(cache) == 1
    assert cache.stored_bytes() == entry_size("d", b"y" * 500)

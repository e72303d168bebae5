"""The Redis cache backend: answers in their byte form with a TTL under a prefix, claims
across processes, and a Redis that is away read as misses, counted, and tried again later."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from cache.entry import CachedAnswer, encode_answer
from cache.redis import RedisCache

SHARED_REDIS = "redis://127.0.0.1:6379/0"


def answer(text: str) -> CachedAnswer:
    body = b'{"id": "chatcmpl-1", "content": "%s"}' % text.encode()
    return CachedAnswer(body, "demo", "openai", "gpt-4o-mini", "demo/0", 1700.0, None)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def redis() -> AsyncIterator[tuple[Redis, str]]:
    """A client of the shared Redis and a prefix no other test uses; its keys go afterwards."""
    client = Redis.from_url(SHARED_REDIS, socket_connect_timeout=0.5, socket_timeout=2)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        await client.aclose()
        pytest.skip(f"Redis is not reachable at {SHARED_REDIS} ({exc}); CI starts one")
    prefix = f"test:{uuid.uuid4().hex}:"
    yield client, prefix
    keys = [k async for k in client.scan_iter(match=prefix + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_values_are_stored_under_the_prefix_with_a_ttl(redis):
    client, prefix = redis
    cache = RedisCache(client, prefix=prefix + "cache:")
    assert await cache.get("abc") is None
    await cache.set("abc", answer("hello"), ttl_s=30)
    assert await cache.get("abc") == answer("hello")
    assert await client.get(prefix + "cache:abc") == encode_answer(answer("hello"))
    assert 0 < await client.pttl(prefix + "cache:abc") <= 30_000
    assert cache.stored_bytes() == len(encode_answer(answer("hello")))


async def test_bytes_that_are_not_an_answer_read_as_a_miss(redis):
    client, prefix = redis
    cache = RedisCache(client, prefix=prefix)
    await client.set(prefix + "abc", b"not an answer", px=30_000)
    assert await cache.get("abc") is None


async def test_the_stored_bytes_estimate_forgets_expired_writes(redis):
    client, prefix = redis
    clock = Clock()
    cache = RedisCache(client, prefix=prefix, clock=clock)
    short, long = answer("x"), answer("x" * 20)
    await cache.set("a", short, ttl_s=5)
    await cache.set("b", long, ttl_s=50)
    assert cache.stored_bytes() == len(encode_answer(short)) + len(encode_answer(long))
    clock.now += 6
    assert cache.stored_bytes() == len(encode_answer(long))


async def test_one_process_at_a_time_holds_a_claim(redis):
    client, prefix = redis
    here, there = RedisCache(client, prefix=prefix), RedisCache(client, prefix=prefix)
    assert await here.claim("k", ttl_s=10)
    assert not await there.claim("k", ttl_s=10)
    await there.release("k")  # not its claim: nothing happens
    assert not await there.claim("k", ttl_s=10)
    await here.release("k")
    assert await there.claim("k", ttl_s=10)


async def test_an_unreachable_redis_is_a_miss_counted_and_retried_later():
    clock = Clock()
    errors: list[str] = []
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    cache = RedisCache(dead, prefix="p:", retry_after_s=2, on_error=errors.append, clock=clock)
    assert await cache.get("k") is None
    assert errors == ["cache_get"] and not cache.available
    await cache.set("k", answer("v"), ttl_s=10)  # skipped while marked down: not even tried
    assert await cache.claim("k", 10)  # nobody to coordinate with: compute for yourself
    assert errors == ["cache_get"]
    clock.now += 2
    assert cache.available
    await cache.set("k", answer("v"), ttl_s=10)
    assert errors == ["cache_get", "cache_set"]
    assert cache.stored_bytes() == 0
    await dead.aclose()


class Flaky:
    """A Redis client that fails every call while ``failing`` is set, like one whose
    server just went away; otherwise the real client answers."""

    def __init__(self, real: Redis) -> None:
        self.real = real
        self.failing = False

    def register_script(self, script: str) -> AsyncScript:
        return AsyncScript(self, script)  # scripts run through this client too

    def __getattr__(self, name: str) -> object:
        if self.failing:
            raise ConnectionError("Connection reset by peer")
        return getattr(self.real, name)


async def test_a_release_is_tried_even_after_another_call_failed(redis):
    """Regression: a failed cache write marked Redis down and the release right after
    it was skipped, leaving the lock for coalesce_wait_s: every identical request,
    in every process, waited that long for an answer that never came."""
    client, prefix = redis
    flaky = Flaky(client)
    clock = Clock()
    here = RedisCache(flaky, prefix=prefix, clock=clock)  # type: ignore[arg-type]
    there = RedisCache(client, prefix=prefix)
    assert await here.claim("k", ttl_s=60)
    flaky.failing = True
    await here.set("k", answer("hi"), ttl_s=60)  # fails: Redis is left alone for a while
    flaky.failing = False
    assert not here.available
    await here.release("k")
    assert await client.exists(prefix + "lock:k") == 0
    assert await there.claim("k", ttl_s=60)


async def test_a_lock_whose_release_failed_is_taken_back_by_its_own_process(redis):
    """The next leader in the process that left the lock behind claims the key at
    once (the lock holds its own token), instead of waiting for it to expire."""
    client, prefix = redis
    flaky = Flaky(client)
    clock = Clock()
    errors: list[str] = []
    here = RedisCache(flaky, prefix=prefix, clock=clock, on_error=errors.append)  # type: ignore[arg-type]
    there = RedisCache(client, prefix=prefix)
    assert await here.claim("k", ttl_s=60)
    flaky.failing = True
    await here.release("k")
    flaky.failing = False
    assert errors == ["cache_release"]
    assert await client.exists(prefix + "lock:k") == 1  # left behind
    assert not await there.claim("k", ttl_s=60)  # another process still waits: it cannot know
    clock.now += 2  # Redis is tried again
    assert await here.claim("k", ttl_s=60)  # ... but this process knows the lock is its own
    await here.release("k")
    assert await there.claim("k", ttl_s=60)

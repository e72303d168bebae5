"""Shared state degrades to local state when Redis is away, and comes back."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from routing.state import SharedState
from tests.fakes.private_redis import PrivateRedis


async def test_without_redis_everything_is_local():
    state = SharedState.from_url("")
    assert not state.shared
    assert await state.run("op", lambda r: r.get("x"), lambda: "local") == "local"
    assert await state.ping()


async def test_unreachable_redis_falls_back_and_counts():
    errors: list[str] = []
    state = SharedState.from_url("redis://127.0.0.1:1/0", on_error=errors.append)
    assert state.shared
    assert await state.run("get-x", lambda r: r.get("x"), lambda: "local") == "local"
    assert errors == ["get-x"]
    assert not state.available  # kept out of the path for a while
    assert await state.run("get-x", lambda r: r.get("x"), lambda: "again") == "again"
    assert errors == ["get-x"]  # not retried while marked down
    assert await state.run("last", lambda r: r.get("x"), lambda: "late", force=True) == "late"
    assert errors == ["get-x", "last"]  # ... unless forced (a last try at shutdown)
    assert not await state.ping()
    await state.aclose()


async def test_after_redis_restarts_no_connection_left_from_before_fails():
    """Regression: connections opened before Redis died stayed in the pool, open on
    this side; after it came back each failed once, and each failure kept Redis out
    of the path for another retry_after_s, so state stayed local long after."""
    private = await asyncio.to_thread(lambda: PrivateRedis().start())
    errors: list[str] = []
    state = SharedState.from_url(private.url, retry_after_s=0.0, on_error=errors.append)

    async def hold(redis: Redis) -> object:  # keeps its connection a moment: five in parallel
        return await redis.blpop(["nothing"], timeout=0.05)

    async def five_at_once(operation: str) -> list[object]:
        return await asyncio.gather(
            *(state.run(operation, hold, lambda: "local") for _ in range(5))
        )

    try:
        assert await five_at_once("warm") == [None] * 5  # five connections in the pool
        await asyncio.to_thread(private.kill)
        assert await state.run("down", lambda r: r.get("x"), lambda: "local") == "local"
        assert errors == ["down"]
        await asyncio.to_thread(private.start)
        assert await five_at_once("back") == [None] * 5
        assert errors == ["down"]
    finally:
        await state.aclose()
        await asyncio.to_thread(private.stop)


async def test_a_burst_larger_than_the_pool_waits_for_connections_instead_of_going_local():
    """Regression: redis-py's plain pool (100 connections by default since redis-py 8)
    raised at once when exhausted, so the 101st concurrent call fell back to local
    state and kept Redis out of the path for retry_after_s."""
    private = await asyncio.to_thread(lambda: PrivateRedis().start())
    errors: list[str] = []
    # A generous per-call bound: opening 512 connections on a loaded machine must not
    # read as Redis being away (what is tested is the pool, not the clock).
    state = SharedState.from_url(private.url, on_error=errors.append, timeout_s=10.0)

    async def hold(redis: Redis) -> object:  # keeps its connection a moment
        return await redis.blpop(["nothing"], timeout=0.05)

    try:
        answers = await asyncio.gather(
            *(state.run("burst", hold, lambda: "local") for _ in range(700))
        )
        assert "local" not in answers and errors == []
        assert state.available
    finally:
        await state.aclose()
        await asyncio.to_thread(private.stop)

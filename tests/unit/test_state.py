"""Shared state degrades to local state when Redis is away, and comes back."""

from __future__ import annotations

from routing.state import SharedState


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
    assert not await state.ping()
    await state.aclose()

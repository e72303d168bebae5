"""What one process measured reaches the others through Redis: latency, load, cooldowns."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from providers.base import Target
from providers.errors import UpstreamUnavailableError
from routing.health import HealthBook, HealthPolicy, Readiness
from routing.state import SharedState
from routing.stats import DeploymentStats
from routing.sync import StateSync

A = Target(id="m/a#0", model_name="m", provider="a", provider_type="mock", model="x", base_url="")


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    client = Redis.from_url("redis://127.0.0.1:6379/0", socket_timeout=2)
    try:
        await client.ping()
    except (RedisError, OSError):
        await client.aclose()
        pytest.skip("no Redis at 127.0.0.1:6379 (CI starts one; see .ci/run)")
    name = f"test:{uuid.uuid4().hex}:"
    yield name
    keys = [key async for key in client.scan_iter(match=name + "*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def process(prefix: str) -> tuple[StateSync, HealthBook, DeploymentStats, SharedState]:
    shared = SharedState.from_url("redis://127.0.0.1:6379/0", prefix=prefix)
    stats = DeploymentStats(decay_s=60)
    health = HealthBook([A], HealthPolicy(cooldown_s=60, allowed_fails=0))
    sync = StateSync(shared, health, stats, [A.id], interval_s=0.1)
    health.sync = sync
    return sync, health, stats, shared


async def test_latency_and_load_measured_by_one_process_reach_another(prefix):
    (one_sync, _, one, one_shared), (two_sync, _, two, two_shared) = (
        process(prefix),
        process(prefix),
    )
    one.observe_latency(A.id, 0.8)
    one.begin(A.id)
    one.begin(A.id)
    await one_sync.exchange()
    await two_sync.exchange()
    assert two.latency(A.id) == pytest.approx(0.8, rel=0.01)
    assert two.inflight(A.id) == 2
    assert one.inflight(A.id) == 2  # its own numbers are not counted twice
    one.end(A.id)
    one.end(A.id)
    await one_sync.exchange()
    await two_sync.exchange()
    assert two.inflight(A.id) == 0
    await one_shared.aclose()
    await two_shared.aclose()


async def test_a_cooldown_and_the_probe_that_ends_it_are_shared(prefix):
    (one_sync, one, _, one_shared), (two_sync, two, _, two_shared) = (
        process(prefix),
        process(prefix),
    )
    one.record_failure(A, UpstreamUnavailableError("down"))
    await one_sync.exchange()
    await two_sync.exchange()
    assert two.readiness(A) is Readiness.DOWN
    # Both see the cooldown end; only one wins the probe.
    now = two.clock()
    for book in (one, two):
        book.clock = lambda: now + 61  # type: ignore[method-assign]
    assert await one.claim_probe(A)
    assert not await two.claim_probe(A)
    one.record_success(A, probe=True)
    await one_sync.exchange()
    await two_sync.exchange()
    assert one.readiness(A) is Readiness.UP and two.readiness(A) is Readiness.UP
    await one_shared.aclose()
    await two_shared.aclose()

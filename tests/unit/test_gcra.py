"""The rate-limit arithmetic, in this process and in Redis: the same answers from both."""

from __future__ import annotations

import pytest

from gateway.gcra import Gcra, Limit
from routing.state import SharedState
from tests.fakes.clock import FakeClock
from tests.fakes.redis_namespace import redis_namespace


@pytest.fixture(params=["local", "redis"])
async def limiter(request):
    clock = FakeClock()
    if request.param == "local":
        yield Gcra(lambda: None, clock=clock), clock
        return
    with redis_namespace() as ns:
        store = SharedState.from_url(ns.url, prefix=ns.prefix)
        yield Gcra(lambda: store, clock=clock), clock
        await store.aclose()


def requests(limit: int, cost: float = 1) -> Limit:
    return Limit("requests", "k:requests", limit, 60.0, cost)


def tokens(limit: int, cost: float) -> Limit:
    return Limit("tokens", "k:tokens", limit, 60.0, cost)


async def test_a_burst_of_the_limit_is_admitted_and_the_next_told_when(limiter):
    gcra, clock = limiter
    for left in (2, 1, 0):
        decision = await gcra.acquire([requests(3)])
        assert decision.allowed
        assert decision.states[0].remaining == left
    refused = await gcra.acquire([requests(3)])
    assert not refused.allowed
    assert refused.retry_after_s == pytest.approx(20.0)  # one request per 60/3 s
    assert refused.states[0].remaining == 0
    clock.advance(19.9)
    assert not (await gcra.acquire([requests(3)])).allowed
    clock.advance(0.1)
    assert (await gcra.acquire([requests(3)])).allowed


async def test_a_full_minute_later_the_whole_limit_is_back(limiter):
    gcra, clock = limiter
    for _ in range(5):
        assert (await gcra.acquire([requests(5)])).allowed
    assert (await gcra.acquire([requests(5)])).states[0].reset_s == pytest.approx(60.0)
    clock.advance(60)
    decisions = [await gcra.acquire([requests(5)]) for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]


async def test_limits_decided_together_charge_nothing_when_one_refuses(limiter):
    gcra, clock = limiter
    assert (await gcra.acquire([requests(10), tokens(100, 90)])).allowed
    refused = await gcra.acquire([requests(10), tokens(100, 20)])
    assert not refused.allowed
    assert [s.wait_s > 0 for s in refused.states] == [False, True]
    assert refused.retry_after_s == pytest.approx(10 * 0.6)  # 10 tokens over, 0.6 s each
    # The refused request took no request slot: 9 are still free.
    assert refused.states[0].remaining == 9


async def test_a_correction_charges_real_usage_or_gives_tokens_back(limiter):
    gcra, clock = limiter
    assert (await gcra.acquire([tokens(100, 10)])).allowed
    await gcra.adjust(tokens(100, 70))  # it really used 80
    assert (await gcra.acquire([tokens(100, 20)])).allowed
    assert not (await gcra.acquire([tokens(100, 1)])).allowed
    await gcra.adjust(tokens(100, -50))  # that one answered nothing: give its 50 back
    decision = await gcra.acquire([tokens(100, 50)])
    assert decision.allowed and decision.states[0].remaining == 0
    await gcra.adjust(tokens(100, -1000))  # never more than a full allowance
    assert (await gcra.acquire([tokens(100, 100)])).allowed


async def test_odd_limits_admit_exactly_their_count(limiter):
    """Guards against float drift refusing the last unit of an allowance like 60/7."""
    gcra, clock = limiter
    decisions = [await gcra.acquire([requests(7)]) for _ in range(8)]
    assert [d.allowed for d in decisions] == [True] * 7 + [False]


async def test_a_redis_outage_degrades_to_limits_in_this_process():
    clock = FakeClock()
    failures: list[str] = []
    store = SharedState.from_url("redis://127.0.0.1:1/0", on_error=failures.append)
    gcra = Gcra(lambda: store, clock=clock)
    decisions = [await gcra.acquire([requests(2)]) for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, False]
    assert failures == ["rate-limit"]  # counted once, then Redis is left alone a while
    await store.aclose()

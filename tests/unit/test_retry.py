"""Retries on one deployment: which errors, how long between, and when to stop."""

from __future__ import annotations

import random

import pytest

from providers.errors import (
    GatewayError,
    InvalidRequestError,
    RateLimitedError,
    UpstreamUnavailableError,
)
from routing.retry import RetryPolicy


class Time:
    """A clock that moves only when the policy sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


class Upstream:
    """Fails with the scripted errors, then answers 'ok'."""

    def __init__(self, *errors: GatewayError) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def policy(time: Time, retries: int = 3, base: float = 1.0, cap: float = 8.0) -> RetryPolicy:
    return RetryPolicy(retries, base, cap, rng=random.Random(3), sleep=time.sleep, clock=time.clock)


def boom() -> UpstreamUnavailableError:
    return UpstreamUnavailableError("502")


async def retry(p: RetryPolicy, upstream: Upstream, first: GatewayError, **kwargs) -> str:
    kwargs.setdefault("deadline", 1000.0)
    kwargs.setdefault("may_retry", lambda error: True)
    return await p.retry(upstream, first, **kwargs)


async def test_a_retryable_failure_is_retried_until_it_works():
    time = Time()
    upstream = Upstream(boom())  # the first attempt failed before retry(); then one more
    assert await retry(policy(time), upstream, boom()) == "ok"
    assert upstream.calls == 2
    assert len(time.waits) == 2


async def test_retries_stop_after_routing_retries_and_raise_the_last_error():
    time = Time()
    last = boom()
    upstream = Upstream(boom(), boom(), last)
    with pytest.raises(UpstreamUnavailableError) as raised:
        await retry(policy(time, retries=3), upstream, boom())
    assert raised.value is last
    assert upstream.calls == 3  # 1 + 3 attempts in all


async def test_other_4xx_are_never_retried():
    upstream = Upstream()
    with pytest.raises(InvalidRequestError):
        await retry(policy(Time()), upstream, InvalidRequestError("bad"))
    assert upstream.calls == 0


async def test_backoff_is_exponential_with_jitter_and_capped():
    time = Time()
    upstream = Upstream(*(boom() for _ in range(6)))
    with pytest.raises(UpstreamUnavailableError):
        await retry(policy(time, retries=6, base=1.0, cap=8.0), upstream, boom())
    assert upstream.calls == 6
    bounds = [(0.5, 1), (1, 2), (2, 4), (4, 8), (4, 8), (4, 8)]
    assert all(low <= w <= high for w, (low, high) in zip(time.waits, bounds, strict=True))
    assert len(set(time.waits)) == len(time.waits)  # jittered, not lock-step
    rng = random.Random(3)  # the same seed gives the same waits
    assert time.waits[0] == pytest.approx(0.5 + rng.uniform(0, 0.5))


async def test_a_retry_after_hint_longer_than_the_backoff_is_honoured():
    time = Time()
    upstream = Upstream()
    assert await retry(policy(time), upstream, RateLimitedError("429", retry_after=5)) == "ok"
    assert time.waits == [5]


async def test_a_retry_after_hint_longer_than_the_cap_is_not_waited_for():
    time = Time()
    upstream = Upstream()
    with pytest.raises(RateLimitedError):
        await retry(policy(time, cap=8), upstream, RateLimitedError("429", retry_after=30))
    assert (upstream.calls, time.waits) == (0, [])


async def test_no_wait_ends_past_the_deadline():
    time = Time()
    upstream = Upstream(*(boom() for _ in range(9)))
    with pytest.raises(UpstreamUnavailableError):
        await retry(policy(time, retries=9), upstream, boom(), deadline=5.0)
    assert sum(time.waits) < 5.0
    assert upstream.calls == len(time.waits)


async def test_the_caller_can_veto_a_retry():
    upstream = Upstream()
    with pytest.raises(UpstreamUnavailableError):
        await retry(policy(Time()), upstream, boom(), may_retry=lambda error: False)
    assert upstream.calls == 0

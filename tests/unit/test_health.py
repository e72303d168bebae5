"""Cooldowns: who is taken out, for how long, and how one probe brings them back."""

from __future__ import annotations

import pytest

from providers.base import Target
from providers.errors import (
    ContextWindowExceededError,
    InvalidRequestError,
    RateLimitedError,
    UpstreamAuthError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from routing.health import HealthBook, HealthPolicy, Readiness, counts_against_deployment

A = Target(id="m/a", model_name="m", provider="a", provider_type="mock", model="x", base_url="")


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, bool]] = []

    def on_health(self, target: Target, up: bool) -> None:
        self.seen.append((target.id, up))


class Sync:
    """Another process's share of the probe, as a test double of routing.sync."""

    def __init__(self, grant: bool) -> None:
        self.grant = grant
        self.calls: list[tuple[str, str]] = []

    def cooled(self, target_id: str, until: float) -> None:
        self.calls.append(("cooled", target_id))

    def restored(self, target_id: str) -> None:
        self.calls.append(("restored", target_id))

    def release_probe(self, target_id: str) -> None:
        self.calls.append(("released", target_id))

    async def claim_probe(self, target_id: str, lease_s: float) -> bool:
        self.calls.append(("claim", target_id))
        return self.grant


def book(clock: Clock, events: Events | None = None, **policy) -> HealthBook:
    policy.setdefault("cooldown_s", 30.0)
    policy.setdefault("allowed_fails", 2)
    return HealthBook([A], HealthPolicy(**policy), clock=clock, listeners=[events or Events()])


def server_error() -> UpstreamUnavailableError:
    return UpstreamUnavailableError("boom", provider="a")


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_more_failures_in_a_row_than_allowed_cool_a_deployment_down(clock):
    events = Events()
    health = book(clock, events)
    health.announce()
    health.record_failure(A, server_error())
    health.record_success(A)  # the run is broken
    health.record_failure(A, server_error())
    health.record_failure(A, server_error())
    assert health.readiness(A) is Readiness.UP
    health.record_failure(A, server_error())
    assert health.readiness(A) is Readiness.DOWN
    assert events.seen == [("m/a", True), ("m/a", False)]
    clock.now += 29.9
    assert health.readiness(A) is Readiness.DOWN
    clock.now += 0.2
    assert health.readiness(A) is Readiness.PROBE


async def test_one_probe_decides_success_brings_it_back(clock):
    events = Events()
    health = book(clock, events, allowed_fails=1)
    for _ in range(2):
        health.record_failure(A, server_error())
    clock.now += 31
    assert await health.claim_probe(A)
    assert not await health.claim_probe(A)  # one probe at a time
    assert health.readiness(A) is Readiness.DOWN  # the others keep skipping it
    health.record_success(A, probe=True)
    assert health.readiness(A) is Readiness.UP
    assert events.seen[-1] == ("m/a", True)


async def test_one_probe_decides_failure_cools_it_down_again(clock):
    health = book(clock, allowed_fails=1)
    for _ in range(2):
        health.record_failure(A, server_error())
    clock.now += 31
    assert await health.claim_probe(A)
    health.record_failure(A, UpstreamTimeoutError("slow"), probe=True)
    assert health.readiness(A) is Readiness.DOWN
    clock.now += 29
    assert health.readiness(A) is Readiness.DOWN
    clock.now += 2
    assert health.readiness(A) is Readiness.PROBE


async def test_a_probe_whose_caller_left_frees_the_claim(clock):
    health = book(clock, allowed_fails=1)
    for _ in range(2):
        health.record_failure(A, server_error())
    clock.now += 31
    assert await health.claim_probe(A)
    health.release_probe(A)
    assert health.readiness(A) is Readiness.PROBE
    assert await health.claim_probe(A)


def test_a_429_cools_the_deployment_for_exactly_its_retry_after(clock):
    health = book(clock, cooldown_s=30)
    health.record_failure(A, RateLimitedError("slow down", retry_after=4))
    assert health.readiness(A) is Readiness.DOWN
    assert health.cooling_until(A) == clock.now + 4
    clock.now += 4
    assert health.readiness(A) is Readiness.PROBE


def test_an_error_rate_over_the_window_cools_down_without_a_run_of_failures(clock):
    health = book(clock, allowed_fails=100, window_s=10, max_error_rate=0.5, min_window_attempts=8)
    for _ in range(3):
        health.record_success(A)
        health.record_failure(A, server_error())
    clock.now += 11  # those six fall out of the window
    for _ in range(3):
        health.record_success(A)
        health.record_failure(A, server_error())
    assert health.readiness(A) is Readiness.UP  # 3 of 6 in the window: not enough attempts
    health.record_success(A)
    health.record_failure(A, server_error())
    assert health.readiness(A) is Readiness.DOWN  # 4 of 8


def test_errors_that_are_the_callers_fault_do_not_count(clock):
    health = book(clock, allowed_fails=0)
    health.record_failure(A, InvalidRequestError("bad temperature"))
    health.record_failure(A, ContextWindowExceededError("too long"))
    assert health.readiness(A) is Readiness.UP
    assert not counts_against_deployment(ContextWindowExceededError("too long"))
    assert counts_against_deployment(UpstreamAuthError("key rejected"))
    assert counts_against_deployment(RateLimitedError("429"))


def test_cooldown_zero_never_cools_down_for_failures(clock):
    health = book(clock, cooldown_s=0, allowed_fails=1)
    for _ in range(10):
        health.record_failure(A, server_error())
    assert health.readiness(A) is Readiness.UP


def test_a_success_from_a_request_sent_before_the_cooldown_does_not_end_it(clock):
    health = book(clock, allowed_fails=0)
    health.record_failure(A, server_error())
    health.record_success(A)  # an older request finishing late
    assert health.readiness(A) is Readiness.DOWN


async def test_with_a_sync_only_the_process_that_wins_the_claim_probes(clock):
    sync = Sync(grant=False)
    health = book(clock, allowed_fails=0)
    health.sync = sync
    health.record_failure(A, server_error())
    assert sync.calls == [("cooled", "m/a")]
    clock.now += 31
    assert not await health.claim_probe(A)
    assert health.readiness(A) is Readiness.DOWN
    # The winner's probe worked: the shared table no longer lists the deployment.
    health.merge_remote({})
    assert health.readiness(A) is Readiness.UP
    assert ("restored", "m/a") not in sync.calls  # nothing to tell: it came from there


def test_a_cooldown_from_another_process_applies_here(clock):
    events = Events()
    health = book(clock, events)
    health.merge_remote({"m/a": clock.now + 10})
    assert health.readiness(A) is Readiness.DOWN
    assert events.seen == [("m/a", False)]
    assert health.cooling() == {"m/a": clock.now + 10}
    clock.now += 10
    assert health.cooling() == {}
    health.merge_remote({"m/a": clock.now - 0.1})  # over, nobody probed yet
    assert health.readiness(A) is Readiness.PROBE

"""Identical work in flight is done once; waiters share the leader's result or try themselves."""

from __future__ import annotations

import asyncio

from cache.flights import SingleFlight


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_the_first_caller_leads_and_the_others_get_its_result():
    flights: SingleFlight[str] = SingleFlight(max_age_s=60)
    leader = flights.join("k")
    waiters = [flights.join("k") for _ in range(5)]
    assert leader.lead and not any(w.lead for w in waiters)
    pending = [asyncio.create_task(flights.wait(w, timeout_s=10)) for w in waiters]
    flights.end(leader, "answer")
    assert await asyncio.gather(*pending) == ["answer"] * 5
    assert len(flights) == 0
    assert flights.join("k").lead  # the next caller starts a new flight


async def test_a_leader_that_fails_releases_its_waiters_empty_handed():
    flights: SingleFlight[str] = SingleFlight(max_age_s=60)
    leader = flights.join("k")
    waiter = asyncio.create_task(flights.wait(flights.join("k"), timeout_s=10))
    flights.end(leader, None)
    assert await waiter is None


async def test_a_waiter_gives_up_after_its_bound():
    flights: SingleFlight[str] = SingleFlight(max_age_s=60)
    leader = flights.join("k")
    assert await flights.wait(flights.join("k"), timeout_s=0.01) is None
    flights.end(leader, "late")  # still fine to end afterwards


async def test_different_keys_fly_separately():
    flights: SingleFlight[str] = SingleFlight(max_age_s=60)
    assert flights.join("a").lead and flights.join("b").lead


async def test_a_flight_whose_leader_vanished_goes_stale():
    clock = Clock()
    flights: SingleFlight[str] = SingleFlight(max_age_s=5, clock=clock)
    lost = flights.join("k")
    assert not flights.join("k").lead
    clock.now += 5
    fresh = flights.join("k")
    assert fresh.lead and fresh is not lost
    waiter = flights.join("k")
    assert not waiter.lead
    flights.end(lost, "old")  # the lost leader ending late does not end the new flight
    assert waiter.result is not None and not waiter.result.done()
    flights.end(fresh, "new")
    assert waiter.result.result() == "new"

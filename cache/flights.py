"""Single flight: identical work in progress in this process is done once.

The first caller for a key becomes the leader and gets ``lead=True``; callers
that arrive while it works get the leader's future and wait on it, for a
bounded time. The leader ends its flight with a result (shared by the waiters)
or with ``None`` (it failed: the waiters go and try for themselves).

A flight whose leader never ended it (a stream the client dropped before it
began) goes stale after ``max_age_s``: the next caller leads a new one, so a
lost leader costs waiters at most one bounded wait.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Flight", "SingleFlight"]

T = TypeVar("T")


class Flight(Generic[T]):
    """A leader's flight (``lead``), or a waiter's ticket to it. The future the
    waiters wait on is made by the first waiter: most flights have none, and a
    leader alone should not pay for one."""

    __slots__ = ("key", "lead", "result", "started")

    def __init__(
        self, key: str, lead: bool, started: float, result: asyncio.Future[T | None] | None = None
    ) -> None:
        self.key = key
        self.lead = lead  # True: this caller does the work and must end the flight
        self.started = started
        self.result = result  # the leader's outcome, once a waiter asked for it


class SingleFlight(Generic[T]):
    def __init__(self, max_age_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age_s = max_age_s
        self._clock = clock
        self._flights: dict[str, Flight[T]] = {}  # key -> its leader's flight

    def __len__(self) -> int:
        return len(self._flights)

    def join(self, key: str) -> Flight[T]:
        """The flight for ``key``: a new one led by the caller, or a ticket to wait on
        the one in progress."""
        now = self._clock()
        leader = self._flights.get(key)
        if leader is not None and now - leader.started < self.max_age_s:
            if leader.result is None:
                leader.result = asyncio.get_running_loop().create_future()
            return Flight(key, False, leader.started, leader.result)
        flight: Flight[T] = Flight(key, True, now)
        self._flights[key] = flight
        return flight

    def end(self, flight: Flight[T], result: T | None) -> None:
        """The leader is done: ``result`` goes to every waiter (None: they try themselves)."""
        if not flight.lead:
            return
        if self._flights.get(flight.key) is flight:
            del self._flights[flight.key]
        if flight.result is not None and not flight.result.done():
            flight.result.set_result(result)

    async def wait(self, flight: Flight[T], timeout_s: float) -> T | None:
        """The leader's result, or None if it failed or took longer than ``timeout_s``."""
        assert flight.result is not None, "only a waiter's ticket is waited on"
        try:
            return await asyncio.wait_for(asyncio.shield(flight.result), timeout_s)
        except TimeoutError:
            return None

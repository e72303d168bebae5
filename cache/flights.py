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
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Flight", "SingleFlight"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Flight(Generic[T]):
    key: str
    lead: bool  # True: this caller does the work and must end the flight
    result: asyncio.Future[T | None]


class SingleFlight(Generic[T]):
    def __init__(self, max_age_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_age_s = max_age_s
        self._clock = clock
        self._flights: dict[str, tuple[float, asyncio.Future[T | None]]] = {}

    def __len__(self) -> int:
        return len(self._flights)

    def join(self, key: str) -> Flight[T]:
        """The flight for ``key``: a new one led by the caller, or the one in progress."""
        now = self._clock()
        found = self._flights.get(key)
        if found is not None and now - found[0] < self.max_age_s and not found[1].done():
            return Flight(key, False, found[1])
        future: asyncio.Future[T | None] = asyncio.get_running_loop().create_future()
        self._flights[key] = (now, future)
        return Flight(key, True, future)

    def end(self, flight: Flight[T], result: T | None) -> None:
        """The leader is done: ``result`` goes to every waiter (None: they try themselves)."""
        if not flight.lead:
            return
        found = self._flights.get(flight.key)
        if found is not None and found[1] is flight.result:
            del self._flights[flight.key]
        if not flight.result.done():
            flight.result.set_result(result)

    async def wait(self, flight: Flight[T], timeout_s: float) -> T | None:
        """The leader's result, or None if it failed or took longer than ``timeout_s``."""
        try:
            return await asyncio.wait_for(asyncio.shield(flight.result), timeout_s)
        except TimeoutError:
            return None

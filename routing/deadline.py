"""A request's deadline (``routing.timeout_s``), kept with one timer per request.

``asyncio.timeout`` would arm a timer per upstream attempt and, for a stream, per
chunk. A ``Deadline`` arms one for the whole request: while an attempt awaits the
upstream it is *armed* (it knows the waiting task), and when the time comes the
timer cancels that task, the same way ``asyncio.timeout`` does. The attempt then
asks ``caused`` whether a ``CancelledError`` is the deadline's (which it turns
into a timeout) or someone else's (the client went away: it propagates).
Between attempts nothing is armed, and callers check ``passed`` instead.
"""

from __future__ import annotations

import asyncio

__all__ = ["Deadline"]


class Deadline:
    __slots__ = ("_cancelling", "_fired", "_handle", "_loop", "_task", "at", "expired")

    def __init__(self, timeout_s: float) -> None:
        self._loop = asyncio.get_running_loop()
        self.at = self._loop.time() + timeout_s
        self.expired = False
        self._fired = False  # the timer cancelled a waiting task
        self._task: asyncio.Task[object] | None = None
        self._cancelling = 0
        self._handle: asyncio.TimerHandle | None = self._loop.call_at(self.at, self._expire)

    def time(self) -> float:
        """The event loop's clock, which ``at`` is measured on."""
        return self._loop.time()

    def passed(self) -> bool:
        return self.expired or self._loop.time() >= self.at

    def arm(self) -> None:
        """The current task is about to wait on the upstream: cancel it at the deadline."""
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self._cancelling = task.cancelling()

    def disarm(self) -> None:
        self._task = None

    def caused(self) -> bool:
        """In ``except CancelledError`` of an armed wait: True when the deadline did it
        (its cancellation is then withdrawn), False when the cancellation is another's."""
        task = asyncio.current_task()
        if not self._fired or task is None:
            return False
        self._fired = False
        return task.uncancel() <= self._cancelling

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._task = None

    def _expire(self) -> None:
        self.expired = True
        self._handle = None
        if self._task is not None:
            self._fired = True
            self._task.cancel()

"""A request's deadline (``routing.timeout_s``); one loop timer for all of them.

``asyncio.timeout`` would arm a timer per upstream attempt and, for a stream, per
chunk. A ``Deadline`` covers the whole request: while an attempt awaits the
upstream it is *armed* (it knows the waiting task), and when the time comes it
cancels that task, the same way ``asyncio.timeout`` does. The attempt then asks
``caused`` whether a ``CancelledError`` is the deadline's (which it turns into a
timeout) or someone else's (the client went away: it propagates). Between
attempts nothing is armed, and callers check ``passed`` instead.

Even one loop timer per request is dear (``call_at`` and its cancel cost ~9k
instructions on uvloop), and almost every request ends long before its deadline.
So a ``DeadlineTimer`` keeps the deadlines it starts in a queue and runs a single
timer, for the earliest one. Every deadline it starts has the same length, so the
queue is in deadline order: starting one is an append, closing one a flag, and
the timer, when it fires, drops closed deadlines from the front, expires the
due ones and is set again for the next.
"""

from __future__ import annotations

import asyncio
from collections import deque

__all__ = ["Deadline", "DeadlineTimer"]

# Timers may fire up to a clock tick (uvloop: a millisecond) before their time: a
# deadline that close counts as due rather than costing another round of the loop.
_EARLY_S = 0.001
# Closed deadlines are dropped from the queue in one pass once they outnumber the
# open ones by this many (a request that outlives the ones after it would otherwise
# keep them queued until its own deadline).
_SLACK = 64


class Deadline:
    __slots__ = ("_cancelling", "_fired", "_task", "_timer", "at", "closed", "expired")

    def __init__(self, timer: DeadlineTimer, at: float) -> None:
        self._timer = timer
        self.at = at  # on the event loop's clock
        self.expired = False
        self.closed = False
        self._fired = False  # the deadline cancelled a waiting task
        self._task: asyncio.Task[object] | None = None
        self._cancelling = 0

    def time(self) -> float:
        """The event loop's clock, which ``at`` is measured on."""
        return self._timer.time()

    def passed(self) -> bool:
        return self.expired or self._timer.time() >= self.at

    def arm(self) -> None:
        """The current task is about to wait on the upstream: cancel it at the deadline."""
        task = asyncio.current_task(self._timer.loop)  # the loop named: no getpid()
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
        """The request is over: the deadline no longer cancels anything."""
        self._task = None
        if not self.closed:
            self.closed = True
            if not self.expired:
                self._timer.closed_one()

    def _expire(self) -> None:
        self.expired = True
        if self._task is not None:
            self._fired = True
            self._task.cancel()


class DeadlineTimer:
    """Starts deadlines ``timeout_s`` from now, all kept by one loop timer."""

    __slots__ = ("_handle", "_loop", "_open", "_queue", "timeout_s")

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: deque[Deadline] = deque()  # in deadline order
        self._open = 0  # queued and not closed
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> Deadline:
        loop = self._loop
        # Only one loop runs per thread, so a running ``_loop`` is the caller's; asking
        # asyncio for it costs a getpid() system call per request on Python 3.11.
        if loop is None or not loop.is_running():
            loop = asyncio.get_running_loop()
            if loop is not self._loop:  # a new loop (tests): the old one's deadlines are gone
                self._loop, self._queue, self._open, self._handle = loop, deque(), 0, None
        deadline = Deadline(self, loop.time() + self.timeout_s)
        self._queue.append(deadline)
        self._open += 1
        if self._handle is None:
            self._handle = loop.call_at(deadline.at, self._fire)
        return deadline

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop of the deadlines started last (None before the first)."""
        return self._loop

    def time(self) -> float:
        loop = self._loop
        return loop.time() if loop is not None else asyncio.get_running_loop().time()

    def closed_one(self) -> None:
        """A queued deadline closed before its time."""
        self._open -= 1
        queue = self._queue
        if len(queue) > 2 * self._open + _SLACK:
            self._queue = deque(d for d in queue if not d.closed)

    def _fire(self) -> None:
        self._handle = None
        loop = self._loop
        assert loop is not None
        due = loop.time() + _EARLY_S
        queue = self._queue
        while queue:
            head = queue[0]
            if not head.closed:
                if head.at > due:
                    self._handle = loop.call_at(head.at, self._fire)
                    return
                self._open -= 1
                head._expire()
            queue.popleft()

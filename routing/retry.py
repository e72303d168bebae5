"""Retries on one deployment, with tenacity.

Only errors marked ``retryable`` in the taxonomy are retried (unreachable, 5xx,
timeout, 429, "overloaded"); never another 4xx. Between attempts Arbiter waits
an exponential backoff with jitter (``backoff_base_s * 2**(n-1)``, capped at
``backoff_max_s``, half of it random), or the provider's ``Retry-After`` hint if
that is longer. It stops early when

- ``routing.retries`` retries are used up,
- the wait would end past the request's deadline (``routing.timeout_s``), or
- a ``Retry-After`` hint is longer than ``backoff_max_s``: waiting that long is
  worse than trying another deployment or answering now.

The first attempt runs outside tenacity (``Executor`` calls the upstream once and
only hands a failure to ``RetryPolicy.retry``), so the happy path pays nothing for
the retry machinery. ``retry`` replays that first failure into tenacity so that
attempt counting and waits are tenacity's.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from providers.errors import GatewayError

__all__ = ["RetryPolicy"]

T = TypeVar("T")


class _Backoff(wait_base):
    """Exponential backoff with equal jitter, or the Retry-After hint if longer."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy

    def __call__(self, retry_state: RetryCallState) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        hint = error.retry_after if isinstance(error, GatewayError) else None
        return self.policy.wait_before(retry_state.attempt_number, hint)


class _StopPastDeadline(stop_base):
    """Stop when the coming wait would end past the deadline or is longer than the cap."""

    def __init__(self, deadline: float, clock: Callable[[], float], cap: float) -> None:
        self.deadline = deadline
        self.clock = clock
        self.cap = cap

    def __call__(self, retry_state: RetryCallState) -> bool:
        wait = retry_state.upcoming_sleep
        return wait > self.cap or self.clock() + wait >= self.deadline


class RetryPolicy:
    def __init__(
        self,
        retries: int = 2,
        backoff_base_s: float = 0.25,
        backoff_max_s: float = 8.0,
        *,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.retries = retries
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.rng = rng or random.Random()
        self.clock = clock
        # Built once; ``retry`` copies it per failing deployment (tenacity keeps
        # per-run state on the object, so concurrent runs need their own copy).
        self._template = AsyncRetrying(wait=_Backoff(self), sleep=sleep, reraise=True)

    def backoff(self, failures: int) -> float:
        """The wait after ``failures`` failed attempts: half fixed, half random."""
        step = min(self.backoff_max_s, self.backoff_base_s * 2 ** max(failures - 1, 0))
        return step / 2 + self.rng.uniform(0.0, step / 2)

    def wait_before(self, failures: int, retry_after: float | None) -> float:
        wait = self.backoff(failures)
        return max(wait, retry_after) if retry_after is not None else wait

    async def retry(
        self,
        call: Callable[[], Awaitable[T]],
        first_error: GatewayError,
        *,
        deadline: float,
        may_retry: Callable[[GatewayError], bool],
    ) -> T:
        """Retry ``call`` after its first attempt failed with ``first_error``.

        ``may_retry`` adds the caller's conditions (e.g. another deployment is
        waiting). Returns the first success; raises the last error otherwise.
        """
        if self.retries <= 0 or not first_error.retryable or not may_retry(first_error):
            raise first_error

        def wanted(error: BaseException) -> bool:
            return isinstance(error, GatewayError) and error.retryable and may_retry(error)

        clock = self.clock or asyncio.get_running_loop().time
        retrying = self._template.copy(
            stop=stop_after_attempt(self.retries + 1)
            | _StopPastDeadline(deadline, clock, self.backoff_max_s),
            retry=retry_if_exception(wanted),
        )
        replay = True
        async for attempt in retrying:
            with attempt:
                if replay:  # attempt 1 already happened; let tenacity see how it failed
                    replay = False
                    raise first_error
                return await call()
        raise first_error  # not reached: tenacity returns or re-raises the last error

"""GCRA (the generic cell rate algorithm): rate limits that are exact, O(1) and atomic.

A limit of ``limit`` units per ``period`` is one number per key, the theoretical
arrival time (TAT): when the key's allowance would be full again. A request of
``cost`` units moves it ``cost * period / limit`` later; it is admitted if the
new TAT is at most one period ahead of now. So a fresh key may spend its whole
limit at once, and then one unit per ``period / limit``: the (N+1)th request of
a burst learns exactly when one more unit is free (its Retry-After).

Several limits (requests and tokens) are decided together: all admit and all are
charged, or none is. With Redis this is one Lua script, so every process sharing
the Redis shares the limit; without it (or while Redis is down, see
``routing.state``) the same arithmetic runs on a dict in this process. Times are
the gateway's wall clock in milliseconds, so processes on hosts kept in sync by
NTP agree to within their clock skew.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.asyncio import Redis

from routing.state import SharedState

__all__ = ["Decision", "Gcra", "Limit", "LimitState"]

_SLACK_MS = 0.01  # float rounding: a TAT this close to the edge is on it (also in _ACQUIRE)

# KEYS: one per limit. ARGV[1]: now (ms); then per limit: period (ms), limit, cost.
# Returns the wait in ms (0: admitted and charged) and each limit's TAT afterwards.
_ACQUIRE = """
local now = tonumber(ARGV[1])
local wait = 0
local tats = {}
for i = 1, #KEYS do
  local period = tonumber(ARGV[3 * i - 1])
  local step = period / tonumber(ARGV[3 * i])
  local tat = math.max(tonumber(redis.call('GET', KEYS[i]) or '0'), now)
  local new_tat = tat + tonumber(ARGV[3 * i + 1]) * step
  local late = new_tat - period - now
  if late > 0.01 and late > wait then wait = late end
  tats[i] = {tat, new_tat}
end
local out = {string.format('%.3f', wait)}
for i = 1, #KEYS do
  local tat = tats[i][1]
  if wait == 0 then
    tat = tats[i][2]
    redis.call('SET', KEYS[i], string.format('%.3f', tat), 'PX', math.max(1, math.ceil(tat - now)))
  end
  out[i + 1] = string.format('%.3f', tat)
end
return out
"""

# KEYS[1]; ARGV: now (ms), period (ms), limit, units to add (negative: give back).
_ADJUST = """
local now = tonumber(ARGV[1])
local step = tonumber(ARGV[2]) / tonumber(ARGV[3])
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now) + tonumber(ARGV[4]) * step
if tat <= now then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.max(1, math.ceil(tat - now)))
end
return 1
"""


@dataclass(frozen=True, slots=True)
class Limit:
    name: str  # "requests" | "tokens": says which limit refused
    key: str  # state key (without the store's prefix)
    limit: int
    period_s: float
    cost: float


@dataclass(frozen=True, slots=True)
class LimitState:
    """One limit after a decision, as OpenAI's ``x-ratelimit-*`` headers report it."""

    name: str
    limit: int
    remaining: int  # units still available now
    reset_s: float  # until the allowance is full again
    wait_s: float  # until this limit alone would admit the request (0: it does)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after_s: float
    states: tuple[LimitState, ...]


def _state(limit: Limit, tat_ms: float, now_ms: float) -> LimitState:
    period_ms = limit.period_s * 1000
    step = period_ms / limit.limit
    ahead = max(0.0, tat_ms - now_ms)
    remaining = max(0, math.floor((period_ms - ahead + _SLACK_MS) / step))
    wait = max(0.0, ahead + limit.cost * step - period_ms)
    return LimitState(limit.name, limit.limit, remaining, ahead / 1000, wait / 1000)


class Gcra:
    def __init__(
        self,
        store: Callable[[], SharedState | None],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.clock = clock  # seconds since the epoch; tests inject a fake one
        self._local: dict[str, float] = {}
        self._scripts: dict[int, tuple[Any, Any]] = {}

    @property
    def shared(self) -> bool:
        """True when limits live in Redis (corrections then need a round trip)."""
        store = self.store()
        return store is not None and store.shared

    def _scripts_for(self, redis: Redis) -> tuple[Any, Any]:
        scripts = self._scripts.get(id(redis))
        if scripts is None:
            scripts = (redis.register_script(_ACQUIRE), redis.register_script(_ADJUST))
            self._scripts[id(redis)] = scripts
        return scripts

    async def acquire(self, limits: Sequence[Limit]) -> Decision:
        """Admit and charge every limit, or none; says when to retry if not."""
        now = self.clock() * 1000
        store = self.store()
        if store is None:
            return self._decide(self._acquire_local(limits, now), limits, now)
        keys = [store.key(limit.key) for limit in limits]

        async def remote(redis: Redis) -> list[float]:
            args: list[float] = [now]
            for limit in limits:
                args += [limit.period_s * 1000, limit.limit, limit.cost]
            reply = await self._scripts_for(redis)[0](keys=keys, args=args)
            return [float(v) for v in reply]

        reply = await store.run("rate-limit", remote, lambda: self._acquire_local(limits, now))
        return self._decide(reply, limits, now)

    def _acquire_local(self, limits: Sequence[Limit], now: float) -> list[float]:
        before = [max(self._local.get(limit.key, 0.0), now) for limit in limits]
        after = [
            tat + limit.cost * limit.period_s * 1000 / limit.limit
            for tat, limit in zip(before, limits, strict=True)
        ]
        wait = max(
            (tat - limit.period_s * 1000 - now for tat, limit in zip(after, limits, strict=True)),
            default=0.0,
        )
        if wait > _SLACK_MS:
            return [wait, *before]
        for limit, tat in zip(limits, after, strict=True):
            self._local[limit.key] = tat
        return [0.0, *after]

    @staticmethod
    def _decide(reply: list[float], limits: Sequence[Limit], now: float) -> Decision:
        wait, tats = reply[0], reply[1:]
        states = tuple(_state(limit, tat, now) for limit, tat in zip(limits, tats, strict=True))
        if wait <= 0:
            # Admitted: the states are after the charge, so nothing is left to wait for.
            states = tuple(LimitState(s.name, s.limit, s.remaining, s.reset_s, 0.0) for s in states)
        return Decision(wait <= 0, wait / 1000, states)

    async def adjust(self, limit: Limit) -> None:
        """Charge ``limit.cost`` more units (or give them back, if negative), unconditionally."""
        now = self.clock() * 1000
        store = self.store()
        if store is None:
            self._adjust_local(limit, now)
            return
        key = store.key(limit.key)

        async def remote(redis: Redis) -> None:
            args = [now, limit.period_s * 1000, limit.limit, limit.cost]
            await self._scripts_for(redis)[1](keys=[key], args=args)

        await store.run("rate-limit-adjust", remote, lambda: self._adjust_local(limit, now))

    def adjust_local(self, limit: Limit) -> None:
        """``adjust`` on this process's state, at once."""
        self._adjust_local(limit, self.clock() * 1000)

    def _adjust_local(self, limit: Limit, now: float) -> None:
        step = limit.period_s * 1000 / limit.limit
        tat = max(self._local.get(limit.key, 0.0), now) + limit.cost * step
        if tat <= now:
            self._local.pop(limit.key, None)
        else:
            self._local[limit.key] = tat

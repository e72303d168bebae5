"""The usage ledger: requests, tokens and cost per key and model, by UTC day.

Every answered request is recorded once (``record``, from the request hooks).
Kept in the state store, so with Redis it is shared by every process and
survives a restart:

- ``usage:<YYYY-MM-DD>`` and ``usage:total``: hashes of
  ``<key>\\x1f<model>\\x1f<field>`` → count (``requests``, ``prompt_tokens``,
  ``completion_tokens``, ``cost_usd``); days expire after ``RETENTION_DAYS``;
- ``spend:<key>:<YYYY-MM-DD>`` and ``spend:<key>:total``: dollars, read by the
  budget check in one MGET.

Every record also goes to this process's copy, which answers while Redis is
away. A record is written to Redis in the background; until it lands, its spend
is held as pending here, so a budget check in this process never misses it.
Records that Redis could not take (it was away) are kept, summed per key, model
and day, and sent with the next write, or by ``flush`` (``/v1/usage`` and
shutdown call it): an outage delays usage and spend in Redis, it loses none. A
write that fails after Redis applied it (the connection dropped before the
reply) is sent again, so such a record can count twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from redis.asyncio import Redis

from routing.state import SharedState

__all__ = ["FIELDS", "RETENTION_DAYS", "UsageLedger", "UsageRow", "day_of", "days_back"]

log = logging.getLogger("arbiter")

RETENTION_DAYS = 400
FIELDS = ("requests", "prompt_tokens", "completion_tokens", "cost_usd")
_SEP = "\x1f"
_TOTAL = "total"
_SPEND_TTL_S = 32 * 86400  # a 30d budget reads 30 days back
_NO_SPEND = (0.0,)  # a day this process recorded no spend on


def day_of(timestamp: float) -> date:
    return datetime.fromtimestamp(timestamp, UTC).date()


@dataclass(slots=True)
class UsageRow:
    key: str
    model: str
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    def add(self, name: str, value: float) -> None:
        if name == "cost_usd":
            self.cost_usd += value
        elif name in FIELDS:
            setattr(self, name, getattr(self, name) + int(value))


@dataclass(slots=True)
class _Local:
    usage: dict[tuple[str, str, str], list[float]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0, 0, 0.0])
    )
    # (key, period) -> [dollars]: a one-item list, so that ``_Rows`` can hold it
    spend: dict[tuple[str, str], list[float]] = field(
        default_factory=lambda: defaultdict(lambda: [0.0])
    )


class _Rows(NamedTuple):
    """What a record of one (key, model) adds to in the local copy today: its usage
    and its key's spend, for the day and in total. Looked up once per key, model and
    day instead of four times per request."""

    day: list[float]
    total: list[float]
    day_spend: list[float]
    total_spend: list[float]


class UsageLedger:
    def __init__(
        self,
        store: Callable[[], SharedState | None],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.clock = clock  # seconds since the epoch; tests inject a fake one
        self._local = _Local()
        self._pending: dict[str, float] = defaultdict(float)
        self._unsent: dict[tuple[str, str, str], list[float]] = {}  # (key, model, day) -> sums
        self._tasks: set[asyncio.Task[None]] = set()
        self._day_cache: tuple[int, str] = (-1, "")
        self._today: dict[tuple[str, str], _Rows] = {}  # of the day in ``_day_cache``

    # -- writing -----------------------------------------------------------

    def _day(self, timestamp: float) -> str:
        """The UTC day of a time, worked out once per second of the clock; a new day
        starts new rows."""
        second = int(timestamp)
        if self._day_cache[0] != second:
            day = day_of(timestamp).isoformat()
            if day != self._day_cache[1]:
                self._today = {}
            self._day_cache = (second, day)
        return self._day_cache[1]

    def _today_rows(self, day: str, key: str, model: str) -> _Rows:
        local = self._local
        rows = self._today[(key, model)] = _Rows(
            local.usage[(day, key, model)],
            local.usage[(_TOTAL, key, model)],
            local.spend[(key, day)],
            local.spend[(key, _TOTAL)],
        )
        return rows

    def record(self, key: str, model: str, usage: Mapping[str, Any] | None, cost: float) -> None:
        """One answered request. Synchronous: the local copy is updated at once and the
        Redis write, if any, is sent in the background."""
        day = self._day(self.clock())
        prompt = int(usage.get("prompt_tokens") or 0) if usage else 0
        completion = int(usage.get("completion_tokens") or 0) if usage else 0
        rows = self._today.get((key, model)) or self._today_rows(day, key, model)
        day_row, total_row = rows.day, rows.total  # written out: this runs on every request
        day_row[0] += 1
        total_row[0] += 1
        # Nothing added where there is nothing to add (a cache hit: no tokens, no cost).
        if prompt or completion:
            day_row[1] += prompt
            day_row[2] += completion
            total_row[1] += prompt
            total_row[2] += completion
        if cost:
            day_row[3] += cost
            total_row[3] += cost
            rows.day_spend[0] += cost
            rows.total_spend[0] += cost
        store = self.store()
        if store is None or not store.shared:
            return
        self._pending[key] += cost
        _add(self._unsent, (key, model, day), (1, prompt, completion, cost))
        self._spawn(self._send(store))

    async def _send(self, store: SharedState, *, force: bool = False) -> None:
        """Writes every record not yet in Redis in one pipeline; keeps them if it fails."""
        batch, self._unsent = self._unsent, {}
        if not batch:
            return  # an earlier write took them along

        async def remote(redis: Redis) -> bool:
            pipe = redis.pipeline(transaction=False)
            for (key, model, day), values in batch.items():
                for period in (day, _TOTAL):
                    name = store.key("usage", period)
                    for field_name, value in zip(FIELDS, values, strict=True):
                        member = _SEP.join((key, model, field_name))
                        if field_name == "cost_usd":
                            pipe.hincrbyfloat(name, member, value)
                        else:
                            pipe.hincrby(name, member, int(value))
                    pipe.incrbyfloat(store.key("spend", key, period), values[3])
                pipe.expire(store.key("usage", day), RETENTION_DAYS * 86400)
                pipe.expire(store.key("spend", key, day), _SPEND_TTL_S)
            await pipe.execute()
            return True

        sent = False
        try:
            sent = await store.run("usage-record", remote, lambda: False, force=force)
        finally:
            for entry, values in batch.items():
                if sent:
                    self._pending[entry[0]] -= values[3]
                else:
                    _add(self._unsent, entry, values)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def flush(self, *, force: bool = False) -> None:
        """Waits until every record so far has been sent to the store; records it
        could not take earlier are sent once more (``force``: even if Redis failed
        a moment ago)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        store = self.store()
        if self._unsent and store is not None and store.shared:
            await self._send(store, force=force)

    async def aclose(self) -> None:
        """At shutdown: the last chance to write, so Redis is tried whatever happened."""
        await self.flush(force=True)
        if self._unsent:
            requests = sum(int(values[0]) for values in self._unsent.values())
            log.warning(
                "usage of %d requests could not be written to the shared state store", requests
            )

    # -- reading -----------------------------------------------------------

    async def daily_spend(self, key: str, days: list[str]) -> list[float]:
        """Dollars spent by a key on each of the given days (ISO dates, oldest first, or
        ["total"]); spend recorded here but not yet in Redis counts on the last one."""
        local = [self._local.spend.get((key, day), _NO_SPEND)[0] for day in days]
        store = self.store()
        if store is None or not store.shared:
            return local
        names = [store.key("spend", key, day) for day in days]

        async def remote(redis: Redis) -> list[float]:
            return [float(v or 0) for v in await redis.mget(names)]

        spent = await store.run("budget-read", remote, lambda: local)
        if spent is not local and days:
            spent[-1] += max(0.0, self._pending.get(key, 0.0))
        return spent

    async def rows(self, periods: Iterable[str]) -> list[UsageRow]:
        """Usage per (key, model), summed over the given days (or ["total"])."""
        periods = list(periods)
        store = self.store()
        if store is not None and store.shared:
            await self.flush()
            names = [store.key("usage", p) for p in periods]

            async def remote(redis: Redis) -> list[tuple[str, float]]:
                pipe = redis.pipeline(transaction=False)
                for name in names:
                    pipe.hgetall(name)
                found = []
                for mapping in await pipe.execute():
                    found += [(k.decode(), float(v)) for k, v in mapping.items()]
                return found

            entries = await store.run("usage-read", remote, lambda: self._local_entries(periods))
        else:
            entries = self._local_entries(periods)
        rows: dict[tuple[str, str], UsageRow] = {}
        for member, value in entries:
            key, model, name = member.split(_SEP)
            rows.setdefault((key, model), UsageRow(key, model)).add(name, value)
        return sorted(rows.values(), key=lambda r: (r.key, r.model))

    def _local_entries(self, periods: list[str]) -> list[tuple[str, float]]:
        wanted = set(periods)
        return [
            (_SEP.join((key, model, name)), value)
            for (period, key, model), values in self._local.usage.items()
            if period in wanted
            for name, value in zip(FIELDS, values, strict=True)
        ]


def _add(
    sums: dict[tuple[str, str, str], list[float]],
    entry: tuple[str, str, str],
    values: Iterable[float],
) -> None:
    row = sums.setdefault(entry, [0, 0, 0, 0.0])
    for i, value in enumerate(values):
        row[i] += value


def days_back(today: date, count: int) -> list[str]:
    """``count`` ISO dates ending with ``today``, oldest first."""
    return [(today - timedelta(days=count - 1 - i)).isoformat() for i in range(count)]

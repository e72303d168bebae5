"""The live scoreboard: per model and per deployment figures over a sliding window.

The executor reports every upstream attempt (``on_attempt``, an
``AttemptObserver``); recording adds to in-memory tallies and never awaits.
``sync`` (run periodically by the ranking service, and before /v1/rankings
answers) pushes what this process recorded since the last sync to Redis in one
pipeline, reads the window back merged across every process and replica, and
precomputes the view the hot path reads. Without Redis, or while it is down,
the view is this process's own tallies.

The window is a ring of time slices (wall-clock aligned, so replicas agree on
their boundaries). In Redis each slice is one hash, ``<prefix>sb:<slice>``, with
fields ``<kind>\\t<name>\\t<field>``, expiring once it leaves the window. A slice
that ended well before it was last read is final and is not read again, except
in the periodic full re-read that picks up a replica's late writes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from typing import Any

from providers.pricing import usage_cost_usd
from routing.executor import Attempt
from routing.ranking.histogram import bucket_of
from routing.ranking.tally import Observation, Stats, Tally, summarize
from routing.state import SharedState

__all__ = ["DEPLOYMENT", "MODEL", "Scoreboard", "observe"]

MODEL, DEPLOYMENT = "m", "d"
_SEP = "\t"
_MIN_GEN_S = 0.001  # a stream delivered all at once still took some time
_ERROR = Observation(error=True)

Slices = dict[int, dict[str, Tally]]


def observe(attempt: Attempt) -> Observation:
    """One attempt as the scoreboard counts it: an error is a request; a success also
    brings its latency, time to first token (streams), tokens, generation time and cost."""
    if attempt.error is not None:
        return _ERROR
    usage = attempt.usage or {}
    output = int(usage.get("completion_tokens") or 0)
    tokens = int(usage.get("prompt_tokens") or 0) + output
    ttft = attempt.ttft_s if attempt.stream else None
    gen = max(attempt.latency_s - (ttft or 0.0), _MIN_GEN_S) if output else 0.0
    return Observation(
        error=False,
        latency_bucket=bucket_of(attempt.latency_s),
        ttft_bucket=None if ttft is None else bucket_of(ttft),
        output_tokens=output,
        total_tokens=tokens,
        gen_seconds=gen,
        cost_usd=usage_cost_usd(usage, attempt.target),
    )


def _record(slices: Slices, slice_id: int, entry: str, observation: Observation) -> None:
    entries = slices.get(slice_id)
    if entries is None:
        entries = slices[slice_id] = {}
    tally = entries.get(entry)
    if tally is None:
        tally = entries[entry] = Tally()
    tally.record(observation)


def _add(slices: Slices, slice_id: int, entry: str, tally: Tally) -> None:
    entries = slices.setdefault(slice_id, {})
    if entry not in entries:
        entries[entry] = Tally()
    entries[entry].add(tally)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _parse_slice(raw: Mapping[Any, Any]) -> dict[str, Tally]:
    grouped: dict[str, dict[str, str]] = {}
    for name, value in raw.items():
        entry, _, short = _text(name).rpartition(_SEP)
        if entry:
            grouped.setdefault(entry, {})[short] = _text(value)
    return {entry: Tally.from_fields(fields) for entry, fields in grouped.items()}


class Scoreboard:
    def __init__(
        self,
        *,
        window_s: float = 900.0,
        slice_s: float = 60.0,
        full_reread_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.slice_s = slice_s
        self.slices = max(1, math.ceil(window_s / slice_s))
        self.full_reread_s = full_reread_s
        self.seal_after_s = max(10.0, slice_s / 2)
        self._clock = clock
        self._shared: SharedState | None = None
        self._local: Slices = {}  # everything this process recorded in the window
        self._pending: Slices = {}  # recorded here, not yet in Redis
        self._remote: Slices = {}  # read from Redis: every process's tallies
        self._read_at: dict[int, float] = {}
        self._last_full_read = -math.inf
        self._remote_ok = False
        self._view: dict[str, Stats] = {}
        self.generation = 0  # bumped whenever the view is rebuilt

    def attach(self, shared: SharedState | None) -> None:
        """Share through ``shared`` from now on (when it has Redis)."""
        self._shared = shared if shared is not None and shared.shared else None

    @property
    def shared(self) -> bool:
        """True while the view is read from Redis (every replica's tallies)."""
        return self._shared is not None and self._remote_ok

    # -- the hot path ---------------------------------------------------------

    def on_attempt(self, attempt: Attempt) -> None:
        slice_id = int(self._clock() // self.slice_s)
        observation = observe(attempt)
        for entry in (MODEL + _SEP + attempt.model, DEPLOYMENT + _SEP + attempt.target.id):
            _record(self._local, slice_id, entry, observation)
            if self._shared is not None:
                _record(self._pending, slice_id, entry, observation)

    def model(self, name: str) -> Stats | None:
        return self._view.get(MODEL + _SEP + name)

    def deployment(self, target_id: str) -> Stats | None:
        return self._view.get(DEPLOYMENT + _SEP + target_id)

    def models(self) -> dict[str, Stats]:
        return self._entries(MODEL)

    def deployments(self) -> dict[str, Stats]:
        return self._entries(DEPLOYMENT)

    def _entries(self, kind: str) -> dict[str, Stats]:
        prefix = kind + _SEP
        return {k[len(prefix) :]: v for k, v in self._view.items() if k.startswith(prefix)}

    # -- periodic work --------------------------------------------------------

    async def sync(self) -> None:
        """Flush to Redis, read the window back and rebuild the view."""
        now = self._clock()
        current = int(now // self.slice_s)
        oldest = current - self.slices + 1
        for slices in (self._local, self._pending, self._remote):
            for slice_id in [s for s in slices if s < oldest]:
                del slices[slice_id]
        for slice_id in [s for s in self._read_at if s < oldest]:
            del self._read_at[slice_id]
        if self._shared is not None:
            await self._flush(self._shared)
            await self._read(self._shared, now, oldest, current)
        self._rebuild(oldest, current)

    def _slice_key(self, shared: SharedState, slice_id: int) -> str:
        return shared.key("sb", slice_id)

    async def _flush(self, shared: SharedState) -> None:
        batch, self._pending = self._pending, {}
        if not batch:
            return
        ttl = math.ceil(self.slices * self.slice_s + 2 * self.slice_s)

        async def call(redis: Any) -> bool:
            pipe = redis.pipeline(transaction=False)
            for slice_id, entries in batch.items():
                key = self._slice_key(shared, slice_id)
                for entry, tally in entries.items():
                    for short, value in tally.fields().items():
                        name = f"{entry}{_SEP}{short}"
                        if isinstance(value, float):
                            pipe.hincrbyfloat(key, name, value)
                        else:
                            pipe.hincrby(key, name, value)
                pipe.expire(key, ttl)
            await pipe.execute()
            return True

        if not await shared.run("scoreboard-flush", call, lambda: False):
            for slice_id, entries in batch.items():  # keep them for the next sync
                for entry, tally in entries.items():
                    _add(self._pending, slice_id, entry, tally)

    async def _read(self, shared: SharedState, now: float, oldest: int, current: int) -> None:
        full = now - self._last_full_read >= self.full_reread_s
        wanted = [
            s
            for s in range(oldest, current + 1)
            if full
            or s not in self._read_at
            or self._read_at[s] < (s + 1) * self.slice_s + self.seal_after_s
        ]

        async def call(redis: Any) -> list[Any]:
            pipe = redis.pipeline(transaction=False)
            for slice_id in wanted:
                pipe.hgetall(self._slice_key(shared, slice_id))
            return list(await pipe.execute())

        result = await shared.run("scoreboard-read", call, lambda: None)
        if result is None:
            self._remote_ok = False
            return
        for slice_id, raw in zip(wanted, result, strict=True):
            self._remote[slice_id] = _parse_slice(raw or {})
            self._read_at[slice_id] = now
        if full:
            self._last_full_read = now
        self._remote_ok = True

    def _rebuild(self, oldest: int, current: int) -> None:
        sources = (self._remote, self._pending) if self.shared else (self._local,)
        grouped: dict[str, list[Tally]] = {}
        for slices in sources:
            for slice_id, entries in slices.items():
                if oldest <= slice_id <= current:
                    for entry, tally in entries.items():
                        grouped.setdefault(entry, []).append(tally)
        self._view = {entry: summarize(tallies) for entry, tallies in grouped.items()}
        self.generation += 1

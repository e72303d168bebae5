"""Which deployments take traffic: cooldown after failures, and one probe to come back.

A deployment is *cooled down* (skipped) for ``cooldown_s`` when it

- fails more than ``allowed_fails`` times in a row, or
- fails at least ``max_error_rate`` of its attempts over the last ``window_s``
  (once it has seen ``min_window_attempts`` there), or
- answers with a ``Retry-After`` hint (a 429, or a 503 that says when): then for
  exactly that long, whatever ``cooldown_s`` says.

When the cooldown ends the deployment is *half-open*: the first request that
claims the probe (``claim_probe``) tries it once; success brings it back,
failure cools it down again. Other requests keep skipping it meanwhile.

Only failures that are the deployment's fault count (unreachable, 5xx, timeout,
429, rejected credentials); a request the upstream refused as invalid shows the
deployment is up. Listeners hear every change (the ``arbiter_deployment_up``
gauge). ``CooldownSync`` (``routing.sync``) shares cooldowns and probe claims
between processes; without one, everything is local.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from providers.base import Target
from providers.errors import GatewayError, InvalidRequestError

__all__ = [
    "CooldownSync",
    "HealthBook",
    "HealthListener",
    "HealthPolicy",
    "Readiness",
    "counts_against_deployment",
]

_BUCKETS = 10  # the error-rate window is kept as this many time buckets


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    cooldown_s: float = 30.0
    allowed_fails: int = 3
    window_s: float = 10.0
    max_error_rate: float = 0.5
    min_window_attempts: int = 10
    probe_lease_s: float = 60.0  # a probe that never reports frees its claim after this


class Readiness(enum.Enum):
    UP = "up"  # takes traffic
    DOWN = "down"  # cooling down (or another request is probing it): skip
    PROBE = "probe"  # cooldown over: claim the probe to try it once


@runtime_checkable
class HealthListener(Protocol):
    def on_health(self, target: Target, up: bool) -> None: ...


class CooldownSync(Protocol):
    """Shares cooldowns with other processes (``routing.sync.StateSync``)."""

    def cooled(self, target_id: str, until: float) -> None: ...

    def restored(self, target_id: str) -> None: ...

    async def claim_probe(self, target_id: str, lease_s: float) -> bool: ...

    def release_probe(self, target_id: str) -> None: ...


def counts_against_deployment(error: GatewayError) -> bool:
    """Unreachable, 5xx, timeout, 429, rejected credentials: the deployment's fault.
    An invalid request (including one too long for the model) is the caller's."""
    return error.fallback and not isinstance(error, InvalidRequestError)


@dataclass(slots=True)
class _Window:
    """Attempts and failures over the last ``window_s``, in ``_BUCKETS`` buckets."""

    slot: list[int] = field(default_factory=lambda: [-1] * _BUCKETS)
    total: list[int] = field(default_factory=lambda: [0] * _BUCKETS)
    failed: list[int] = field(default_factory=lambda: [0] * _BUCKETS)

    def add(self, now: float, bucket_s: float, ok: bool) -> None:
        index = int(now / bucket_s)
        i = index % _BUCKETS
        if self.slot[i] != index:
            self.slot[i], self.total[i], self.failed[i] = index, 0, 0
        self.total[i] += 1
        if not ok:
            self.failed[i] += 1

    def rate(self, now: float, bucket_s: float) -> tuple[int, float]:
        oldest = int(now / bucket_s) - _BUCKETS + 1
        total = failed = 0
        for i in range(_BUCKETS):
            if self.slot[i] >= oldest:
                total += self.total[i]
                failed += self.failed[i]
        return total, (failed / total if total else 0.0)

    def clear(self) -> None:
        self.slot = [-1] * _BUCKETS


@dataclass(slots=True)
class _Record:
    target: Target
    up: bool = True
    until: float = 0.0  # end of the cooldown (wall clock, shared between processes)
    consecutive: int = 0
    probe_until: float = 0.0  # a probe is claimed (by us or elsewhere) until then
    probing: bool = False  # the claim is ours
    window: _Window = field(default_factory=_Window)


class HealthBook:
    def __init__(
        self,
        targets: Iterable[Target],
        policy: HealthPolicy = HealthPolicy(),
        *,
        clock: Callable[[], float] = time.time,
        listeners: Sequence[HealthListener] = (),
        sync: CooldownSync | None = None,
    ) -> None:
        self.policy = policy
        self.clock = clock
        self.listeners = list(listeners)
        self.sync = sync
        self._bucket_s = policy.window_s / _BUCKETS
        self._records: dict[str, _Record] = {}
        for target in targets:
            self._records.setdefault(target.id, _Record(target))

    def announce(self) -> None:
        """Tell every listener the current state of every deployment (at startup)."""
        for record in self._records.values():
            self._emit(record)

    def _record(self, target: Target) -> _Record:
        record = self._records.get(target.id)
        if record is None:
            record = self._records[target.id] = _Record(target)
        return record

    # -- the hot path ----------------------------------------------------------

    def readiness(self, target: Target) -> Readiness:
        record = self._records.get(target.id)
        if record is None or record.up:
            return Readiness.UP
        now = self.clock()
        if now < record.until or now < record.probe_until:
            return Readiness.DOWN
        return Readiness.PROBE

    def cooling_until(self, target: Target) -> float:
        record = self._records.get(target.id)
        return record.until if record is not None and not record.up else 0.0

    async def claim_probe(self, target: Target) -> bool:
        """True for the one request (across processes, with a sync) that may probe."""
        record = self._record(target)
        now = self.clock()
        if record.up:
            return True
        if now < record.probe_until:
            return False
        lease = self.policy.probe_lease_s
        record.probe_until = now + lease
        record.probing = self.sync is None or await self.sync.claim_probe(target.id, lease)
        return record.probing  # False: another process probes; skip until it reports

    def release_probe(self, target: Target) -> None:
        """A probe that ended without an answer (the caller went away): let the
        next request probe instead of waiting for the lease to run out."""
        record = self._records.get(target.id)
        if record is None or not record.probing:
            return
        record.probe_until, record.probing = 0.0, False
        if self.sync is not None:
            self.sync.release_probe(target.id)

    def record_success(self, target: Target, *, probe: bool = False) -> None:
        record = self._records.get(target.id)
        if record is None:
            return
        record.consecutive = 0
        now = self.clock()
        record.window.add(now, self._bucket_s, True)
        if not record.up and (probe or record.until <= now):
            self._restore(record)

    def record_failure(self, target: Target, error: GatewayError, *, probe: bool = False) -> None:
        if not counts_against_deployment(error):
            self.record_success(target, probe=probe)
            return
        record = self._record(target)
        now = self.clock()
        if error.retry_after is not None and error.retry_after > 0:
            self._cool(record, now + error.retry_after)
            return
        if not record.up:
            if probe:
                self._cool(record, now + self.policy.cooldown_s)
            return  # an attempt that began before the cooldown tells nothing new
        record.consecutive += 1
        record.window.add(now, self._bucket_s, False)
        if self.policy.cooldown_s <= 0:
            return
        if record.consecutive > self.policy.allowed_fails or self._error_rate_too_high(record, now):
            self._cool(record, now + self.policy.cooldown_s)

    def _error_rate_too_high(self, record: _Record, now: float) -> bool:
        attempts, rate = record.window.rate(now, self._bucket_s)
        return attempts >= self.policy.min_window_attempts and rate >= self.policy.max_error_rate

    # -- transitions -----------------------------------------------------------

    def _cool(self, record: _Record, until: float) -> None:
        was_up = record.up
        record.up = False
        record.until = max(until, record.until if not was_up else 0.0)
        record.probe_until, record.probing = 0.0, False
        record.consecutive = 0
        record.window.clear()
        if self.sync is not None:
            self.sync.cooled(record.target.id, record.until)
        if was_up:
            self._emit(record)

    def _restore(self, record: _Record, *, tell_others: bool = True) -> None:
        record.up, record.probing = True, False
        record.until = record.probe_until = 0.0
        record.window.clear()
        if tell_others and self.sync is not None:
            self.sync.restored(record.target.id)
        self._emit(record)

    def _emit(self, record: _Record) -> None:
        for listener in self.listeners:
            listener.on_health(record.target, record.up)

    # -- sharing (routing.sync calls these) ------------------------------------

    def cooling(self) -> dict[str, float]:
        """Cooldowns still running here, and until when (published to the others)."""
        now = self.clock()
        return {tid: r.until for tid, r in self._records.items() if not r.up and r.until > now}

    def merge_remote(self, cooldowns: Mapping[str, float]) -> None:
        """Apply the shared cooldown table. A cooldown set elsewhere takes the
        deployment down here too. An entry that is gone after its cooldown ended
        means another process's probe brought the deployment back."""
        now = self.clock()
        for target_id, record in self._records.items():
            until = cooldowns.get(target_id)
            if until is not None and until > now and (record.up or until > record.until):
                was_up = record.up
                record.up, record.until, record.consecutive = False, until, 0
                if was_up:
                    self._emit(record)
            elif until is None and not record.up and record.until <= now and not record.probing:
                self._restore(record, tell_others=False)

"""Shares routing state (cooldowns, latency, in-flight) between workers and replicas.

Redis is kept off the request path. Every process decides from its own memory
(``HealthBook``, ``DeploymentStats``) and a background task exchanges that
memory with Redis every ``interval_s``, in one pipelined round trip:

- it pushes the cooldowns this process holds, the cooldowns it cleared after a
  successful probe, and its latency and in-flight numbers;
- it pulls everyone's, and merges them in (a cooldown set anywhere applies
  everywhere; latency takes the highest fading estimate; in-flight is summed).

A new cooldown wakes the task at once, so others learn of it within one round
trip rather than one interval. The one thing that waits on Redis during a
request is claiming the probe of a deployment whose cooldown just ended (``SET NX``
with a lease), so that one request in the whole cluster probes it: rare by
construction.

Everything goes through ``SharedState.run``: with Redis down, the exchange is
skipped (and counted), a probe claim is granted locally, and every process goes
on with what it knows until Redis is back.

Keys (under ``state.key_prefix``): ``routing:cooldowns`` (hash: deployment id →
cooldown end, epoch seconds), ``routing:stats`` (hash: ``<deployment id>|<process>``
→ its numbers), ``routing:probe:<deployment id>`` (the probe lease).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.asyncio import Redis

from routing.health import HealthBook
from routing.state import SharedState
from routing.stats import DeploymentStats, RemoteReport

__all__ = ["StateSync"]

log = logging.getLogger("arbiter.routing")

_KEY_TTL_S = 86400  # the shared hashes vanish a day after the last process left
_FORGET_AFTER_S = 600.0  # another process's numbers older than this are deleted


def _encode(report: RemoteReport, at: float) -> str:
    return (
        f"{report.latency!r}:{report.latency_stamp!r}:{report.ttft!r}:"
        f"{report.ttft_stamp!r}:{report.inflight}:{at!r}"
    )


def _decode(value: bytes) -> tuple[RemoteReport, float] | None:
    try:
        lat, lat_at, ttft, ttft_at, inflight, at = value.decode().split(":")
        report = RemoteReport(float(lat), float(lat_at), float(ttft), float(ttft_at), int(inflight))
        return report, float(at)
    except (UnicodeDecodeError, ValueError):
        return None


class StateSync:
    def __init__(
        self,
        shared: SharedState,
        health: HealthBook,
        stats: DeploymentStats,
        target_ids: Iterable[str],
        *,
        interval_s: float = 0.5,
        clock: Callable[[], float] = time.time,
        process_id: str | None = None,
    ) -> None:
        self.shared = shared
        self.health = health
        self.stats = stats
        self.target_ids = tuple(target_ids)
        self.interval_s = interval_s
        self.clock = clock
        self.process_id = process_id or uuid.uuid4().hex[:12]
        self._cooldowns_key = shared.key("routing", "cooldowns")
        self._stats_key = shared.key("routing", "stats")
        self._cleared: set[str] = set()
        self._released: set[str] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def probe_key(self, target_id: str) -> str:
        return self.shared.key("routing", "probe", target_id)

    # -- CooldownSync: called by HealthBook on the request path (no I/O) -------

    def cooled(self, target_id: str, until: float) -> None:
        self._wake.set()

    def restored(self, target_id: str) -> None:
        self._cleared.add(target_id)
        self._wake.set()

    def release_probe(self, target_id: str) -> None:
        self._released.add(target_id)
        self._wake.set()

    async def claim_probe(self, target_id: str, lease_s: float) -> bool:
        key = self.probe_key(target_id)
        lease_ms = max(int(lease_s * 1000), 1)

        async def claim(redis: Redis) -> bool:
            return bool(await redis.set(key, self.process_id, nx=True, px=lease_ms))

        return await self.shared.run("claim-probe", claim, lambda: True)

    # -- the background exchange -----------------------------------------------

    async def start(self) -> None:
        if self.shared.shared and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="arbiter-routing-sync")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            await self.exchange()  # leave the last cooldowns and clears behind

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval_s):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.exchange()
            except Exception:  # noqa: BLE001 - a bug here must not stop sharing for good
                log.exception("routing state exchange failed")

    async def exchange(self) -> None:
        """One round trip: push this process's state, pull and merge everyone's."""
        if not self.shared.shared:
            return
        cleared, self._cleared = self._cleared, set()
        released, self._released = self._released, set()
        now = self.clock()

        async def call(redis: Redis) -> list[Any]:
            pipe = redis.pipeline(transaction=False)
            for target_id in cleared:
                pipe.hdel(self._cooldowns_key, target_id)
            for target_id in cleared | released:
                pipe.delete(self.probe_key(target_id))
            cooling: dict[Any, str] = {k: repr(v) for k, v in self.health.cooling().items()}
            if cooling:
                pipe.hset(self._cooldowns_key, mapping=cooling)
            reports = self.stats.report(self.target_ids)
            if reports:
                fields: dict[Any, str] = {
                    f"{k}|{self.process_id}": _encode(v, now) for k, v in reports.items()
                }
                pipe.hset(self._stats_key, mapping=fields)
            pipe.expire(self._cooldowns_key, _KEY_TTL_S)
            pipe.expire(self._stats_key, _KEY_TTL_S)
            pipe.hgetall(self._cooldowns_key)
            pipe.hgetall(self._stats_key)
            return await pipe.execute()  # type: ignore[no-any-return]

        def keep_for_later() -> list[Any]:
            self._cleared |= cleared
            self._released |= released
            return []

        results = await self.shared.run("routing-sync", call, keep_for_later)
        if not results:
            return
        self.health.merge_remote(self._cooldowns(results[-2]))
        stale = self._merge_stats(results[-1], now)
        if stale:
            await self.shared.run(
                "routing-forget", lambda r: r.hdel(self._stats_key, *stale), lambda: 0
            )

    @staticmethod
    def _cooldowns(raw: Mapping[bytes, bytes]) -> dict[str, float]:
        out: dict[str, float] = {}
        for key, value in raw.items():
            try:
                out[key.decode()] = float(value)
            except (UnicodeDecodeError, ValueError):
                continue
        return out

    def _merge_stats(self, raw: Mapping[bytes, bytes], now: float) -> list[bytes]:
        """Merge the other processes' numbers; return the fields too old to keep."""
        fresh_s = 3 * self.interval_s + 2.0  # in-flight counts older than this are gone
        reports: dict[str, list[RemoteReport]] = {}
        stale: list[bytes] = []
        for key, value in raw.items():
            target_id, _, owner = key.decode(errors="replace").rpartition("|")
            if owner == self.process_id:
                continue
            decoded = _decode(value)
            if decoded is None:
                stale.append(key)
                continue
            report, at = decoded
            if now - at > _FORGET_AFTER_S:
                stale.append(key)
                continue
            if now - at > fresh_s:
                report = RemoteReport(
                    report.latency, report.latency_stamp, report.ttft, report.ttft_stamp, 0
                )
            reports.setdefault(target_id, []).append(report)
        self.stats.merge_remote(reports)
        return stale

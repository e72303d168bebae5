"""What Arbiter has measured about each deployment: latency, time to first token, load.

Latency is a *peak EWMA* per deployment (the design Finagle and linkerd use for
load balancing), with one twist that keeps it honest about deployments it stopped
using:

- bad news counts at once: a sample above the estimate replaces it (the peak);
- good news counts gradually: a sample below moves the estimate ``SMOOTHING`` of
  the way towards it;
- the estimate fades towards zero while a deployment is not measured, with time
  constant ``decay_s``. A deployment that lost its traffic for being slow therefore
  looks attractive again after about ``decay_s * ln(slow / fast)`` and gets one
  request, which either brings it back or pushes it away again. That is the probe.

In-flight counts are exact for this process; ``merge_remote`` adds what other
workers and replicas reported (see ``routing.sync``). Everything here is plain
memory and cheap: no I/O, no locks (one event loop per process).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

__all__ = ["DeploymentStats", "Ewma", "RemoteReport"]

SMOOTHING = 0.5  # how far a sample below the estimate moves it
COMPLETION_SMOOTHING = 0.1  # running average of completion tokens per model


@dataclass(slots=True)
class Ewma:
    """A peak EWMA that fades while unmeasured. ``value`` is as of ``stamp``."""

    value: float = 0.0
    stamp: float = 0.0
    measured: bool = False

    def read(self, now: float, decay_s: float) -> float:
        if not self.measured:
            return 0.0
        elapsed = now - self.stamp
        if elapsed <= 0.0:
            return self.value
        return self.value * math.exp(-elapsed / decay_s)

    def observe(self, sample: float, now: float, decay_s: float) -> None:
        if self.measured:
            current = self.read(now, decay_s)
            if sample < current:
                sample = current + SMOOTHING * (sample - current)
        self.value = sample
        self.stamp = now
        self.measured = True


@dataclass(frozen=True, slots=True)
class RemoteReport:
    """One other process's view of one deployment, as it last published it."""

    latency: float
    latency_stamp: float
    ttft: float
    ttft_stamp: float
    inflight: int


class DeploymentStats:
    """Per deployment (keyed by ``Target.id``): latency, TTFT, in-flight; per model:
    the running average of completion tokens (for the cost strategy)."""

    def __init__(self, *, decay_s: float = 10.0, clock: Callable[[], float] = time.time) -> None:
        self.decay_s = decay_s
        self.clock = clock
        self._latency: dict[str, Ewma] = {}
        self._ttft: dict[str, Ewma] = {}
        self._inflight: dict[str, int] = {}
        self._completion: dict[str, float] = {}
        self._remote_latency: dict[str, Ewma] = {}
        self._remote_ttft: dict[str, Ewma] = {}
        self._remote_inflight: dict[str, int] = {}

    # -- recording (the executor calls these around every attempt) -------------

    def begin(self, target_id: str) -> None:
        self._inflight[target_id] = self._inflight.get(target_id, 0) + 1

    def end(self, target_id: str) -> None:
        self._inflight[target_id] = max(self._inflight.get(target_id, 0) - 1, 0)

    def observe_latency(self, target_id: str, seconds: float) -> None:
        self._series(self._latency, target_id).observe(seconds, self.clock(), self.decay_s)

    def observe_ttft(self, target_id: str, seconds: float) -> None:
        self._series(self._ttft, target_id).observe(seconds, self.clock(), self.decay_s)

    def observe_completion(self, model: str, tokens: int) -> None:
        previous = self._completion.get(model)
        if previous is None:
            self._completion[model] = float(tokens)
        else:
            self._completion[model] = previous + COMPLETION_SMOOTHING * (tokens - previous)

    @staticmethod
    def _series(table: dict[str, Ewma], target_id: str) -> Ewma:
        series = table.get(target_id)
        if series is None:
            series = table[target_id] = Ewma()
        return series

    # -- reading (strategies call these) ---------------------------------------

    def latency(self, target_id: str) -> float:
        """Expected latency in seconds; 0.0 for a deployment never measured (try it)."""
        return self._merged(self._latency, self._remote_latency, target_id)

    def ttft(self, target_id: str) -> float:
        """Expected time to first token; falls back to latency when never streamed."""
        if target_id in self._ttft or target_id in self._remote_ttft:
            return self._merged(self._ttft, self._remote_ttft, target_id)
        return self.latency(target_id)

    def inflight(self, target_id: str) -> int:
        return self._inflight.get(target_id, 0) + self._remote_inflight.get(target_id, 0)

    def local_inflight(self, target_id: str) -> int:
        return self._inflight.get(target_id, 0)

    def expected_completion(self, model: str) -> float | None:
        return self._completion.get(model)

    def _merged(self, local: dict[str, Ewma], remote: dict[str, Ewma], target_id: str) -> float:
        """The higher of this process's estimate and the others': bad news from any
        worker counts, and both fade the same way."""
        now = self.clock()
        mine = local.get(target_id)
        theirs = remote.get(target_id)
        value = mine.read(now, self.decay_s) if mine else 0.0
        if theirs is not None:
            value = max(value, theirs.read(now, self.decay_s))
        return value

    # -- sharing (routing.sync publishes and merges these) ----------------------

    def report(self, target_ids: Iterable[str]) -> dict[str, RemoteReport]:
        """This process's view, for other processes."""
        out: dict[str, RemoteReport] = {}
        for target_id in target_ids:
            lat = self._latency.get(target_id)
            ttft = self._ttft.get(target_id)
            inflight = self._inflight.get(target_id, 0)
            if lat is None and ttft is None and not inflight:
                continue
            out[target_id] = RemoteReport(
                latency=lat.value if lat and lat.measured else 0.0,
                latency_stamp=lat.stamp if lat and lat.measured else 0.0,
                ttft=ttft.value if ttft and ttft.measured else 0.0,
                ttft_stamp=ttft.stamp if ttft and ttft.measured else 0.0,
                inflight=inflight,
            )
        return out

    def merge_remote(self, reports: Mapping[str, Iterable[RemoteReport]]) -> None:
        """Replace the other processes' view: per deployment, the highest fading
        latency estimate and the sum of in-flight requests."""
        now = self.clock()
        latency: dict[str, Ewma] = {}
        ttft: dict[str, Ewma] = {}
        inflight: dict[str, int] = {}
        for target_id, entries in reports.items():
            for entry in entries:
                _keep_highest(latency, target_id, entry.latency, entry.latency_stamp, now, self)
                _keep_highest(ttft, target_id, entry.ttft, entry.ttft_stamp, now, self)
                inflight[target_id] = inflight.get(target_id, 0) + entry.inflight
        self._remote_latency, self._remote_ttft, self._remote_inflight = latency, ttft, inflight


def _keep_highest(
    table: dict[str, Ewma],
    target_id: str,
    value: float,
    stamp: float,
    now: float,
    stats: DeploymentStats,
) -> None:
    if stamp <= 0.0:
        return
    candidate = Ewma(value, stamp, measured=True)
    current = table.get(target_id)
    if current is None or candidate.read(now, stats.decay_s) > current.read(now, stats.decay_s):
        table[target_id] = candidate

"""Quality per model (or deployment) per task: pass rates with Wilson intervals.

Two sources feed it:

- eval runs (``arbiter rank --publish``): the latest published run per model
  and task *replaces* the previous one, so re-publishing never double counts;
- feedback (``POST /v1/feedback`` scores in 0..1, thumbs up = 1): accumulates.

Scores may be fractional (a judge's 0.7); a score counts as that share of a
success, which is what the Wilson interval and the Beta posterior take.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple

from providers.base import Target
from providers.types import ChatRequest
from routing.ranking.constraints import request_task
from routing.ranking.counters import TaskCounters
from routing.state import SharedState

__all__ = [
    "EVAL",
    "FEEDBACK",
    "MeasuredQuality",
    "QualityEstimate",
    "QualityStore",
    "wilson_interval",
]

EVAL, FEEDBACK = "eval", "feedback"
_SOURCES = (EVAL, FEEDBACK)
_SEP = "\t"
Z95 = 1.959963984540054


class QualityEstimate(NamedTuple):
    mean: float
    low: float
    high: float
    samples: float


def wilson_interval(successes: float, trials: float, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for a binomial proportion (0, 1 when there are no trials)."""
    if trials <= 0:
        return 0.0, 1.0
    p = min(max(successes / trials, 0.0), 1.0)
    z2 = z * z
    denominator = 1 + z2 / trials
    center = (p + z2 / (2 * trials)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials))
    return max(0.0, center - half), min(1.0, center + half)


def _field(subject: str, source: str, what: str) -> str:
    return f"{subject}{_SEP}{source}{_SEP}{what}"


class QualityStore:
    """Scores per subject (a model name, or a deployment id) and task."""

    def __init__(self, *, max_tasks: int = 256) -> None:
        self.counters = TaskCounters("q", max_tasks=max_tasks)
        self._estimates: dict[tuple[str, str], QualityEstimate | None] = {}
        self._estimated_at = -1  # the counters' version the estimates were computed at

    def attach(self, shared: SharedState | None) -> None:
        self.counters.attach(shared)

    @property
    def version(self) -> int:
        return self.counters.version

    def tasks(self) -> list[str]:
        return self.counters.tasks()

    async def refresh(self) -> None:
        await self.counters.refresh()

    async def publish_eval(self, task: str, results: Mapping[str, tuple[float, float]]) -> None:
        """Store an eval run: per model (summed score, cases). Replaces that model's last run."""
        values: dict[str, float] = {}
        for model, (score, cases) in results.items():
            values[_field(model, EVAL, "s")] = float(score)
            values[_field(model, EVAL, "n")] = float(cases)
        await self.counters.put(task, values)

    async def add_feedback(
        self, task: str, subjects: tuple[str, ...], score: float, samples: float = 1.0
    ) -> None:
        """Count a score in 0..1 for each subject; negative ``samples`` takes one back."""
        deltas: dict[str, float] = {}
        for subject in subjects:
            deltas[_field(subject, FEEDBACK, "s")] = score
            deltas[_field(subject, FEEDBACK, "n")] = samples
        await self.counters.incr(task, deltas)

    def totals(self, subject: str, task: str) -> tuple[float, float]:
        """(summed score, samples) over every source."""
        counters = self.counters.get(task)
        score = sum(counters.get(_field(subject, s, "s"), 0.0) for s in _SOURCES)
        samples = sum(counters.get(_field(subject, s, "n"), 0.0) for s in _SOURCES)
        return score, samples

    def sources(self, subject: str, task: str) -> tuple[str, ...]:
        counters = self.counters.get(task)
        return tuple(s for s in _SOURCES if counters.get(_field(subject, s, "n"), 0.0) > 0)

    def quality(self, subject: str, task: str) -> QualityEstimate | None:
        """Mean score with its 95 % Wilson interval and sample count; None if unmeasured.

        This is the ``QualitySource`` the ``quality`` routing strategy reads.
        """
        if self._estimated_at != self.counters.version:
            self._estimates.clear()
            self._estimated_at = self.counters.version
        key = (subject, task)
        if key in self._estimates:
            return self._estimates[key]
        score, samples = self.totals(subject, task)
        estimate = None
        if samples > 0:
            low, high = wilson_interval(score, samples)
            estimate = QualityEstimate(min(max(score / samples, 0.0), 1.0), low, high, samples)
        if len(self._estimates) < 100_000:
            self._estimates[key] = estimate
        return estimate

    def subjects(self, task: str) -> set[str]:
        return {name.split(_SEP, 1)[0] for name in self.counters.get(task)}


class MeasuredQuality:
    """Measured quality of a deployment for a request, in [0, 1]: the ``QualitySource``
    the ``quality`` routing strategy orders a model's deployments by.

    For the request's task, then ``general``: the deployment's own feedback score
    once it has ``min_samples`` of them, else the model's score (evals and
    feedback); with no measurement, the ``quality`` written in the config.
    """

    def __init__(self, store: QualityStore, *, min_samples: float = 10.0) -> None:
        self.store = store
        self.min_samples = min_samples

    def quality(self, target: Target, request: ChatRequest) -> float | None:
        task = request_task(request)
        for label in (task, "general") if task != "general" else ("general",):
            own = self.store.quality(target.id, label)
            if own is not None and own.samples >= self.min_samples:
                return own.mean
            model = self.store.quality(target.model_name, label)
            if model is not None:
                return model.mean
        return target.quality

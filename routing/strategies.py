"""Routing strategies: the order in which a model's deployments are tried.

Each strategy is a small pure function ``(facts, candidates, stats) -> list``
that returns every candidate, best first (the rest are the failover order).
``facts`` is what the request tells (prompt tokens are counted once, lazily),
``stats`` what Arbiter has measured (``routing.stats``). Python's sort is stable,
so ties keep the configured order. Adding a strategy is one function and one row
in ``build_strategies``.

- ``priority``: the configured order.
- ``cost``: cheapest expected cost of *this* request (prompt tokens counted with
  tiktoken, completion from ``max_tokens`` or the model's running average);
  deployments without prices go last; ties by expected latency.
- ``latency``: lowest peak-EWMA latency (TTFT for streams) times in-flight + 1; an
  unmeasured deployment counts as 0, so it is tried, and a slow one fades back
  into contention (see ``routing.stats``).
- ``weighted``: random by ``weight``, without replacement, from an injected
  ``random.Random`` (seed it in tests).
- ``least-busy``: fewest requests in flight (this process plus what the others
  last reported).
- ``quality``: highest quality from a ``QualitySource``; configured ``quality``
  by default, measured scores once the ranking feeds them.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

from providers.base import Target
from providers.tokens import count_message_tokens
from providers.types import ChatRequest
from routing.routes import ModelRoute

__all__ = [
    "DEFAULT_COMPLETION_TOKENS",
    "ConfiguredQuality",
    "QualitySource",
    "RequestFacts",
    "StatsView",
    "Strategy",
    "StrategyOrder",
    "build_strategies",
    "by_cost",
    "by_latency",
    "by_least_busy",
    "by_priority",
    "by_quality",
    "by_weight",
    "expected_cost",
]

DEFAULT_COMPLETION_TOKENS = 256  # until a model's running average exists
_PER_TOKEN = 1e-6


class StatsView(Protocol):
    """What strategies read from ``routing.stats.DeploymentStats``."""

    def latency(self, target_id: str) -> float: ...

    def ttft(self, target_id: str) -> float: ...

    def inflight(self, target_id: str) -> int: ...

    def expected_completion(self, model: str) -> float | None: ...


class QualitySource(Protocol):
    """Quality of a deployment for a request, in [0, 1]; None when unknown."""

    def quality(self, target: Target, request: ChatRequest) -> float | None: ...


class ConfiguredQuality:
    """The ``quality`` written in the config for each deployment."""

    def quality(self, target: Target, request: ChatRequest) -> float | None:
        return target.quality


@dataclass(slots=True)
class RequestFacts:
    """The request, with what strategies derive from it computed at most once."""

    request: ChatRequest
    _prompt_tokens: int | None = field(default=None, repr=False)

    @property
    def prompt_tokens(self) -> int:
        if self._prompt_tokens is None:
            self._prompt_tokens = count_message_tokens(self.request)
        return self._prompt_tokens


Strategy = Callable[[RequestFacts, Sequence[Target], StatsView], list[Target]]


def by_priority(
    facts: RequestFacts, candidates: Sequence[Target], stats: StatsView
) -> list[Target]:
    return list(candidates)


def expected_cost(facts: RequestFacts, target: Target, stats: StatsView) -> float | None:
    """Expected USD of this request on this deployment; None without prices."""
    if target.input_cost_per_mtok is None or target.output_cost_per_mtok is None:
        return None
    limit = facts.request.output_limit
    completion = float(limit) if limit is not None else stats.expected_completion(target.model_name)
    if completion is None:
        completion = DEFAULT_COMPLETION_TOKENS
    return (
        facts.prompt_tokens * target.input_cost_per_mtok + completion * target.output_cost_per_mtok
    ) * _PER_TOKEN


def _cost_key(facts: RequestFacts, stats: StatsView, target: Target) -> tuple[bool, float, float]:
    cost = expected_cost(facts, target, stats)
    return (cost is None, cost or 0.0, stats.latency(target.id))


def by_cost(facts: RequestFacts, candidates: Sequence[Target], stats: StatsView) -> list[Target]:
    if len(candidates) < 2:
        return list(candidates)
    return sorted(candidates, key=partial(_cost_key, facts, stats))


def by_latency(facts: RequestFacts, candidates: Sequence[Target], stats: StatsView) -> list[Target]:
    if len(candidates) < 2:
        return list(candidates)
    measure = stats.ttft if facts.request.stream else stats.latency
    return sorted(candidates, key=lambda t: measure(t.id) * (stats.inflight(t.id) + 1))


def by_least_busy(
    facts: RequestFacts, candidates: Sequence[Target], stats: StatsView
) -> list[Target]:
    if len(candidates) < 2:
        return list(candidates)
    return sorted(candidates, key=lambda t: stats.inflight(t.id))


def by_weight(
    facts: RequestFacts,
    candidates: Sequence[Target],
    stats: StatsView,
    *,
    rng: random.Random,
) -> list[Target]:
    """Weighted random order: each next deployment drawn by weight from those left."""
    left = list(candidates)
    order: list[Target] = []
    while len(left) > 1:
        point = rng.random() * sum(t.weight for t in left)
        for i, target in enumerate(left):
            point -= target.weight
            if point < 0 or i == len(left) - 1:
                order.append(left.pop(i))
                break
    return order + left


def by_quality(
    facts: RequestFacts,
    candidates: Sequence[Target],
    stats: StatsView,
    *,
    source: QualitySource,
) -> list[Target]:
    if len(candidates) < 2:
        return list(candidates)

    def key(target: Target) -> tuple[bool, float]:
        score = source.quality(target, facts.request)
        return (score is None, -(score or 0.0))

    return sorted(candidates, key=key)


def build_strategies(
    *, rng: random.Random | None = None, quality: QualitySource | None = None
) -> Mapping[str, Strategy]:
    """The strategy table, by the names ``models.<name>.strategy`` accepts."""
    return {
        "priority": by_priority,
        "cost": by_cost,
        "latency": by_latency,
        "weighted": partial(by_weight, rng=rng or random.Random()),
        "least-busy": by_least_busy,
        "quality": partial(by_quality, source=quality or ConfiguredQuality()),
    }


class StrategyOrder:
    """The executor's ``order_targets`` hook: a model's deployments in the order of
    the strategy it configured (unknown names keep the configured order)."""

    def __init__(self, stats: StatsView, strategies: Mapping[str, Strategy]) -> None:
        self.stats = stats
        self.strategies = strategies

    def __call__(self, route: ModelRoute, request: ChatRequest) -> Sequence[Target]:
        strategy = self.strategies.get(route.strategy, by_priority)
        if strategy is by_priority or len(route.targets) < 2:
            return route.targets  # nothing to decide
        return strategy(RequestFacts(request), route.targets, self.stats)

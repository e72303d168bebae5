"""Routing by rank: a routed model (``auto``) picks one candidate model per request.

For each candidate the selector looks at its measured quality for the
request's task (falling back to the ``general`` task, then to the quality given
in the config), its p95 latency and its cost per million tokens (measured, else
the list price), and keeps the candidates that meet the constraints:
``min_quality``, ``max_quality_gap`` (within that many points of the best
candidate's quality), ``max_p95_latency_ms`` and ``max_cost_per_mtok``. Among
those it picks by ``prefer``: the best quality, the lowest cost or the lowest
p95 latency. The answer is the chosen model first, then the others in failover
order; when no candidate meets the constraints, the request is still served,
highest quality first, and the decision says so.

Exploration is Thompson sampling on each candidate's Beta quality posterior:
a candidate with fewer than ``min_samples`` quality samples is judged by a draw
from its posterior rather than by its mean, and on an ``explore`` share of
requests every candidate is. A well-measured candidate's draw sits at its mean,
so routing settles on the best choice, while a barely-measured one still gets
picked now and then until its score is known. A candidate with no latency
measurement passes the latency cap (it is measured by being used).

The hot path reads precomputed figures (scoreboard view, quality counters,
list prices built once) and draws a few random numbers; it never awaits.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from providers.types import ChatRequest
from routing.ranking.constraints import (
    Constraints,
    Decision,
    current_request,
    parse_constraints,
)
from routing.ranking.quality import QualityStore
from routing.ranking.scoreboard import Scoreboard
from routing.routes import ModelRoute, RoutedModel

__all__ = ["CandidateSelector", "CandidateView", "list_price_per_mtok"]

GENERAL = "general"
_NO_CONSTRAINTS = Constraints()
_INPUT_SHARE = 0.75  # list prices are blended 3:1 input:output, as leaderboards usually do


def list_price_per_mtok(route: ModelRoute) -> float | None:
    """The blended list price of a model's first priced deployment, per million tokens."""
    for target in route.targets:
        if target.input_cost_per_mtok is not None and target.output_cost_per_mtok is not None:
            return (
                _INPUT_SHARE * target.input_cost_per_mtok
                + (1 - _INPUT_SHARE) * target.output_cost_per_mtok
            )
    return None


@dataclass(frozen=True, slots=True)
class CandidateView:
    """What the selector knows about one candidate for one request."""

    name: str
    quality: float | None  # mean score, None if never measured
    successes: float  # posterior pseudo-counts
    failures: float
    samples: float
    p95_ms: float | None
    cost_per_mtok: float | None
    live: bool

    def judged_quality(self, sample: bool, rng: random.Random) -> float | None:
        if sample:
            return rng.betavariate(1.0 + self.successes, 1.0 + self.failures)
        return self.quality


class CandidateSelector:
    def __init__(
        self,
        scoreboard: Scoreboard,
        quality: QualityStore,
        routes: Mapping[str, ModelRoute],
        *,
        rng: random.Random | None = None,
        min_samples: float = 20.0,
        prior_samples: float = 10.0,
    ) -> None:
        self.scoreboard = scoreboard
        self.quality = quality
        self.rng = rng or random.Random()
        self.min_samples = min_samples
        self.prior_samples = prior_samples
        self.list_price = {name: list_price_per_mtok(route) for name, route in routes.items()}
        self.prior = {name: _configured_quality(route) for name, route in routes.items()}
        self.live = {name: _is_live(name, routes) for name in routes}
        self._base: dict[RoutedModel, Constraints] = {}
        self._views: dict[tuple[str, str], CandidateView] = {}
        self._views_of = (-1, -1)  # (quality version, scoreboard generation) of those views
        # Decisions that drew nothing at random, until the figures change: the steady state.
        self._decisions: dict[tuple[RoutedModel, str, Constraints], Decision] = {}
        self.last: dict[str, Decision] = {}  # routed model -> its latest decision
        self.picks: dict[str, dict[str, int]] = {}  # routed model -> candidate -> times chosen

    # -- the executor's pick_candidates hook ----------------------------------

    def pick(self, routed: RoutedModel, request: ChatRequest) -> Sequence[str]:
        context = current_request.get()
        if context is not None:
            task, asked = context.task, context.constraints
        else:  # called outside the gateway's request hooks (tests, embedding)
            metadata = request.metadata or {}
            task = str(metadata.get("task") or GENERAL)
            asked = parse_constraints(metadata)
        decision = self.decide(routed, task, asked)
        if context is not None:
            context.decision = decision
            if context.on_decision is not None:
                context.on_decision(decision)
        self.last[routed.name] = decision
        counts = self.picks.setdefault(routed.name, {})
        counts[decision.model] = counts.get(decision.model, 0) + 1
        return decision.order

    # -- the decision ---------------------------------------------------------

    def constraints(self, routed: RoutedModel, asked: Constraints | None = None) -> Constraints:
        """The routed model's own constraints, tightened by what the request asks."""
        base = self._base.get(routed)
        if base is None:
            base = self._base[routed] = Constraints.of(routed)
        return base if asked is None or asked == _NO_CONSTRAINTS else base.tightened_by(asked)

    def assess(self, routed: RoutedModel, task: str) -> list[dict[str, object]]:
        """Each candidate's figures and whether it meets the routed model's own
        constraints (by its mean quality), with the reason when it does not."""
        constraints = self.constraints(routed)
        views = [self.view(name, task) for name in routed.candidates]
        best = max(
            (
                v.quality
                for v in views
                if v.live and v.quality is not None and _within_caps(v, constraints)
            ),
            default=None,
        )
        out: list[dict[str, object]] = []
        for v in views:
            out.append(
                {
                    "model": v.name,
                    "quality": v.quality,
                    "samples": v.samples,
                    "latency_p95_ms": v.p95_ms,
                    "cost_per_mtok": v.cost_per_mtok,
                    "eligible": not _shortfalls(v, constraints, best),
                    "why_not": _shortfalls(v, constraints, best),
                }
            )
        return out

    def view(self, name: str, task: str) -> CandidateView:
        """What is known of a candidate; recomputed only when scores or the scoreboard change."""
        self._check_fresh()
        key = (name, task)
        view = self._views.get(key)
        if view is None:
            view = self._compute_view(name, task)
            if len(self._views) < 100_000:
                self._views[key] = view
        return view

    def _check_fresh(self) -> None:
        """Forget cached views and decisions once scores or the scoreboard have changed."""
        current = (self.quality.version, self.scoreboard.generation)
        if current != self._views_of:
            self._views.clear()
            self._decisions.clear()
            self._views_of = current

    def _compute_view(self, name: str, task: str) -> CandidateView:
        estimate = self.quality.quality(name, task)
        if estimate is None and task != GENERAL:
            estimate = self.quality.quality(name, GENERAL)
        stats = self.scoreboard.model(name)
        p95 = stats.latency_p95_s if stats is not None else None
        measured_cost = stats.cost_per_mtok if stats is not None else None
        if estimate is not None:
            mean, samples = estimate.mean, estimate.samples
            successes, failures = mean * samples, (1 - mean) * samples
        else:
            prior = self.prior.get(name)
            mean, samples = None, 0.0
            successes = (prior or 0.0) * self.prior_samples if prior is not None else 0.0
            failures = (1 - prior) * self.prior_samples if prior is not None else 0.0
            mean = prior
        return CandidateView(
            name=name,
            quality=mean,
            successes=successes,
            failures=failures,
            samples=samples,
            p95_ms=None if p95 is None else p95 * 1000,
            cost_per_mtok=measured_cost if measured_cost is not None else self.list_price.get(name),
            live=self.live.get(name, False),
        )

    def decide(
        self,
        routed: RoutedModel,
        task: str,
        asked: Constraints | None = None,
        *,
        exploit_only: bool = False,
    ) -> Decision:
        """The decision for one request; ``exploit_only`` judges every candidate by its
        mean (no sampling): what routing settles on, as the leaderboard shows it."""
        constraints = self.constraints(routed, asked)
        explore = not exploit_only and self.rng.random() < routed.explore
        self._check_fresh()
        cache_key = (routed, task, constraints)
        if not explore:
            cached = self._decisions.get(cache_key)
            if cached is not None:
                return cached
        views = [self.view(name, task) for name in routed.candidates]
        judged: dict[str, float | None] = {}
        sampled: set[str] = set()
        for v in views:
            sample = not exploit_only and (explore or v.samples < self.min_samples)
            if sample:
                sampled.add(v.name)
            judged[v.name] = v.judged_quality(sample, self.rng)
        prefer = constraints.prefer or "quality"
        key = _preference_key(prefer, judged)
        live = [v for v in views if v.live]
        passing = [v for v in live if _within_caps(v, constraints)]
        known = [q for q in (judged[v.name] for v in passing) if q is not None]
        best = max(known, default=None)
        eligible = [v for v in passing if _meets_quality(judged[v.name], constraints, best)]
        eligible.sort(key=key)
        chosen_ids = {id(v) for v in eligible}
        rest = [v for v in views if id(v) not in chosen_ids]
        if eligible:
            rest.sort(key=lambda v: (not v.live, *key(v)))
            chosen = eligible[0]
            reason = _explain(
                chosen, prefer, constraints, judged[chosen.name], chosen.name in sampled
            )
        else:
            rest.sort(key=lambda v: (not v.live, -(judged[v.name] or -1.0), *key(v)))
            chosen = rest[0]
            reason = f"no candidate meets {constraints.describe()}; highest quality first"
        order = tuple(v.name for v in (*eligible, *rest))
        decision = Decision(
            routed.name, chosen.name, order, chosen.name in sampled, bool(eligible), reason
        )
        if not sampled and len(self._decisions) < 10_000:
            self._decisions[cache_key] = decision
        return decision


def _configured_quality(route: ModelRoute) -> float | None:
    values = [t.quality for t in route.targets if t.quality is not None]
    return max(values) if values else None


def _is_live(
    name: str, routes: Mapping[str, ModelRoute], seen: frozenset[str] = frozenset()
) -> bool:
    route = routes.get(name)
    if route is None or name in seen:
        return False
    if route.targets:
        return True
    return any(_is_live(f, routes, seen | {name}) for f in route.fallbacks)


def _within_caps(v: CandidateView, c: Constraints) -> bool:
    if c.max_cost_per_mtok is not None and (
        v.cost_per_mtok is None or v.cost_per_mtok > c.max_cost_per_mtok
    ):
        return False
    return not (
        c.max_p95_latency_ms is not None
        and v.p95_ms is not None
        and v.p95_ms > c.max_p95_latency_ms
    )


def _meets_quality(quality: float | None, c: Constraints, best: float | None) -> bool:
    if c.min_quality is not None and (quality is None or quality < c.min_quality):
        return False
    if c.max_quality_gap is not None and best is not None:
        return quality is not None and quality >= best - c.max_quality_gap
    return True


def _shortfalls(v: CandidateView, c: Constraints, best: float | None) -> list[str]:
    reasons = []
    if not v.live:
        reasons.append("no live deployment")
    if c.max_cost_per_mtok is not None:
        if v.cost_per_mtok is None:
            reasons.append("cost unknown")
        elif v.cost_per_mtok > c.max_cost_per_mtok:
            reasons.append(f"cost {v.cost_per_mtok:.4g} > {c.max_cost_per_mtok:g} per Mtok")
    if (
        c.max_p95_latency_ms is not None
        and v.p95_ms is not None
        and (v.p95_ms > c.max_p95_latency_ms)
    ):
        reasons.append(f"p95 {v.p95_ms:.0f} ms > {c.max_p95_latency_ms:g} ms")
    if c.min_quality is not None:
        if v.quality is None:
            reasons.append("quality not measured yet")
        elif v.quality < c.min_quality:
            reasons.append(f"quality {v.quality:.3f} < {c.min_quality:g}")
    if (
        c.max_quality_gap is not None
        and best is not None
        and v.quality is not None
        and (v.quality < best - c.max_quality_gap)
    ):
        reasons.append(f"quality {v.quality:.3f} more than {c.max_quality_gap:g} below the best")
    return reasons


def _preference_key(prefer: str, judged: Mapping[str, float | None]):  # type: ignore[no-untyped-def]
    inf = math.inf

    def quality_of(v: CandidateView) -> float:
        q = judged[v.name]
        return -q if q is not None else inf

    def cost_of(v: CandidateView) -> float:
        return v.cost_per_mtok if v.cost_per_mtok is not None else inf

    def latency_of(v: CandidateView) -> float:
        return v.p95_ms if v.p95_ms is not None else 0.0  # unmeasured: try it, to measure it

    if prefer == "cost":
        return lambda v: (cost_of(v), quality_of(v), v.name)
    if prefer == "latency":
        return lambda v: (latency_of(v), quality_of(v), v.name)
    return lambda v: (quality_of(v), cost_of(v), v.name)


def _explain(
    v: CandidateView, prefer: str, c: Constraints, judged: float | None, sampled: bool
) -> str:
    what = {"cost": "cheapest", "latency": "fastest (p95)", "quality": "highest quality"}[prefer]
    figures = []
    if judged is not None:
        figures.append(f"quality {judged:.3f}{' (sampled)' if sampled else ''}")
    if v.cost_per_mtok is not None:
        figures.append(f"${v.cost_per_mtok:.4g}/Mtok")
    if v.p95_ms is not None:
        figures.append(f"p95 {v.p95_ms:.0f} ms")
    mode = "explore" if sampled else "exploit"
    return f"{mode}: {v.name} is the {what} candidate meeting {c.describe()} ({', '.join(figures)})"

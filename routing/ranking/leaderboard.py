"""The leaderboard: one row per model, ranked by quality, with the quality-cost Pareto front.

Pure: it combines what the scoreboard measured (latency, speed, cost, errors),
the quality store (eval and feedback scores) and the pairwise ranking into rows.

- ``quality`` is the mean eval/feedback score with its Wilson interval. A model
  with pairwise votes only is given its Bradley-Terry expected win rate instead
  (``quality_source: "pairwise"``), with the bootstrap interval.
- ``rank`` orders models by quality (then cheaper first, then name); a model
  with no quality measurement has rank None and comes last.
- ``pareto`` marks models that no other model beats on quality without
  costing more, or undercuts on cost without being worse (point estimates; a
  model with unknown quality or cost is not on the front).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from routing.ranking.arena import ArenaRanking
from routing.ranking.quality import QualityEstimate
from routing.ranking.tally import Stats

__all__ = ["LeaderboardRow", "build_leaderboard", "pareto_front"]


@dataclass(slots=True)
class LeaderboardRow:
    model: str
    rank: int | None = None
    quality: float | None = None
    quality_low: float | None = None
    quality_high: float | None = None
    samples: float = 0
    quality_source: str | None = None
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    ttft_p50_ms: float | None = None
    tokens_per_s: float | None = None
    cost_per_mtok: float | None = None
    cost_per_request_usd: float | None = None
    error_rate: float | None = None
    requests: int = 0
    pareto: bool = False
    arena_score: float | None = None
    arena_low: float | None = None
    arena_high: float | None = None
    votes: float = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def pareto_front(points: Mapping[str, tuple[float | None, float | None]]) -> set[str]:
    """Names not dominated on (quality: higher is better, cost: lower is better)."""
    known: dict[str, tuple[float, float]] = {
        n: (q, c) for n, (q, c) in points.items() if q is not None and c is not None
    }
    front = set()
    for name, (q, c) in known.items():
        dominated = any(
            oq >= q and oc <= c and (oq > q or oc < c)
            for other, (oq, oc) in known.items()
            if other != name
        )
        if not dominated:
            front.add(name)
    return front


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def _row(
    model: str,
    estimate: QualityEstimate | None,
    sources: Sequence[str],
    stats: Stats | None,
    arena: ArenaRanking | None,
    list_cost: float | None,
) -> LeaderboardRow:
    row = LeaderboardRow(model=model)
    if estimate is not None:
        row.quality, row.quality_low, row.quality_high = estimate.mean, estimate.low, estimate.high
        row.samples, row.quality_source = estimate.samples, "+".join(sources) or None
    if arena is not None and model in arena.score:
        row.arena_score = arena.score[model]
        row.arena_low, row.arena_high = arena.score_low[model], arena.score_high[model]
        row.votes = arena.votes[model]
        if estimate is None and len(arena.models) > 1:
            row.quality = arena.win_rate[model]
            row.quality_low, row.quality_high = arena.win_low[model], arena.win_high[model]
            row.samples, row.quality_source = arena.votes[model], "pairwise"
    if stats is not None:
        row.requests = stats.requests
        row.error_rate = stats.error_rate
        row.latency_p50_ms = _ms(stats.latency_p50_s)
        row.latency_p95_ms = _ms(stats.latency_p95_s)
        row.ttft_p50_ms = _ms(stats.ttft_p50_s)
        row.tokens_per_s = stats.tokens_per_s
        row.cost_per_request_usd = stats.cost_per_request_usd
        row.cost_per_mtok = stats.cost_per_mtok
    if row.cost_per_mtok is None:
        row.cost_per_mtok = list_cost
    return row


def build_leaderboard(
    models: Sequence[str],
    *,
    quality: Callable[[str], QualityEstimate | None],
    sources: Callable[[str], Sequence[str]] = lambda model: (),
    stats: Mapping[str, Stats] | None = None,
    arena: ArenaRanking | None = None,
    list_cost: Mapping[str, float | None] | None = None,
) -> list[LeaderboardRow]:
    """Rows for ``models``: ranked, Pareto-marked, best first.

    ``list_cost`` is the price per million tokens from the config, used where no
    cost was measured yet.
    """
    stats = stats or {}
    list_cost = list_cost or {}
    rows = [_row(m, quality(m), sources(m), stats.get(m), arena, list_cost.get(m)) for m in models]
    front = pareto_front({r.model: (r.quality, r.cost_per_mtok) for r in rows})
    inf = float("inf")
    rows.sort(
        key=lambda r: (
            r.quality is None,
            -(r.quality or 0.0),
            r.cost_per_mtok if r.cost_per_mtok is not None else inf,
            r.model,
        )
    )
    for position, row in enumerate(rows, start=1):
        row.pareto = row.model in front
        row.rank = position if row.quality is not None else None
    return rows

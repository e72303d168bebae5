"""What an eval run says: the leaderboard (terminal table, CSV), the Pareto front, and
the per-task pass rates ``--publish`` sends to the gateway.

Quality is the mean score over a model's scored cases (a pass is 1, a judge's
score counts as given), with its 95 % Wilson interval; cases that errored are
left out of quality and counted in the error rate. Latency is the run's own
(client-side) median and 95th percentile; cost per million tokens is the
run's spend over its tokens, from the gateway's ``x-arbiter-cost-usd``.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gateway.eval.results import CaseResult
from gateway.eval.runner import PairResult
from routing.ranking.bradley_terry import rank_pairwise
from routing.ranking.leaderboard import LeaderboardRow, build_leaderboard
from routing.ranking.quality import QualityEstimate, wilson_interval
from routing.ranking.tally import Stats

__all__ = [
    "CSV_COLUMNS",
    "eval_leaderboard",
    "format_table",
    "pareto_models",
    "publish_payload",
    "write_csv",
]

CSV_COLUMNS = (  # INTERFACE.md's columns first, in its order
    "rank",
    "model",
    "quality",
    "quality_low",
    "quality_high",
    "samples",
    "latency_p50_ms",
    "cost_per_mtok",
    "pareto",
    "latency_p95_ms",
    "cost_per_request_usd",
    "error_rate",
    "arena_score",
    "arena_low",
    "arena_high",
)


def _percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (exact, from every sample)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _stats(rows: Sequence[CaseResult]) -> Stats:
    ok = [r for r in rows if r.error is None]
    latencies = [r.latency_ms / 1000 for r in ok if r.latency_ms is not None]
    priced = [r for r in ok if r.cost_usd is not None]
    cost = sum(r.cost_usd or 0.0 for r in priced)
    tokens = sum(r.tokens for r in priced)
    output = sum(int((r.usage or {}).get("completion_tokens") or 0) for r in ok)
    return Stats(
        requests=len(rows),
        errors=len(rows) - len(ok),
        success_rate=len(ok) / len(rows) if rows else None,
        latency_p50_s=_percentile(latencies, 0.5),
        latency_p95_s=_percentile(latencies, 0.95),
        ttft_p50_s=None,
        ttft_p95_s=None,
        tokens_per_s=output / sum(latencies) if latencies and sum(latencies) > 0 else None,
        cost_per_request_usd=cost / len(priced) if priced else None,
        cost_per_mtok=cost / tokens * 1e6 if tokens else None,
    )


def _quality(rows: Sequence[CaseResult]) -> QualityEstimate | None:
    scores = [r.score for r in rows if r.error is None and r.score is not None]
    if not scores:
        return None
    total = sum(scores)
    low, high = wilson_interval(total, len(scores))
    return QualityEstimate(total / len(scores), low, high, len(scores))


def eval_leaderboard(
    results: Sequence[CaseResult],
    pairs: Sequence[PairResult] = (),
    *,
    bootstrap_rounds: int = 200,
    seed: int = 0,
) -> list[LeaderboardRow]:
    by_model: dict[str, list[CaseResult]] = {}
    for result in results:
        by_model.setdefault(result.model, []).append(result)
    wins: dict[tuple[str, str], float] = {}
    for pair in pairs:
        if pair.winner is None:
            for first, second in ((pair.a, pair.b), (pair.b, pair.a)):
                wins[(first, second)] = wins.get((first, second), 0.0) + 0.5
        else:
            loser = pair.b if pair.winner == pair.a else pair.a
            wins[(pair.winner, loser)] = wins.get((pair.winner, loser), 0.0) + 1.0
    arena = rank_pairwise(wins, rounds=bootstrap_rounds, seed=seed) if wins else None
    return build_leaderboard(
        list(by_model),
        quality=lambda m: _quality(by_model[m]),
        sources=lambda m: ("eval",),
        stats={m: _stats(rows) for m, rows in by_model.items()},
        arena=arena,
    )


def pareto_models(rows: Sequence[LeaderboardRow]) -> list[str]:
    """The Pareto front, cheapest first."""
    front = [r for r in rows if r.pareto]
    return [r.model for r in sorted(front, key=lambda r: (r.cost_per_mtok or 0.0, r.model))]


def _cell(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "*" if value else ""
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def format_table(rows: Sequence[LeaderboardRow]) -> str:
    arena = any(r.arena_score is not None for r in rows)
    header = ["rank", "model", "quality", "95% interval", "n", "p50 ms", "p95 ms", "$/Mtok"]
    header += ["errors", "pareto"] + (["arena"] if arena else [])
    lines = [header]
    for r in rows:
        interval = (
            f"[{r.quality_low:.3f}, {r.quality_high:.3f}]"
            if r.quality_low is not None and r.quality_high is not None
            else "-"
        )
        line = [
            _cell(r.rank),
            r.model,
            _cell(r.quality),
            interval,
            _cell(int(r.samples)),
            _cell(r.latency_p50_ms, 1),
            _cell(r.latency_p95_ms, 1),
            _cell(r.cost_per_mtok, 4),
            "-" if r.error_rate is None else f"{r.error_rate:.1%}",
            _cell(r.pareto),
        ]
        if arena:
            line.append(_cell(r.arena_score, 0))
        lines.append(line)
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    out = []
    for row in lines:
        pairs = enumerate(zip(row, widths, strict=True))
        cells = [c.ljust(w) if i == 1 else c.rjust(w) for i, (c, w) in pairs]
        out.append("  ".join(cells).rstrip())
    return "\n".join(out)


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    return str(value).lower() if isinstance(value, bool) else value


def write_csv(rows: Sequence[LeaderboardRow], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            data = row.as_dict()
            writer.writerow([_csv_value(data[c]) for c in CSV_COLUMNS])


def publish_payload(results: Sequence[CaseResult]) -> dict[str, list[dict[str, Any]]]:
    """Per task, per model that answered (a fallback or a routed model's pick is credited
    to the model that actually answered): summed score and cases scored."""
    totals: dict[str, dict[str, list[float]]] = {}
    for r in results:
        if r.error is not None or r.score is None:
            continue
        model = r.answered_by or r.model
        entry = totals.setdefault(r.task, {}).setdefault(model, [0.0, 0.0])
        entry[0] += r.score
        entry[1] += 1
    return {
        task: [{"model": m, "score": s, "samples": n} for m, (s, n) in sorted(models.items())]
        for task, models in sorted(totals.items())
    }

"""One ``arbiter rank`` run: ask, judge, publish, then print and write the leaderboard."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gateway.config import Settings
from gateway.eval.client import EvalError, connect
from gateway.eval.dataset import EvalCase
from gateway.eval.progress import Progress
from gateway.eval.report import (
    eval_leaderboard,
    format_table,
    pareto_models,
    publish_payload,
    write_csv,
)
from gateway.eval.results import CaseResult, ResultCache, write_results
from gateway.eval.runner import PairResult, answer_cases, count_pairs, judge_pairs
from gateway.eval.svg_plot import scatter_svg

__all__ = ["run_rank"]


async def run_rank(
    args: argparse.Namespace, cases: list[EvalCase], models: list[str], settings: Settings | None
) -> int:
    out = Path(args.out)
    cache = ResultCache(out / "cache.jsonl")
    pairs: list[PairResult] = []
    try:
        async with connect(url=args.url, key=args.key, settings=settings) as client:
            missing = [m for m in models if m not in await client.models()]
            if missing:
                raise EvalError(
                    f"unknown model(s), or not allowed for this key: {', '.join(missing)}"
                )
            progress = Progress(len(cases) * len(models), label="answers")
            results = await answer_cases(
                cases, models, client, concurrency=args.concurrency, cache=cache, progress=progress
            )
            progress.close()
            called = client.calls
            if args.pairwise:
                progress = Progress(count_pairs(cases, results), label="pairs  ")
                pairs = await judge_pairs(
                    cases, results, client, judge=args.judge, rubric=args.rubric,
                    concurrency=args.concurrency, cache=cache, progress=progress,
                )  # fmt: skip
                progress.close()
            published = publish_payload(results) if args.publish else {}
            for task, entries in published.items():
                await client.publish(task, entries)
    finally:
        cache.close()
    _report(out, results, pairs, called, published)
    return 0 if any(r.error is None for r in results) else 1


def _report(
    out: Path,
    results: list[CaseResult],
    pairs: list[PairResult],
    called: int,
    published: dict[str, list[dict[str, Any]]],
) -> None:
    rows = eval_leaderboard(results, pairs)
    write_results(results, out / "results.jsonl")
    write_csv(rows, out / "leaderboard.csv")
    (out / "leaderboard.svg").write_text(scatter_svg(rows, title="Quality vs cost (arbiter rank)"))
    cached = sum(r.cached for r in results)
    errors = [r for r in results if r.error is not None]
    write = sys.stdout.write
    write(format_table(rows) + "\n\n")
    write(f"Pareto front (quality vs cost): {', '.join(pareto_models(rows)) or '-'}\n")
    write(
        f"{len(results)} results: {len(results) - cached} answered now, {cached} from the cache, "
        f"{len(errors)} errors; {called} model calls\n"
    )
    for result in errors[:5]:
        write(f"  error: {result.model} on case {result.case_id}: {result.error}\n")
    if published:
        tasks = ", ".join(f"{task} ({len(entries)} models)" for task, entries in published.items())
        write(f"published quality scores for {tasks}\n")
    write(f"wrote {out / 'results.jsonl'}, {out / 'leaderboard.csv'}, {out / 'leaderboard.svg'}\n")

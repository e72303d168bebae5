"""An eval run's leaderboard: quality with intervals, the Pareto front, what gets published."""

from __future__ import annotations

from gateway.eval.report import (
    CSV_COLUMNS,
    eval_leaderboard,
    format_table,
    pareto_models,
    publish_payload,
    write_csv,
)
from gateway.eval.results import CaseResult
from gateway.eval.runner import PairResult
from gateway.eval.svg_plot import scatter_svg

COST_PER_TOKEN = {"good": 5e-6, "ok": 1e-6, "cheap": 2e-7, "pricey": 9e-6}


def results(model: str, passes: int, total: int = 100, answered_by: str | None = None):
    out = []
    for i in range(total):
        usage = {"prompt_tokens": 10, "completion_tokens": 10}
        out.append(
            CaseResult(
                key=f"{model}{i}", case_id=str(i), model=model, task="math",
                assertion="numeric", score=1.0 if i < passes else 0.0, answer="42",
                answered_by=answered_by or model, latency_ms=10.0 + i, usage=usage,
                cost_usd=20 * COST_PER_TOKEN[answered_by or model],
            )
        )  # fmt: skip
    return out


def run():
    rows = results("good", 95) + results("ok", 80) + results("cheap", 60) + results("pricey", 70)
    rows.append(CaseResult(key="e", case_id="x", model="ok", task="math", assertion="numeric",
                           error="502: upstream"))  # fmt: skip
    return rows


def test_a_dominated_model_is_ranked_but_off_the_pareto_front(tmp_path):
    board = eval_leaderboard(run())
    assert [r.model for r in board] == ["good", "ok", "pricey", "cheap"]
    assert pareto_models(board) == ["cheap", "ok", "good"]
    ok = board[1]
    assert ok.quality == 0.8 and ok.samples == 100  # the errored case is not a sample...
    assert abs(ok.error_rate - 1 / 101) < 1e-12  # ...it is an error
    assert ok.quality_low < 0.8 < ok.quality_high
    assert abs(ok.cost_per_mtok - 1.0) < 1e-9 and ok.latency_p50_ms == 59.0
    table = format_table(board)
    assert table.splitlines()[0].split()[:3] == ["rank", "model", "quality"]
    write_csv(board, tmp_path / "leaderboard.csv")
    lines = (tmp_path / "leaderboard.csv").read_text().splitlines()
    assert lines[0] == ",".join(CSV_COLUMNS) and lines[1].startswith("1,good,0.95,")
    svg = scatter_svg(board)
    assert svg.count('class="model pareto"') == 3 and svg.count('class="model"') == 1


def test_publish_credits_the_model_that_answered_per_task():
    routed = results("auto", 8, total=10, answered_by="ok")
    payload = publish_payload(run() + routed)
    math = {entry["model"]: entry for entry in payload["math"]}
    assert math["ok"] == {"model": "ok", "score": 88.0, "samples": 110.0}
    assert "auto" not in math


def test_pairwise_verdicts_give_an_arena_column():
    pairs = [
        PairResult(f"k{i}", "pair", str(i), "math", "good", "cheap", "good", "A", "B")
        for i in range(8)
    ] + [PairResult("t", "pair", "9", "math", "good", "cheap", None, "A", "A")]
    board = eval_leaderboard(results("good", 9, 10) + results("cheap", 6, 10), pairs)
    by_model = {r.model: r for r in board}
    assert by_model["good"].arena_score > by_model["cheap"].arena_score
    assert by_model["good"].votes == 9 and "arena" in format_table(board)

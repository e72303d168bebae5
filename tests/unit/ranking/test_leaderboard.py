"""Leaderboard rows: ranked by quality, Pareto front on quality vs cost, pairwise-only models."""

from __future__ import annotations

from routing.ranking.bradley_terry import rank_pairwise
from routing.ranking.leaderboard import build_leaderboard, pareto_front
from routing.ranking.quality import QualityEstimate


def test_pareto_front_keeps_only_undominated_models():
    points = {
        "good": (0.95, 5.0),
        "ok": (0.80, 0.9),
        "cheap": (0.60, 0.2),
        "pricey-and-worse": (0.70, 6.0),  # good is better and cheaper
        "same-but-dearer": (0.80, 1.0),  # ok is as good and cheaper
        "unpriced": (0.99, None),
    }
    assert pareto_front(points) == {"good", "ok", "cheap"}


def test_rows_rank_by_quality_and_unmeasured_models_come_last_unranked():
    estimates = {
        "a": QualityEstimate(0.7, 0.6, 0.8, 100),
        "b": QualityEstimate(0.9, 0.85, 0.93, 100),
    }
    rows = build_leaderboard(
        ["a", "b", "c"],
        quality=estimates.get,
        sources=lambda m: ("eval",),
        list_cost={"a": 1.0, "b": 2.0, "c": 0.1},
    )
    assert [(r.model, r.rank, r.pareto) for r in rows] == [
        ("b", 1, True),
        ("a", 2, True),
        ("c", None, False),
    ]
    assert rows[0].quality_low == 0.85 and rows[0].samples == 100
    assert rows[0].quality_source == "eval" and rows[0].cost_per_mtok == 2.0


def test_a_model_known_only_from_votes_gets_its_expected_win_rate_as_quality():
    arena = rank_pairwise({("x", "y"): 30.0, ("y", "x"): 10.0}, rounds=50)
    rows = build_leaderboard(["x", "y"], quality=lambda m: None, arena=arena)
    assert [r.model for r in rows] == ["x", "y"]
    x = rows[0]
    assert x.quality_source == "pairwise" and x.quality > 0.5 and x.votes == 40
    assert x.quality_low <= x.quality <= x.quality_high
    assert x.arena_score > rows[1].arena_score

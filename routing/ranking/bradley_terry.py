"""Bradley-Terry ranking of pairwise votes, with bootstrap confidence intervals.

The model: model *i* beats model *j* with probability p_i / (p_i + p_j). The
strengths are fitted with Hunter's MM algorithm (2004), the fixed-point
iteration p_i ← W_i / Σ_j N_ij / (p_i + p_j). Every model also plays half a win
and half a loss against a virtual anchor of strength 1: a weak prior that keeps
strengths finite for a model that never (or always) won and ties the
comparison graph together when it has several components.

The fit reads vote *counts*, so the order votes arrived in cannot change it.
Confidence intervals come from a parametric bootstrap: the votes are resampled
(multinomial over the observed (winner, loser) pairs) ``rounds`` times with a
seeded generator and refitted, all rounds at once as one array; the same votes
and seed always give the same intervals.

Scores are reported on the familiar Elo scale, ``1000 + 400·log10(p)`` with
strengths normalised to a geometric mean of 1, alongside each model's expected
win rate against a uniformly chosen other model.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from routing.ranking.arena import ArenaRanking

__all__ = ["ArenaRanking", "fit_strengths", "rank_pairwise"]

_PRIOR = 0.5
_MAX_ITERS = 2000
_TOL = 1e-10


def _matrix(wins: Mapping[tuple[str, str], float], models: list[str]) -> np.ndarray:
    index = {m: i for i, m in enumerate(models)}
    w = np.zeros((len(models), len(models)))
    for (winner, loser), count in wins.items():
        w[index[winner], index[loser]] += count
    return w


def _fit(w: np.ndarray) -> np.ndarray:
    """MM fit of strengths for a batch of win matrices, shape (B, m, m) -> (B, m)."""
    batch, m, _ = w.shape
    full = np.zeros((batch, m + 1, m + 1))
    full[:, :m, :m] = w
    full[:, :m, m] += _PRIOR  # every model vs the anchor
    full[:, m, :m] += _PRIOR
    games = full + full.transpose(0, 2, 1)
    won = full.sum(axis=2)[:, :m]
    p = np.ones((batch, m + 1))
    for _ in range(_MAX_ITERS):
        pair = p[:, :, None] + p[:, None, :]
        denominator = (games / pair).sum(axis=2)[:, :m]
        new = won / denominator
        change = np.max(np.abs(np.log(new) - np.log(p[:, :m])))
        p[:, :m] = new
        if change < _TOL:
            break
    strengths = p[:, :m]
    normalised: np.ndarray = strengths / np.exp(np.log(strengths).mean(axis=1, keepdims=True))
    return normalised


def fit_strengths(wins: Mapping[tuple[str, str], float]) -> dict[str, float]:
    """Strengths (geometric mean 1) from (winner, loser) -> votes."""
    models = sorted({m for pair in wins for m in pair})
    if not models:
        return {}
    fitted = _fit(_matrix(wins, models)[None])[0]
    return {m: float(v) for m, v in zip(models, fitted, strict=True)}


def _win_rates(strengths: np.ndarray) -> np.ndarray:
    """Expected win rate of each model against a uniformly chosen other one, (B, m)."""
    m = strengths.shape[1]
    if m < 2:
        return np.full(strengths.shape, 0.5)
    prob = strengths[:, :, None] / (strengths[:, :, None] + strengths[:, None, :])
    prob[:, np.arange(m), np.arange(m)] = 0.0
    rates: np.ndarray = prob.sum(axis=2) / (m - 1)
    return rates


def _elo(strengths: np.ndarray) -> np.ndarray:
    scores: np.ndarray = 1000.0 + 400.0 * np.log10(strengths)
    return scores


def rank_pairwise(
    wins: Mapping[tuple[str, str], float],
    *,
    rounds: int = 200,
    seed: int = 0,
    confidence: float = 0.95,
) -> ArenaRanking:
    """Fit, then bootstrap ``rounds`` resamples for percentile intervals."""
    wins = {pair: c for pair, c in wins.items() if c > 0 and pair[0] != pair[1]}
    models = sorted({m for pair in wins for m in pair})
    if not models:
        return ArenaRanking()
    w = _matrix(wins, models)
    point = _fit(w[None])
    cells = sorted(wins)  # a fixed order: the draw cannot depend on insertion order
    counts = np.array([wins[c] for c in cells])
    total = int(round(counts.sum()))
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(max(total, 1), counts / counts.sum(), size=max(rounds, 1))
    index = {m: i for i, m in enumerate(models)}
    rows = np.array([index[a] for a, _ in cells])
    cols = np.array([index[b] for _, b in cells])
    boot = np.zeros((draws.shape[0], len(models), len(models)))
    for cell, (row, col) in enumerate(zip(rows, cols, strict=True)):
        boot[:, row, col] += draws[:, cell]
    resampled = _fit(boot)
    tail = (1 - confidence) / 2 * 100
    low_q, high_q = tail, 100 - tail
    score, boot_score = _elo(point)[0], _elo(resampled)
    rate, boot_rate = _win_rates(point)[0], _win_rates(resampled)
    played = w.sum(axis=0) + w.sum(axis=1)

    def per_model(values: np.ndarray) -> dict[str, float]:
        return {m: float(v) for m, v in zip(models, values, strict=True)}

    return ArenaRanking(
        models=tuple(models),
        score=per_model(score),
        score_low=per_model(np.percentile(boot_score, low_q, axis=0)),
        score_high=per_model(np.percentile(boot_score, high_q, axis=0)),
        win_rate=per_model(rate),
        win_low=per_model(np.percentile(boot_rate, low_q, axis=0)),
        win_high=per_model(np.percentile(boot_rate, high_q, axis=0)),
        votes=per_model(played),
    )

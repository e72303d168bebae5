"""Bradley-Terry on simulated votes: recovers the true order, whatever the order of votes."""

from __future__ import annotations

import random

from routing.ranking.bradley_terry import fit_strengths, rank_pairwise

TRUE = {"opus": 6.0, "sonnet": 3.0, "haiku": 1.5, "mini": 1.0, "tiny": 0.4}


def simulate(n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    names = sorted(TRUE)
    votes = []
    for _ in range(n):
        a, b = rng.sample(names, 2)
        p = TRUE[a] / (TRUE[a] + TRUE[b])
        votes.append((a, b) if rng.random() < p else (b, a))
    return votes


def counts(votes: list[tuple[str, str]]) -> dict[tuple[str, str], float]:
    out: dict[tuple[str, str], float] = {}
    for pair in votes:
        out[pair] = out.get(pair, 0.0) + 1.0
    return out


def test_recovers_the_true_order_and_ratios_from_simulated_votes():
    ranking = rank_pairwise(counts(simulate(4000, seed=1)), rounds=200, seed=3)
    assert ranking.order() == sorted(TRUE, key=lambda m: -TRUE[m])
    strengths = fit_strengths(counts(simulate(4000, seed=1)))
    ratio = strengths["opus"] / strengths["tiny"]
    assert 0.7 * 15 < ratio < 1.3 * 15  # true ratio 6 / 0.4
    for model in TRUE:
        assert ranking.score_low[model] <= ranking.score[model] <= ranking.score_high[model]
        assert ranking.votes[model] > 0
    # the intervals separate models far apart in strength
    assert ranking.score_low["opus"] > ranking.score_high["haiku"]
    assert abs(sum(ranking.win_rate.values()) - len(TRUE) / 2) < 1e-9


def test_shuffling_the_votes_changes_nothing():
    votes = simulate(1500, seed=2)
    first = rank_pairwise(counts(votes), rounds=100, seed=5)
    for shuffle_seed in range(3):
        shuffled = list(votes)
        random.Random(shuffle_seed).shuffle(shuffled)
        again = rank_pairwise(counts(shuffled), rounds=100, seed=5)
        assert again.order() == first.order()
        assert again.score == first.score
        assert again.score_low == first.score_low and again.score_high == first.score_high


def test_same_seed_same_intervals_and_a_model_that_never_won_stays_finite():
    wins = {("a", "b"): 10.0, ("b", "c"): 10.0, ("a", "c"): 10.0}
    one = rank_pairwise(wins, rounds=50, seed=9)
    two = rank_pairwise(dict(reversed(list(wins.items()))), rounds=50, seed=9)
    assert one == two
    assert one.order() == ["a", "b", "c"]
    assert all(abs(s) < 1e6 for s in one.score.values())


def test_ties_count_half_and_no_votes_rank_nothing():
    assert rank_pairwise({}).models == ()
    even = rank_pairwise({("a", "b"): 5.0, ("b", "a"): 5.0}, rounds=20)
    assert abs(even.score["a"] - even.score["b"]) < 1e-6

"""Judging: verdicts parsed from free text, and position bias cancelled by swapping."""

from __future__ import annotations

import pytest

from routing.ranking.judge import judge_pair, judge_score, parse_preference, parse_score


@pytest.mark.parametrize(
    ("reply", "verdict"),
    [
        ("[[A]]", "A"),
        ("[[b]]", "B"),
        ("[[TIE]]", "tie"),
        ("Answer B is better.", "B"),
        ("a better answer would mention the date", None),
        ("", None),
    ],
)
def test_parse_preference(reply, verdict):
    assert parse_preference(reply) == verdict


@pytest.mark.parametrize(
    ("reply", "score"),
    [("0.8", 0.8), ("8/10", 0.8), ("80%", 0.8), ("1", 1.0), ("7", None), ("none", None)],
)
def test_parse_score(reply, score):
    assert parse_score(reply) == score


async def test_a_judge_that_always_prefers_the_first_answer_gives_a_tie():
    seen = []

    async def biased(messages):
        seen.append(messages[-1]["content"])
        return "[[A]]"

    verdict = await judge_pair(biased, "2 + 2?", "4", "5")
    assert verdict.winner is None and (verdict.a_first, verdict.b_first) == ("A", "A")
    assert "[Answer A]\n4\n" in seen[0] and "[Answer A]\n5\n" in seen[1]  # positions swapped


async def test_a_consistent_judge_picks_the_same_answer_both_ways():
    async def fair(messages):
        prompt = messages[-1]["content"]
        return "[[A]]" if "[Answer A]\n4\n" in prompt else "[[B]]"

    verdict = await judge_pair(fair, "2 + 2?", "5", "4")
    assert verdict.winner == "b" and verdict.decided


async def test_score_against_a_rubric_with_a_reference():
    async def judge(messages):
        assert "Rubric: exact sum" in messages[-1]["content"]
        assert "[Reference answer]\n4" in messages[-1]["content"]
        return "Score: 0.9"

    assert await judge_score(judge, "2 + 2?", "4", rubric="exact sum", reference="4") == 0.9

"""A judge model's verdicts: a 0..1 score against a rubric, or which of two answers is better.

The judge is any chat model, reached through ``ask`` (messages -> reply text),
so the same code serves ``/v1/compare`` (through the executor) and
``arbiter rank`` (in-process or over HTTP). Judges favour the answer shown
first, so a pairwise verdict asks twice with the answers swapped and counts a
win only when the judge prefers the same answer both ways (or prefers it once
and calls the other way a tie); a split is a tie.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Ask",
    "PairVerdict",
    "judge_pair",
    "judge_score",
    "pairwise_messages",
    "parse_preference",
    "parse_score",
    "score_messages",
]

Ask = Callable[[list[dict[str, Any]]], Awaitable[str]]

_SYSTEM = (
    "You are an impartial judge of AI assistant answers. Judge only how well each "
    "answer serves the question and the rubric; ignore length and style unless the "
    "rubric asks for them."
)
_DEFAULT_RUBRIC = "Correct, complete and helpful answers are better."
_BRACKETED = re.compile(r"\[\[\s*(A|B|TIE|T)\s*\]\]", re.IGNORECASE)
_BARE = re.compile(r"\b(A|B|TIE|Tie|tie)\b")  # capitals only: "a" is an English word
_FRACTION = re.compile(r"(-?\d+(?:\.\d+)?)\s*/\s*(\d+(?:\.\d+)?)")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def pairwise_messages(
    question: str, first: str, second: str, rubric: str | None = None
) -> list[dict[str, Any]]:
    user = (
        f"Question:\n{question}\n\n"
        f"[Answer A]\n{first}\n[End of answer A]\n\n"
        f"[Answer B]\n{second}\n[End of answer B]\n\n"
        f"Rubric: {rubric or _DEFAULT_RUBRIC}\n\n"
        "Which answer is better? Reply with [[A]], [[B]] or [[TIE]] and nothing else."
    )
    return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": user}]


def score_messages(
    question: str, answer: str, rubric: str | None = None, reference: str | None = None
) -> list[dict[str, Any]]:
    parts = [f"Question:\n{question}", f"[Answer]\n{answer}\n[End of answer]"]
    if reference:
        parts.append(f"[Reference answer]\n{reference}\n[End of reference]")
    parts.append(f"Rubric: {rubric or _DEFAULT_RUBRIC}")
    parts.append(
        "Score the answer from 0 (fails the rubric) to 1 (fully meets it). "
        "Reply with the number only."
    )
    return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": "\n\n".join(parts)}]


def parse_preference(text: str) -> str | None:
    """'A', 'B' or 'tie' from a judge's reply; None when it says none of them."""
    match = _BRACKETED.search(text or "") or _BARE.search(text or "")
    if match is None:
        return None
    verdict = match.group(1).upper()
    return "tie" if verdict in ("T", "TIE") else verdict


def parse_score(text: str) -> float | None:
    """A 0..1 score from a judge's reply ("0.8", "8/10", "80%"); None if there is none."""
    text = text or ""
    fraction = _FRACTION.search(text)
    if fraction is not None and float(fraction.group(2)) > 0:
        value = float(fraction.group(1)) / float(fraction.group(2))
    else:
        number = _NUMBER.search(text)
        if number is None:
            return None
        value = float(number.group(0))
        if "%" in text[number.end() : number.end() + 2]:
            value /= 100
    return value if 0.0 <= value <= 1.0 else None


@dataclass(frozen=True, slots=True)
class PairVerdict:
    winner: str | None  # "a", "b", or None for a tie (or no usable verdict)
    a_first: str | None  # the judge's verdict with a shown first: "A", "B", "tie", None
    b_first: str | None  # ... and with b shown first (as the judge said it)

    @property
    def decided(self) -> bool:
        return self.a_first is not None or self.b_first is not None


async def judge_pair(
    ask: Ask, question: str, a: str, b: str, rubric: str | None = None
) -> PairVerdict:
    """Ask twice, swapping positions, and combine so position bias cancels."""
    a_first, b_first = await asyncio.gather(
        ask(pairwise_messages(question, a, b, rubric)),
        ask(pairwise_messages(question, b, a, rubric)),
    )
    one, two = parse_preference(a_first), parse_preference(b_first)
    points = {"a": 0.0, "b": 0.0}
    for verdict, first, second in ((one, "a", "b"), (two, "b", "a")):
        if verdict == "A":
            points[first] += 1
        elif verdict == "B":
            points[second] += 1
        elif verdict == "tie":
            points[first] += 0.5
            points[second] += 0.5
    winner = None
    if points["a"] != points["b"]:
        winner = "a" if points["a"] > points["b"] else "b"
    return PairVerdict(winner, one, two)


async def judge_score(
    ask: Ask, question: str, answer: str, rubric: str | None = None, reference: str | None = None
) -> float | None:
    return parse_score(await ask(score_messages(question, answer, rubric, reference)))

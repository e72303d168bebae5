"""Running an eval: every case through every model, with bounded concurrency and a cache.

``answer_cases`` asks each model each case (at most ``concurrency`` at a time)
and scores the answer with its assertion; a ``judge`` assertion asks the judge
model for a 0..1 score. ``judge_pairs`` (``--pairwise``) has the judge compare
every two models' answers to each case, both ways round, for a Bradley-Terry
ranking. Both skip what the cache already holds.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from gateway.eval.assertions import check_answer
from gateway.eval.client import GatewayClient
from gateway.eval.dataset import EvalCase
from gateway.eval.progress import Progress
from gateway.eval.results import CaseResult, ResultCache, result_key
from routing.ranking.judge import judge_pair, judge_score

__all__ = ["PairResult", "answer_cases", "count_pairs", "judge_pairs"]


class _JudgeFailed(Exception):
    pass


def _asker(client: GatewayClient, judge: str, task: str):  # type: ignore[no-untyped-def]
    async def ask(messages: list[dict[str, Any]]) -> str:
        reply = await client.complete(judge, messages, task=task)
        if reply.error:
            raise _JudgeFailed(reply.error)
        return reply.text

    return ask


async def _score(case: EvalCase, result: CaseResult, client: GatewayClient) -> None:
    if case.assertion != "judge":
        result.score, result.reason = check_answer(case, result.answer)
        return
    assert case.judge is not None
    reference = str(case.expected) if case.expected is not None else None
    try:
        score = await judge_score(
            _asker(client, case.judge, case.task),
            case.question,
            result.answer,
            rubric=case.options.get("rubric"),
            reference=reference,
        )
    except _JudgeFailed as exc:
        result.error = f"judge: {exc}"
        return
    if score is None:
        result.error = "judge: no score in the reply"
        return
    result.score = score
    result.reason = None if score >= 0.5 else f"judge scored {score:g}"


async def _answer(case: EvalCase, model: str, key: str, client: GatewayClient) -> CaseResult:
    reply = await client.complete(model, case.messages, task=case.task)
    result = CaseResult(
        key=key,
        case_id=case.id,
        model=model,
        task=case.task,
        assertion=case.assertion,
        answer=reply.text,
        answered_by=reply.answered_by,
        latency_ms=round(reply.latency_s * 1000, 3),
        usage=reply.usage,
        cost_usd=reply.cost_usd,
        error=reply.error,
    )
    if result.error is None:
        await _score(case, result, client)
    return result


async def answer_cases(
    cases: Sequence[EvalCase],
    models: Sequence[str],
    client: GatewayClient,
    *,
    concurrency: int = 8,
    cache: ResultCache | None = None,
    progress: Progress | None = None,
) -> list[CaseResult]:
    """One result per (case, model), in dataset order then model order."""
    cache = cache or ResultCache(None)
    limit = asyncio.Semaphore(max(concurrency, 1))

    async def one(case: EvalCase, model: str) -> CaseResult:
        key = result_key("answer", model, case.fingerprint())
        row = cache.get(key)
        if row is not None:
            result = CaseResult.from_row(row)
            result.case_id, result.cached = case.id, True
        else:
            async with limit:
                result = await _answer(case, model, key, client)
            if result.error is None:
                cache.put(result.as_row())
        if progress is not None:
            passed = None if result.score is None else result.score >= 0.5
            progress.advance(passed=passed, cached=result.cached)
        return result

    return list(await asyncio.gather(*(one(c, m) for c in cases for m in models)))


@dataclass(slots=True)
class PairResult:
    key: str
    kind: str
    case_id: str
    task: str
    a: str
    b: str
    winner: str | None  # a model name, or None for a tie
    a_first: str | None  # the judge's verdict with a shown first
    b_first: str | None
    cached: bool = False


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


async def judge_pairs(
    cases: Sequence[EvalCase],
    results: Sequence[CaseResult],
    client: GatewayClient,
    *,
    judge: str,
    rubric: str | None = None,
    concurrency: int = 8,
    cache: ResultCache | None = None,
    progress: Progress | None = None,
) -> list[PairResult]:
    """Every two models' answers to each case, judged both ways round."""
    cache = cache or ResultCache(None)
    limit = asyncio.Semaphore(max(concurrency, 1))
    by_case: dict[str, list[CaseResult]] = {}
    for result in results:
        if result.error is None:
            by_case.setdefault(result.case_id, []).append(result)

    async def one(case: EvalCase, a: CaseResult, b: CaseResult) -> PairResult | None:
        key = result_key(
            "pair",
            judge,
            case.fingerprint(),
            a.model,
            b.model,
            _digest(a.answer),
            _digest(b.answer),
        )
        row = cache.get(key)
        if row is not None:
            pair = PairResult(**{k: row[k] for k in PairResult.__dataclass_fields__ if k in row})
            pair.case_id, pair.cached = case.id, True
        else:
            async with limit:
                try:
                    verdict = await judge_pair(
                        _asker(client, judge, case.task), case.question, a.answer, b.answer, rubric
                    )
                except _JudgeFailed:
                    verdict = None
            if verdict is None or not verdict.decided:
                if progress is not None:
                    progress.advance(passed=None)
                return None
            winner = {"a": a.model, "b": b.model}.get(verdict.winner or "")
            pair = PairResult(
                key, "pair", case.id, case.task, a.model, b.model, winner,
                verdict.a_first, verdict.b_first,
            )  # fmt: skip
            cache.put(asdict(pair))
        if progress is not None:
            progress.advance(passed=True, cached=pair.cached)
        return pair

    jobs = [
        one(case, a, b)
        for case in cases
        for a, b in itertools.combinations(by_case.get(case.id, []), 2)
    ]
    return [p for p in await asyncio.gather(*jobs) if p is not None]


def count_pairs(cases: Sequence[EvalCase], results: Sequence[CaseResult]) -> int:
    answered: dict[str, int] = {}
    for result in results:
        if result.error is None:
            answered[result.case_id] = answered.get(result.case_id, 0) + 1
    return sum(n * (n - 1) // 2 for n in answered.values())

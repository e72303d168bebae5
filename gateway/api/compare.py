"""POST /v1/compare: one chat request, several models, every answer side by side.

The body is a chat completion request with ``models`` (a list, up to eight)
instead of ``model``, and optionally a ``judge`` model and a ``rubric``. Each
model is asked concurrently, through the request hooks (limits, budgets,
metrics, the scoreboard) like any chat request, under its own request id
(``<id>-1``, ``<id>-2``, ...) that ``POST /v1/feedback`` accepts. Answers come
back in the order asked, each with its latency, tokens and cost, or its error.
With a judge, every pair of answers is judged twice with positions swapped,
and each decided pair counts as a vote in the task's Bradley-Terry ranking.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway.api.chat import parse_chat_request, task_label
from gateway.auth import Caller
from gateway.context import RequestContext, RequestHook
from gateway.errors import error_body, resolve_error
from providers.errors import (
    GatewayError,
    InvalidRequestError,
    ModelNotFoundError,
    PermissionDeniedError,
)
from providers.pricing import usage_cost_usd
from providers.types import ChatRequest, message_text
from routing.executor import Completion, Executor
from routing.ranking import RankingService
from routing.ranking.judge import judge_pair

__all__ = ["MAX_MODELS", "router"]

router = APIRouter()

MAX_MODELS = 8


@dataclass(slots=True)
class _Served:
    ctx: RequestContext
    completion: Completion | None = None
    cost_usd: float | None = None


@dataclass(slots=True)
class _Call:
    """What every sub-request of one compare shares."""

    executor: Executor
    hooks: Sequence[RequestHook]
    caller: Caller
    headers: Mapping[str, str]
    task: str


async def _serve(call: _Call, chat: ChatRequest, request_id: str) -> _Served:
    """One model's answer, through the hooks like a chat request; errors are kept, not raised."""
    ctx = RequestContext(request_id, call.caller, chat, task=call.task, headers=call.headers)
    try:
        for hook in call.hooks:
            await hook.on_request(ctx)
        completion = await call.executor.complete(chat)
    except GatewayError as exc:
        ctx.fail(exc, call.hooks)
        return _Served(ctx)
    ctx.served_by(completion.model, completion.target, completion.attempts)
    ctx.usage = completion.response.get("usage")
    ctx.finish(call.hooks)
    cost = (
        ctx.cost_usd if ctx.cost_usd is not None else usage_cost_usd(ctx.usage, completion.target)
    )
    return _Served(ctx, completion, cost)


def _text(served: _Served) -> str:
    if served.completion is None:
        return ""
    choices = served.completion.response.get("choices") or [{}]
    return str((choices[0].get("message") or {}).get("content") or "")


def _answer(asked: str, served: _Served) -> dict[str, Any]:
    ctx = served.ctx
    out: dict[str, Any] = {
        "model": asked,
        "request_id": ctx.request_id,
        "answered_by": ctx.model,
        "provider": ctx.provider,
        "latency_ms": round((ctx.latency_s or 0.0) * 1000, 3),
    }
    if served.completion is None:
        assert ctx.error is not None
        out["error"] = error_body(resolve_error(ctx.error))["error"]
        return out
    choice = (served.completion.response.get("choices") or [{}])[0]
    out.update(
        content=_text(served),
        message=choice.get("message"),
        finish_reason=choice.get("finish_reason"),
        usage=ctx.usage,
        cost_usd=served.cost_usd,
        attempts=ctx.attempts,
        error=None,
    )
    return out


def _parse(body: bytes) -> tuple[ChatRequest, list[str], str | None, str | None]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestError(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidRequestError("the request body must be a JSON object")
    models = data.pop("models", None)
    judge, rubric = data.pop("judge", None), data.pop("rubric", None)
    if (
        not isinstance(models, list)
        or not 1 <= len(models) <= MAX_MODELS
        or not all(isinstance(m, str) and m for m in models)
    ):
        raise InvalidRequestError(
            f"models: must be a list of 1 to {MAX_MODELS} model names", param="models"
        )
    if len(set(models)) != len(models):
        raise InvalidRequestError("models: each model may appear once", param="models")
    if judge is not None and (not isinstance(judge, str) or not judge):
        raise InvalidRequestError("judge: must be a model name", param="judge")
    if rubric is not None and not isinstance(rubric, str):
        raise InvalidRequestError("rubric: must be a string", param="rubric")
    if data.get("stream"):
        raise InvalidRequestError("stream: /v1/compare answers with JSON only", param="stream")
    data.pop("model", None)
    chat = parse_chat_request(orjson.dumps({"model": models[0], **data}))
    return chat, models, judge, rubric


def _question(chat: ChatRequest) -> str:
    for message in reversed(chat.messages):
        if message.role == "user":
            return message_text(message)
    return message_text(chat.messages[-1])


async def _judge(
    call: _Call,
    service: RankingService,
    judge: str,
    rubric: str | None,
    chat: ChatRequest,
    answers: list[tuple[str, _Served]],
    request_id: str,
) -> dict[str, Any]:
    counter = itertools.count(1)

    async def ask(messages: list[dict[str, Any]]) -> str:
        request = ChatRequest.model_validate({"model": judge, "messages": messages})
        served = await _serve(call, request, f"{request_id}-judge-{next(counter)}")
        return _text(served)

    question = _question(chat)
    ok = [(asked, s) for asked, s in answers if s.completion is not None]
    pairs = list(itertools.combinations(ok, 2))
    verdicts = await asyncio.gather(
        *(judge_pair(ask, question, _text(a), _text(b), rubric) for (_, a), (_, b) in pairs)
    )
    wins = {asked: 0.0 for asked, _ in answers}
    report = []
    for ((name_a, a), (name_b, b)), verdict in zip(pairs, verdicts, strict=True):
        winner = {"a": name_a, "b": name_b}.get(verdict.winner or "")
        report.append(
            {
                "a": name_a,
                "b": name_b,
                "winner": winner,
                "a_first": verdict.a_first,
                "b_first": verdict.b_first,
            }
        )
        if not verdict.decided:
            continue
        model_a, model_b = a.ctx.model or name_a, b.ctx.model or name_b
        if winner is None:
            wins[name_a] += 0.5
            wins[name_b] += 0.5
            await service.votes.add_tie(call.task, model_a, model_b)
        else:
            wins[winner] += 1
            won, lost = (model_a, model_b) if winner == name_a else (model_b, model_a)
            await service.votes.add(call.task, won, lost)
    order = sorted(wins, key=lambda m: -wins[m])  # stable: ties keep the order asked
    return {"judge": judge, "rubric": rubric, "pairs": report, "wins": wins, "ranking": order}


_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "A chat completion request with `models` instead of `model`",
                    "required": ["models", "messages"],
                    "properties": {
                        "models": {
                            "type": "array",
                            "items": {"type": "string", "minLength": 1},
                            "minItems": 1,
                            "maxItems": MAX_MODELS,
                            "uniqueItems": True,
                        },
                        "messages": {"type": "array", "items": {"type": "object"}, "minItems": 1},
                        "judge": {"type": "string", "minLength": 1},
                        "rubric": {"type": "string"},
                    },
                    "additionalProperties": True,
                }
            }
        },
    }
}


@router.post("/v1/compare", openapi_extra=_OPENAPI)
async def compare(request: Request) -> Response:
    state = request.app.state
    caller = state.keyring.authenticate(request.headers)
    chat, models, judge, rubric = _parse(await request.body())
    executor: Executor = state.executor
    for i, model in enumerate([*models, *([judge] if judge else [])]):
        param = "judge" if i == len(models) else f"models.{i}"
        if not executor.knows(model):
            raise ModelNotFoundError(f"The model '{model}' does not exist", param=param)
        if not caller.may_use(model):
            raise PermissionDeniedError(f"this key may not use the model '{model}'", param=param)
    request_id = request.scope["state"]["request_id"]
    call = _Call(executor, state.hooks, caller, request.headers, task_label(request.headers, chat))
    started = time.perf_counter()
    served = await asyncio.gather(
        *(
            _serve(call, chat.model_copy(update={"model": model}), f"{request_id}-{i}")
            for i, model in enumerate(models, start=1)
        )
    )
    elapsed = time.perf_counter() - started
    answers = list(zip(models, served, strict=True))
    verdict = None
    if judge:
        verdict = await _judge(call, state.ranking, judge, rubric, chat, answers, request_id)
    body = {
        "object": "arbiter.compare",
        "id": request_id,
        "task": call.task,
        "latency_ms": round(elapsed * 1000, 3),
        "answers": [_answer(asked, s) for asked, s in answers],
        "verdict": verdict,
    }
    return Response(orjson.dumps(body), media_type="application/json")

"""The leaderboard and what feeds it from outside.

- ``GET /v1/rankings[?task=T]``: the leaderboard (INTERFACE.md's shape), plus the
  task labels seen, and for each routed model what it would pick now and why.
- ``POST /v1/feedback``: ``{"request_id", "score"}`` (0..1, or true/false for
  thumbs up/down) or ``{"preferred", "other"}`` (two request ids); 204. Only the
  key that asked (or the master key) may rate an answer; rating it again
  replaces the earlier rating.
- ``POST /v1/rankings/quality`` (master key): publish eval results per model
  for a task, as ``arbiter rank --publish`` does; a model's new results replace
  its previous ones.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.responses import JSONResponse, Response

from providers.errors import (
    GatewayError,
    InvalidRequestError,
    ModelNotFoundError,
    PermissionDeniedError,
)
from routing.ranking import Answer, RankingService
from routing.routes import RoutedModel

__all__ = ["RequestNotFoundError", "router"]

router = APIRouter()

_TASK = Field(default="general", min_length=1, max_length=64)


class RequestNotFoundError(GatewayError):
    """Feedback named a request id this gateway did not answer (or has forgotten)."""

    http_status = 404
    openai_type = "invalid_request_error"
    code = "request_not_found"


class MasterKeyRequiredError(PermissionDeniedError):
    code = "master_key_required"


class FeedbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    request_id: str | None = Field(default=None, min_length=1, max_length=128)
    score: bool | float | None = None
    preferred: str | None = Field(default=None, min_length=1, max_length=128)
    other: str | None = Field(default=None, min_length=1, max_length=128)

    @model_validator(mode="after")
    def _one_form(self) -> FeedbackBody:
        scored = self.request_id is not None or self.score is not None
        paired = self.preferred is not None or self.other is not None
        if scored == paired:
            raise ValueError('send either {"request_id", "score"} or {"preferred", "other"}')
        if scored and (self.request_id is None or self.score is None):
            raise ValueError("a score needs both 'request_id' and 'score'")
        if paired and (self.preferred is None or self.other is None):
            raise ValueError("a preference needs both 'preferred' and 'other'")
        if isinstance(self.score, float) and not 0.0 <= self.score <= 1.0:
            raise ValueError("score: must be between 0 and 1 (or true / false)")
        if paired and self.preferred == self.other:
            raise ValueError("'preferred' and 'other' must be two different requests")
        return self


class QualityResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = Field(min_length=1, max_length=200)
    score: float = Field(ge=0, description="summed scores (passes, for pass/fail cases)")
    samples: float = Field(gt=0, description="cases run")

    @model_validator(mode="after")
    def _at_most_one_per_case(self) -> QualityResult:
        if self.score > self.samples:
            raise ValueError("score cannot exceed samples")
        return self


class PublishBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: str = _TASK
    results: list[QualityResult] = Field(min_length=1, max_length=1000)


def _service(request: Request) -> RankingService:
    return request.app.state.ranking  # type: ignore[no-any-return]


def _routed_report(service: RankingService, routed: RoutedModel, task: str) -> dict[str, Any]:
    selector = service.selector
    settled = selector.decide(routed, task, exploit_only=True)
    last = selector.last.get(routed.name)
    return {
        "model": routed.name,
        "constraints": selector.constraints(routed).describe(),
        "explore": routed.explore,
        "choice": settled.model,
        "reason": settled.reason,
        "candidates": selector.assess(routed, task),
        "picks": dict(selector.picks.get(routed.name, {})),
        "last": None
        if last is None
        else {"model": last.model, "explored": last.explored, "reason": last.reason},
    }


@router.get("/v1/rankings")
async def get_rankings(
    request: Request, task: str = Query("general", min_length=1, max_length=64)
) -> Response:
    state = request.app.state
    caller = state.keyring.authenticate(request.headers)
    service = _service(request)
    await service.sync()
    models = [m for m in service.ranked_models() if caller.may_use(m)]
    rows = await service.leaderboard(task, models)
    routed = [
        _routed_report(service, r, task) for r in service.routed.values() if caller.may_use(r.name)
    ]
    body = {
        "task": task,
        "tasks": service.tasks(),
        "window_s": service.scoreboard.slices * service.scoreboard.slice_s,
        "shared": service.scoreboard.shared,
        "models": [row.as_dict() for row in rows],
        "routed": routed,
    }
    return JSONResponse(body)


async def _answer(service: RankingService, request_id: str, caller: Any, param: str) -> Answer:
    answer = await service.answers.lookup(request_id)
    if answer is None:
        raise RequestNotFoundError(
            f"no answer with request id {request_id!r} is known (unknown, failed or expired)",
            param=param,
        )
    if not caller.is_master and answer.caller != caller.name:
        raise PermissionDeniedError("this key may not rate another key's answers", param=param)
    return answer


@router.post("/v1/feedback", status_code=204)
async def post_feedback(request: Request, body: FeedbackBody) -> Response:
    caller = request.app.state.keyring.authenticate(request.headers)
    service = _service(request)
    if body.request_id is not None and body.score is not None:
        answer = await _answer(service, body.request_id, caller, "request_id")
        await service.record_score(answer, float(body.score))
    else:
        assert body.preferred is not None and body.other is not None
        preferred = await _answer(service, body.preferred, caller, "preferred")
        other = await _answer(service, body.other, caller, "other")
        if preferred.model == other.model:
            raise InvalidRequestError(
                f"both answers came from {preferred.model!r}; a preference needs two models",
                param="other",
            )
        await service.record_preference(preferred, other)
    return Response(status_code=204)


@router.post("/v1/rankings/quality", status_code=204)
async def publish_quality(request: Request, body: PublishBody) -> Response:
    caller = request.app.state.keyring.authenticate(request.headers)
    if not caller.is_master:
        raise MasterKeyRequiredError("only the master key may publish quality scores")
    service = _service(request)
    for i, result in enumerate(body.results):
        if result.model not in service.routes:
            raise ModelNotFoundError(
                f"The model '{result.model}' does not exist", param=f"results.{i}.model"
            )
    await service.quality.publish_eval(
        body.task, {r.model: (r.score, r.samples) for r in body.results}
    )
    return Response(status_code=204)

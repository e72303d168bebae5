"""POST /v1/chat/completions: parse, authorise, run the hooks, route, answer as JSON or SSE."""

from __future__ import annotations

import time
from collections.abc import Sequence

import orjson
from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response

from gateway.api.relay import StreamRelay
from gateway.caching import CacheSlot
from gateway.context import RequestContext, RequestHook
from gateway.errors import resolve_error
from providers.errors import GatewayError, InvalidRequestError, ModelNotFoundError
from providers.types import ChatRequest
from routing.executor import Executor

__all__ = ["parse_chat_request", "router"]

router = APIRouter()

_SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
_MAX_TASK_LABEL = 64
_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "none", "dict", "list"})


def _is_type_tag(part: int | str) -> bool:
    """Pydantic names union branches in error locations ('str', 'list[ContentPart]')."""
    return isinstance(part, str) and (part in _TYPE_TAGS or "[" in part)


def parse_chat_request(body: bytes) -> ChatRequest:
    """The body as a validated ChatRequest, or a 400 naming the offending field."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestError(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidRequestError("the request body must be a JSON object")
    try:
        return ChatRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"] if not _is_type_tag(p)) or None
        message = f"{param}: {first['msg']}" if param else first["msg"]
        raise InvalidRequestError(message, param=param) from None


def task_label(request: Request, chat: ChatRequest) -> str:
    """The task a request belongs to, for ranking: header, then metadata, then 'general'."""
    label = request.headers.get("x-arbiter-task")
    if not label and chat.metadata and isinstance(chat.metadata.get("task"), str):
        label = chat.metadata["task"]
    return (label or "general").strip()[:_MAX_TASK_LABEL] or "general"


def _finish(ctx: RequestContext, hooks: Sequence[RequestHook]) -> None:
    ctx.latency_s = time.perf_counter() - ctx.started
    for hook in hooks:
        hook.on_response(ctx)


def _fail(ctx: RequestContext, exc: GatewayError, hooks: Sequence[RequestHook]) -> None:
    shown = resolve_error(exc)
    ctx.status, ctx.error, ctx.http_status = "error", exc, shown.http_status
    _finish(ctx, hooks)


def _answer_headers(ctx: RequestContext) -> dict[str, str]:
    return {
        "x-arbiter-model": ctx.model or "",
        "x-arbiter-provider": ctx.provider or "",
        "x-arbiter-attempts": str(ctx.attempts),
        "x-arbiter-cache": ctx.cache,
        **ctx.response_headers,
    }


@router.post("/v1/chat/completions")
async def chat_completions(request: Request) -> Response:
    state = request.app.state
    caller = state.keyring.authenticate(request.headers)
    chat = parse_chat_request(await request.body())
    executor: Executor = state.executor
    if not executor.knows(chat.model):
        raise ModelNotFoundError(f"The model '{chat.model}' does not exist", param="model")
    caller.check_model(chat.model)
    ctx = RequestContext(
        request.scope["state"]["request_id"],
        caller,
        chat,
        task=task_label(request, chat),
        headers=request.headers,
    )
    request.scope["state"]["context"] = ctx  # the access log middleware leaves it to the hooks
    hooks: Sequence[RequestHook] = state.hooks
    try:
        for hook in hooks:
            await hook.on_request(ctx)
        async with state.cache.slot(ctx, request.headers) as cached:
            if cached.answer is not None:
                return _cached_answer(cached, ctx, hooks)
            if chat.stream:
                result = await executor.stream(chat)
                result.rest = cached.record(result)
            else:
                completion = await executor.complete(chat)
                await cached.store(completion)
    except GatewayError as exc:
        _fail(ctx, exc, hooks)
        raise
    if chat.stream:
        ctx.model, ctx.provider, ctx.attempts = (
            result.model,
            result.target.provider,
            result.attempts,
        )
        ctx.upstream_model = result.target.model
        ctx.ttft_s = time.perf_counter() - ctx.started
        return StreamRelay(
            result, ctx, hooks, _finish, headers={**_SSE_HEADERS, **_answer_headers(ctx)}
        )
    ctx.model, ctx.provider, ctx.attempts = (
        completion.model,
        completion.target.provider,
        completion.attempts,
    )
    ctx.upstream_model = completion.target.model
    ctx.usage = completion.response.get("usage")
    ctx.response = completion.response
    _finish(ctx, hooks)
    return Response(
        orjson.dumps(completion.response),
        media_type="application/json",
        headers=_answer_headers(ctx),
    )


def _cached_answer(
    cached: CacheSlot, ctx: RequestContext, hooks: Sequence[RequestHook]
) -> Response:
    """A cache hit: the stored answer, as JSON or replayed as a stream, same headers."""
    assert cached.answer is not None
    _finish(ctx, hooks)
    if ctx.chat.stream:
        body, media_type, headers = cached.replay(), "text/event-stream", _SSE_HEADERS
    else:
        body, media_type, headers = orjson.dumps(cached.answer.response), "application/json", {}
    return Response(body, media_type=media_type, headers={**headers, **_answer_headers(ctx)})

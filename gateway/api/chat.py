"""POST /v1/chat/completions: parse, authorise, route, answer as JSON or SSE."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Request
from pydantic import ValidationError
from starlette.responses import Response, StreamingResponse

from gateway.auth import Caller
from gateway.errors import error_body, resolve_error
from gateway.metrics import Metrics
from providers.errors import GatewayError, InvalidRequestError, ModelNotFoundError
from providers.sse import DONE, encode_data
from providers.types import ChatChunk, ChatRequest
from routing.executor import Completion, Executor, StreamResult

__all__ = ["parse_chat_request", "router"]

router = APIRouter()

_SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def parse_chat_request(body: bytes) -> ChatRequest:
    """The body as a validated ChatRequest, or a 400 naming the offending field."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidRequestError("the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise InvalidRequestError("the request body must be a JSON object")
    try:
        return ChatRequest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        raise InvalidRequestError(
            f"{param}: {first['msg']}" if param else first["msg"], param=param
        ) from None


def _headers(model: str, provider: str, attempts: int, cache: str = "miss") -> dict[str, str]:
    return {
        "x-arbiter-model": model,
        "x-arbiter-provider": provider,
        "x-arbiter-attempts": str(attempts),
        "x-arbiter-cache": cache,
    }


def _record(
    metrics: Metrics,
    model: str,
    provider: str,
    status: str,
    started: float,
    usage: dict[str, Any] | None,
) -> None:
    metrics.requests.labels(model, provider, status).inc()
    metrics.duration.labels(model, provider).observe(time.perf_counter() - started)
    if usage:
        metrics.tokens.labels(model, provider, "prompt").inc(usage.get("prompt_tokens") or 0)
        metrics.tokens.labels(model, provider, "completion").inc(
            usage.get("completion_tokens") or 0
        )


@router.post("/v1/chat/completions")
async def chat_completions(request: Request) -> Response:
    state = request.app.state
    caller: Caller = state.keyring.authenticate(request.headers)
    chat = parse_chat_request(await request.body())
    executor: Executor = state.executor
    if not executor.knows(chat.model):
        raise ModelNotFoundError(f"The model '{chat.model}' does not exist", param="model")
    caller.check_model(chat.model)
    metrics: Metrics = state.metrics
    started = time.perf_counter()
    metrics.inflight.inc()
    if chat.stream:
        try:
            result = await executor.stream(chat)
        except GatewayError:
            metrics.inflight.dec()
            metrics.requests.labels(chat.model, "", "error").inc()
            raise
        return StreamingResponse(
            _relay(result, chat, metrics, started),
            media_type="text/event-stream",
            headers={
                **_SSE_HEADERS,
                **_headers(result.model, result.target.provider, result.attempts),
            },
        )
    try:
        completion: Completion = await executor.complete(chat)
    except GatewayError:
        metrics.requests.labels(chat.model, "", "error").inc()
        raise
    finally:
        metrics.inflight.dec()
    provider = completion.target.provider
    _record(metrics, completion.model, provider, "ok", started, completion.response.get("usage"))
    return Response(
        orjson.dumps(completion.response),
        media_type="application/json",
        headers=_headers(completion.model, provider, completion.attempts),
    )


def _for_client(chunk: ChatChunk, include_usage: bool) -> bool:
    """The usage-only chunk is withheld from clients that did not ask for it."""
    return include_usage or bool(chunk.get("choices")) or not chunk.get("usage")


async def _relay(
    result: StreamResult, chat: ChatRequest, metrics: Metrics, started: float
) -> AsyncIterator[bytes]:
    """Relays chunks as they arrive; a failure after the first byte ends the stream
    with one OpenAI-shaped error event and [DONE], never a hang."""
    include_usage = chat.include_usage
    status = "cancelled"  # until the stream ends one way or the other
    try:
        metrics.ttft.labels(result.model, result.target.provider).observe(
            time.perf_counter() - started
        )
        yield encode_data(result.first)
        async for chunk in result.rest:
            if _for_client(chunk, include_usage):
                yield encode_data(chunk)
        status = "ok"
        yield DONE
    except GatewayError as exc:
        status = "error"
        yield encode_data(error_body(resolve_error(exc)))
        yield DONE
    finally:
        await result.rest.aclose()  # type: ignore[attr-defined]
        metrics.inflight.dec()
        _record(
            metrics, result.model, result.target.provider, status, started, result.attempt.usage
        )

"""The one place errors become responses: the OpenAI envelope with the right status.

Every error a client can see passes through ``render_error``: gateway errors,
FastAPI's validation errors, unknown routes, and (as ``InternalError``, from
``gateway.middleware``) any bug.
A message never carries a secret and a stack trace never leaves the process.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from providers.errors import (
    AllTargetsFailedError,
    GatewayError,
    InvalidRequestError,
    UpstreamUnavailableError,
)

__all__ = ["error_body", "install_error_handlers", "render_error", "resolve_error"]

_HTTP_CODES = {
    404: ("invalid_request_error", "not_found"),
    405: ("invalid_request_error", "method_not_allowed"),
}


def resolve_error(error: GatewayError) -> GatewayError:
    """The error a caller sees: all-targets-failed shows its most telling attempt."""
    if isinstance(error, AllTargetsFailedError):
        cause = error.cause
        if cause is None:
            return UpstreamUnavailableError("no deployment of this model is available")
        if cause.http_status < 500 and not cause.retryable:
            return cause  # the request itself was at fault (e.g. context too long)
        if cause.http_status == 504:
            return cause
        return UpstreamUnavailableError(
            f"every deployment failed; last: {cause.message}",
            provider=cause.provider,
            retry_after=cause.retry_after,
        )
    if error.http_status == 429 and error.upstream_status is not None:
        # An upstream's 429 that survived routing is the gateway failing, not the caller.
        return UpstreamUnavailableError(error.message, provider=error.provider)
    return error


def error_body(error: GatewayError, secrets: Iterable[str] = ()) -> dict[str, Any]:
    message = error.message
    for secret in secrets:
        if secret and secret in message:
            message = message.replace(secret, "[redacted]")
    return {
        "error": {
            "message": message,
            "type": error.openai_type,
            "param": error.param,
            "code": error.error_code,
        }
    }


def render_error(error: GatewayError, secrets: Iterable[str] = ()) -> Response:
    error = resolve_error(error)
    headers = {}
    if error.http_status == 429 and error.retry_after is not None:
        headers["retry-after"] = str(max(1, math.ceil(error.retry_after)))
        headers["retry-after-ms"] = str(max(1, math.ceil(error.retry_after * 1000)))
    return Response(
        orjson.dumps(error_body(error, secrets)),
        status_code=error.http_status,
        media_type="application/json",
        headers=headers,
    )


def _secrets(request: Request) -> Iterable[str]:
    return getattr(request.app.state, "secrets", ())


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    errors = exc.errors()
    if not errors:
        return "invalid request", None
    first = errors[0]
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    param = ".".join(loc) or None
    return (f"{param}: {first.get('msg')}" if param else str(first.get("msg"))), param


def install_error_handlers(app: FastAPI) -> None:
    async def on_gateway_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, GatewayError)
        return render_error(exc, _secrets(request))

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        message, param = _validation_message(exc)
        return render_error(InvalidRequestError(message, param=param), _secrets(request))

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        kind, code = _HTTP_CODES.get(exc.status_code, ("invalid_request_error", None))
        body = {"error": {"message": str(exc.detail), "type": kind, "param": None, "code": code}}
        return Response(
            orjson.dumps(body),
            status_code=exc.status_code,
            media_type="application/json",
            headers=exc.headers,
        )

    app.add_exception_handler(GatewayError, on_gateway_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(HTTPException, on_http_error)

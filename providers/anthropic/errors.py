"""Anthropic errors → the taxonomy.

The body is ``{"type": "error", "error": {"type": ..., "message": ...}}``. The
HTTP status decides first (``providers/status.py``), the error type second:

| status | error.type | class |
|---|---|---|
| 400 | invalid_request_error | InvalidRequestError ("prompt is too long": ContextWindowExceeded) |
| 401 | authentication_error | UpstreamAuthError |
| 402 | billing_error | UpstreamAuthError (the gateway's account, not the caller) |
| 403 | permission_error | UpstreamAuthError |
| 404 | not_found_error | UpstreamUnavailableError, not retried |
| 413 | request_too_large | RequestTooLargeError |
| 429 | rate_limit_error | RateLimitedError, ``retry-after`` honoured |
| 500 | api_error | UpstreamUnavailableError |
| 504 | timeout_error | UpstreamTimeoutError |
| 529 | overloaded_error | UpstreamUnavailableError (retryable) |

An ``error`` event inside a 200 stream has no status of its own; its type gives one.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from providers.errors import GatewayError, RequestTooLargeError, UpstreamAuthError
from providers.status import error_from_status, parse_retry_after

__all__ = ["map_anthropic_error", "parse_error_body", "stream_error"]

_STATUS_OF_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
_CONTEXT_PHRASES = ("prompt is too long", "exceed context limit", "exceeds the context window")


def parse_error_body(body: bytes) -> tuple[str | None, str | None]:
    """(error type, message) from an Anthropic error body, tolerating anything."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None, body[:200].decode("utf-8", "replace") or None
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return None, None
    kind, message = error.get("type"), error.get("message")
    return (str(kind) if kind else None), (str(message) if message else None)


def map_anthropic_error(
    provider: str, status: int, headers: httpx.Headers, body: bytes
) -> GatewayError:
    kind, message = parse_error_body(body)
    if status == 413 or kind == "request_too_large":
        return RequestTooLargeError(
            f"the request is too large for {provider}",
            provider=provider,
            upstream_status=status,
            debug=body,
        )
    if status == 402 or kind == "billing_error":
        return UpstreamAuthError(
            f"{provider} refused the gateway's account (billing)",
            provider=provider,
            upstream_status=status,
            retry_after=parse_retry_after(headers),
            debug=body,
        )
    lowered = (message or "").lower()
    code = "context_length_exceeded" if any(p in lowered for p in _CONTEXT_PHRASES) else kind
    return error_from_status(
        status, provider=provider, message=message, code=code, headers=headers, body=body
    )


def stream_error(provider: str, event: dict[str, Any]) -> GatewayError:
    """The error an ``error`` event in a stream stands for."""
    body = orjson.dumps(event)
    kind, _ = parse_error_body(body)
    status = _STATUS_OF_TYPE.get(kind or "", 500)
    return map_anthropic_error(provider, status, httpx.Headers(), body)

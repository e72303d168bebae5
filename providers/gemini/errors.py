"""Gemini errors → the taxonomy.

The body is ``{"error": {"code", "message", "status", "details"}}``:

| status | error.status | class |
|---|---|---|
| 400 | INVALID_ARGUMENT | InvalidRequestError; a token-limit message → ContextWindowExceededError; ErrorInfo reason API_KEY_INVALID → UpstreamAuthError |
| 400 | FAILED_PRECONDITION | UpstreamUnavailableError, not retried (billing or region of the gateway's project) |
| 401 / 403 | UNAUTHENTICATED / PERMISSION_DENIED | UpstreamAuthError |
| 404 | NOT_FOUND | UpstreamUnavailableError, not retried |
| 429 | RESOURCE_EXHAUSTED | RateLimitedError; retry hint from ``retry-after`` or RetryInfo ``retryDelay`` |
| 500 / 503 | INTERNAL / UNAVAILABLE | UpstreamUnavailableError |
| 504 | DEADLINE_EXCEEDED | UpstreamTimeoutError |

An error object inside a 200 stream takes its status from ``code`` (or ``status``).
"""  # noqa: E501

from __future__ import annotations

from typing import Any

import httpx
import orjson

from providers.errors import GatewayError, UpstreamUnavailableError
from providers.status import error_from_status

__all__ = ["map_gemini_error", "parse_error_body", "retry_delay", "stream_error"]

_STATUS_OF = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}
_KEY_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_SERVICE_BLOCKED"})
_CONTEXT_PHRASES = ("exceeds the maximum number of tokens", "input token count", "too long")
_MAX_DELAY_S = 3600.0


def parse_error_body(body: bytes) -> dict[str, Any]:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return {"message": body[:200].decode("utf-8", "replace")}
    if isinstance(data, list) and data:  # some Google front ends wrap the body in a list
        data = data[0]
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, dict) else {}


def retry_delay(error: dict[str, Any]) -> float | None:
    """Seconds from a ``google.rpc.RetryInfo`` detail (``"retryDelay": "37s"``)."""
    for detail in error.get("details") or ():
        if not isinstance(detail, dict) or "RetryInfo" not in str(detail.get("@type", "")):
            continue
        text = str(detail.get("retryDelay", "")).strip().removesuffix("s")
        try:
            return min(max(float(text), 0.0), _MAX_DELAY_S)
        except ValueError:
            return None
    return None


def _reasons(error: dict[str, Any]) -> set[str]:
    return {
        str(d.get("reason"))
        for d in error.get("details") or ()
        if isinstance(d, dict) and "ErrorInfo" in str(d.get("@type", ""))
    }


def map_gemini_error(
    provider: str, status: int, headers: httpx.Headers, body: bytes
) -> GatewayError:
    error = parse_error_body(body)
    kind = str(error.get("status") or "")
    message = str(error.get("message") or "") or None
    if _reasons(error) & _KEY_REASONS:
        status = 401
    if kind == "FAILED_PRECONDITION":
        failed = UpstreamUnavailableError(
            f"{provider} cannot serve the gateway's project: {message or kind}",
            provider=provider,
            upstream_status=status,
            debug=body,
        )
        failed.retryable = False  # type: ignore[misc]  # the same project fails again
        return failed
    lowered = (message or "").lower()
    context = status == 400 and "token" in lowered and any(p in lowered for p in _CONTEXT_PHRASES)
    code = "context_length_exceeded" if context else (kind or None)
    mapped = error_from_status(
        status, provider=provider, message=message, code=code, headers=headers, body=body
    )
    if mapped.retry_after is None:
        mapped.retry_after = retry_delay(error)
    return mapped


def stream_error(provider: str, payload: dict[str, Any]) -> GatewayError:
    """The error an ``{"error": ...}`` object inside a stream stands for."""
    found = payload.get("error")
    error: dict[str, Any] = found if isinstance(found, dict) else {}
    code = error.get("code")
    status = code if isinstance(code, int) and code >= 400 else 0
    status = status or _STATUS_OF.get(str(error.get("status") or ""), 500)
    return map_gemini_error(provider, status, httpx.Headers(), orjson.dumps(payload))

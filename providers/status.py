"""Upstream HTTP status → taxonomy, shared by every adapter's ``map_error``.

Adapters pull the message and the provider's structured error code out of their
own body format, then call ``error_from_status``: the status decides first, the
code second, the message text only last.
"""

from __future__ import annotations

import email.utils
import time

import httpx

from providers.errors import (
    ContentFilteredError,
    ContextWindowExceededError,
    GatewayError,
    InvalidRequestError,
    RateLimitedError,
    UpstreamAuthError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)

__all__ = ["error_from_status", "parse_retry_after"]

_MAX_RETRY_AFTER_S = 3600.0

_CONTEXT_CODES = frozenset({"context_length_exceeded", "string_above_max_length"})
_CONTEXT_PHRASES = (
    "context length",
    "context window",
    "maximum context",
    "prompt is too long",
    "too many tokens",
    "input is too long",
)
_FILTER_CODES = frozenset({"content_filter", "content_policy_violation"})


def parse_retry_after(headers: httpx.Headers) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` or ``retry-after`` (seconds or HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return min(max(float(millis) / 1000.0, 0.0), _MAX_RETRY_AFTER_S)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return min(max(float(value), 0.0), _MAX_RETRY_AFTER_S)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(max(when.timestamp() - time.time(), 0.0), _MAX_RETRY_AFTER_S)


def error_from_status(
    status: int,
    *,
    provider: str,
    message: str | None,
    code: str | None,
    headers: httpx.Headers,
    body: bytes,
) -> GatewayError:
    retry_after = parse_retry_after(headers)
    detail = (message or "").strip()[:300]
    lowered = detail.lower()

    def make(cls: type[GatewayError], text: str) -> GatewayError:
        return cls(
            text, provider=provider, upstream_status=status, retry_after=retry_after, debug=body
        )

    if status == 429:
        return make(RateLimitedError, f"{provider} is rate limiting requests")
    if status in (401, 403):
        return make(UpstreamAuthError, f"{provider} rejected the gateway's credentials")
    if code in _CONTEXT_CODES or (
        status in (400, 413, 422) and any(p in lowered for p in _CONTEXT_PHRASES)
    ):
        suffix = f": {detail}" if detail else ""
        return make(ContextWindowExceededError, f"the request is too long for the model{suffix}")
    if code in _FILTER_CODES:
        return make(
            ContentFilteredError, f"{provider} refused the request under its content policy"
        )
    if status in (408, 504):
        return make(UpstreamTimeoutError, f"{provider} timed out")
    if status in (400, 413, 422):
        suffix = f": {detail}" if detail else ""
        return make(InvalidRequestError, f"{provider} rejected the request{suffix}")
    if status == 404:
        error = make(UpstreamUnavailableError, f"{provider} does not know the deployment's model")
        error.retryable = False  # type: ignore[misc]  # retrying a 404 is pointless
        return error
    if status >= 500 or status == 409:
        return make(UpstreamUnavailableError, f"{provider} failed with status {status}")
    return make(UpstreamUnavailableError, f"{provider} answered with unexpected status {status}")

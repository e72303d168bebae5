"""Golden: each documented Anthropic error maps to the taxonomy, one row per error."""

from __future__ import annotations

import json

import httpx
import pytest

from providers.anthropic import AnthropicAdapter
from providers.errors import (
    ContextWindowExceededError,
    InvalidRequestError,
    RateLimitedError,
    RequestTooLargeError,
    UpstreamAuthError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)


def body(kind: str, message: str) -> bytes:
    return json.dumps(
        {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_1"}
    ).encode()


ROWS = [
    # status, error type, message, headers -> class, retryable, fallback, retry_after
    (
        400,
        "invalid_request_error",
        "max_tokens: Field required",
        {},
        InvalidRequestError,
        False,
        False,
        None,
    ),
    (
        400,
        "invalid_request_error",
        "prompt is too long: 208310 tokens > 200000 maximum",
        {},
        ContextWindowExceededError,
        False,
        True,
        None,
    ),
    (
        400,
        "invalid_request_error",
        "input length and `max_tokens` exceed context limit: 197000 + 8192 > 200000",
        {},
        ContextWindowExceededError,
        False,
        True,
        None,
    ),
    (401, "authentication_error", "invalid x-api-key", {}, UpstreamAuthError, False, True, None),
    (
        402,
        "billing_error",
        "Your credit balance is too low",
        {},
        UpstreamAuthError,
        False,
        True,
        None,
    ),
    (
        403,
        "permission_error",
        "Your API key does not have permission",
        {},
        UpstreamAuthError,
        False,
        True,
        None,
    ),
    (404, "not_found_error", "model: claude-nope", {}, UpstreamUnavailableError, False, True, None),
    (
        413,
        "request_too_large",
        "Request exceeds the maximum allowed number of bytes.",
        {},
        RequestTooLargeError,
        False,
        False,
        None,
    ),
    (
        429,
        "rate_limit_error",
        "Number of request tokens has exceeded your rate limit",
        {"retry-after": "7"},
        RateLimitedError,
        True,
        True,
        7.0,
    ),
    (500, "api_error", "Internal server error", {}, UpstreamUnavailableError, True, True, None),
    (504, "timeout_error", "Request timed out", {}, UpstreamTimeoutError, True, True, None),
    (
        529,
        "overloaded_error",
        "Overloaded",
        {"retry-after": "2"},
        UpstreamUnavailableError,
        True,
        True,
        2.0,
    ),
]


@pytest.mark.parametrize(
    ("status", "kind", "message", "headers", "cls", "retryable", "fallback", "retry_after"), ROWS
)
def test_error_table(status, kind, message, headers, cls, retryable, fallback, retry_after):
    raw = body(kind, message)
    error = AnthropicAdapter().map_error(status, httpx.Headers(headers), raw)
    assert type(error) is cls
    assert (error.retryable, error.fallback, error.retry_after) == (
        retryable,
        fallback,
        retry_after,
    )
    assert error.upstream_status == status and error.provider == "anthropic"
    assert error.debug == raw.decode()  # raw body kept for logs


def test_the_caller_never_sees_the_raw_body():
    error = AnthropicAdapter().map_error(
        401, httpx.Headers(), body("authentication_error", "key sk-ant-xyz")
    )
    assert "sk-ant-xyz" not in error.message


def test_a_non_json_body_still_maps_by_status():
    error = AnthropicAdapter().map_error(502, httpx.Headers(), b"<html>Bad gateway</html>")
    assert type(error) is UpstreamUnavailableError and error.retryable

"""Golden: each documented Gemini error maps to the taxonomy, one row per error."""

from __future__ import annotations

import json

import httpx
import pytest

from providers.errors import (
    ContextWindowExceededError,
    InvalidRequestError,
    RateLimitedError,
    UpstreamAuthError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from providers.gemini import GeminiAdapter

RETRY_INFO = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}
KEY_INVALID = {
    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
    "reason": "API_KEY_INVALID",
    "domain": "googleapis.com",
}


def body(code: int, status: str, message: str, *details: dict) -> bytes:
    error = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = list(details)
    return json.dumps({"error": error}).encode()


ROWS = [
    # status, body, headers -> class, retryable, fallback, retry_after
    (
        400,
        body(400, "INVALID_ARGUMENT", "Invalid value at 'contents[0].role'"),
        {},
        InvalidRequestError,
        False,
        False,
        None,
    ),
    (
        400,
        body(
            400,
            "INVALID_ARGUMENT",
            "The input token count (1200000) exceeds the maximum number of tokens allowed "
            "(1048576).",
        ),
        {},
        ContextWindowExceededError,
        False,
        True,
        None,
    ),
    (
        400,
        body(
            400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", KEY_INVALID
        ),
        {},
        UpstreamAuthError,
        False,
        True,
        None,
    ),
    (
        400,
        body(400, "FAILED_PRECONDITION", "User location is not supported for the API use."),
        {},
        UpstreamUnavailableError,
        False,
        True,
        None,
    ),
    (
        401,
        body(401, "UNAUTHENTICATED", "Request had invalid authentication credentials."),
        {},
        UpstreamAuthError,
        False,
        True,
        None,
    ),
    (
        403,
        body(403, "PERMISSION_DENIED", "The caller does not have permission"),
        {},
        UpstreamAuthError,
        False,
        True,
        None,
    ),
    (
        404,
        body(404, "NOT_FOUND", "models/gemini-nope is not found for API version v1beta"),
        {},
        UpstreamUnavailableError,
        False,
        True,
        None,
    ),
    (
        429,
        body(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota.", RETRY_INFO),
        {},
        RateLimitedError,
        True,
        True,
        37.0,
    ),
    (
        429,
        body(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted."),
        {"retry-after": "3"},
        RateLimitedError,
        True,
        True,
        3.0,
    ),
    (
        500,
        body(500, "INTERNAL", "An internal error has occurred."),
        {},
        UpstreamUnavailableError,
        True,
        True,
        None,
    ),
    (
        503,
        body(503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
        {},
        UpstreamUnavailableError,
        True,
        True,
        None,
    ),
    (
        504,
        body(504, "DEADLINE_EXCEEDED", "Deadline exceeded."),
        {},
        UpstreamTimeoutError,
        True,
        True,
        None,
    ),
]


@pytest.mark.parametrize(
    ("status", "raw", "headers", "cls", "retryable", "fallback", "retry_after"), ROWS
)
def test_error_table(status, raw, headers, cls, retryable, fallback, retry_after):
    error = GeminiAdapter().map_error(status, httpx.Headers(headers), raw)
    assert type(error) is cls
    assert (error.retryable, error.fallback, error.retry_after) == (
        retryable,
        fallback,
        retry_after,
    )
    assert error.provider == "gemini"
    assert error.debug == raw.decode()


def test_a_fractional_retry_delay_is_kept():
    raw = body(429, "RESOURCE_EXHAUSTED", "quota", {**RETRY_INFO, "retryDelay": "1.5s"})
    assert GeminiAdapter().map_error(429, httpx.Headers(), raw).retry_after == 1.5


def test_a_list_wrapped_or_html_body_still_maps_by_status():
    wrapped = b"[" + body(503, "UNAVAILABLE", "overloaded") + b"]"
    assert (
        type(GeminiAdapter().map_error(503, httpx.Headers(), wrapped)) is UpstreamUnavailableError
    )
    html = GeminiAdapter().map_error(502, httpx.Headers(), b"<html>502</html>")
    assert type(html) is UpstreamUnavailableError and html.retryable

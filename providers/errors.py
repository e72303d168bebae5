"""The error taxonomy: a few categories that drive behaviour (retry, fallback, status).

    GatewayError
     ├── InvalidRequestError                 400 invalid_request_error
     │    ├── ContextWindowExceededError     400 context_length_exceeded   (falls back)
     │    ├── ContentFilteredError           400 content_filter
     │    ├── RequestTooLargeError           413 request_too_large
     │    └── HeadersTooLargeError           431 request_header_fields_too_large
     ├── AuthenticationError                 401 authentication_error / invalid_api_key
     ├── PermissionDeniedError               403 permission_error / model_not_allowed
     │    └── MasterKeyRequiredError         403 insufficient_permissions
     ├── ModelNotFoundError                  404 invalid_request_error / model_not_found
     ├── RateLimitedError                    429 rate_limit_error          (retry, fallback)
     │    └── BudgetExceededError            429 budget_exceeded
     ├── UpstreamAuthError                   502 api_error / upstream_auth (fallback)
     ├── UpstreamUnavailableError            502 api_error / upstream_error (retry, fallback)
     ├── UpstreamTimeoutError                504 api_error / upstream_timeout (retry, fallback)
     ├── AllTargetsFailedError               status of the most informative attempt
     └── InternalError                       500 api_error

Classes hold data only. Rendering to the OpenAI envelope happens once, in
``gateway/errors.py``. ``message`` is safe to show a caller; ``debug`` (the raw
upstream body, truncated) is for logs only.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "AllTargetsFailedError",
    "AuthenticationError",
    "BudgetExceededError",
    "ContentFilteredError",
    "ContextWindowExceededError",
    "GatewayError",
    "HeadersTooLargeError",
    "InternalError",
    "InvalidRequestError",
    "MasterKeyRequiredError",
    "ModelNotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
    "RequestTooLargeError",
    "UpstreamAuthError",
    "UpstreamTimeoutError",
    "UpstreamUnavailableError",
]

_DEBUG_LIMIT = 2048


class GatewayError(Exception):
    http_status: ClassVar[int] = 500
    openai_type: ClassVar[str] = "api_error"
    code: ClassVar[str | None] = None
    retryable: ClassVar[bool] = False
    fallback: ClassVar[bool] = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        target: str | None = None,
        upstream_status: int | None = None,
        retry_after: float | None = None,
        param: str | None = None,
        debug: str | bytes | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.target = target
        self.upstream_status = upstream_status
        self.retry_after = retry_after
        self.param = param
        if isinstance(debug, bytes):
            debug = debug.decode("utf-8", "replace")
        self.debug = debug[:_DEBUG_LIMIT] if debug else None

    @property
    def error_code(self) -> str | None:
        return self.code

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, provider={self.provider!r})"


class InvalidRequestError(GatewayError):
    http_status = 400
    openai_type = "invalid_request_error"
    code = "invalid_request_error"


class ContextWindowExceededError(InvalidRequestError):
    code = "context_length_exceeded"
    fallback = True


class ContentFilteredError(InvalidRequestError):
    code = "content_filter"


class RequestTooLargeError(InvalidRequestError):
    http_status = 413
    code = "request_too_large"


class HeadersTooLargeError(InvalidRequestError):
    http_status = 431
    code = "request_header_fields_too_large"


class AuthenticationError(GatewayError):
    http_status = 401
    openai_type = "authentication_error"
    code = "invalid_api_key"


class PermissionDeniedError(GatewayError):
    http_status = 403
    openai_type = "permission_error"
    code = "model_not_allowed"


class MasterKeyRequiredError(PermissionDeniedError):
    """An admin endpoint (usage, keys) called with a key other than the master key."""

    code = "insufficient_permissions"


class ModelNotFoundError(GatewayError):
    http_status = 404
    openai_type = "invalid_request_error"
    code = "model_not_found"


class RateLimitedError(GatewayError):
    http_status = 429
    openai_type = "rate_limit_error"
    code = "rate_limit_exceeded"
    retryable = True
    fallback = True


class BudgetExceededError(RateLimitedError):
    code = "budget_exceeded"
    retryable = False
    fallback = False


class UpstreamAuthError(GatewayError):
    http_status = 502
    code = "upstream_auth"
    fallback = True


class UpstreamUnavailableError(GatewayError):
    http_status = 502
    code = "upstream_error"
    retryable = True
    fallback = True


class UpstreamTimeoutError(GatewayError):
    http_status = 504
    code = "upstream_timeout"
    retryable = True
    fallback = True


class InternalError(GatewayError):
    http_status = 500
    code = "internal_error"


class AllTargetsFailedError(GatewayError):
    """Every deployment and fallback failed; renders as the most informative attempt."""

    def __init__(self, errors: list[GatewayError]) -> None:
        self.errors = errors
        last = most_informative(errors)
        super().__init__(
            last.message if last else "no deployment is available for this model",
            provider=last.provider if last else None,
            upstream_status=last.upstream_status if last else None,
            retry_after=last.retry_after if last else None,
        )
        self.cause = last

    @property
    def error_code(self) -> str | None:
        return self.cause.error_code if self.cause else UpstreamUnavailableError.code


def most_informative(errors: list[GatewayError]) -> GatewayError | None:
    """The attempt a caller learns most from: the last timeout if the last attempt
    timed out, else the last client-caused error, else the last error."""
    if not errors:
        return None
    return errors[-1]

"""The access log: one structured line per request, on the ``arbiter.access`` logger.

A chat request is logged by ``AccessLogHook`` from its ``RequestContext`` when its
response is complete (JSON sent, stream ended, or error)::

    time request_id key model_requested model provider upstream_model attempts
    status http_status cache stream task latency_ms ttft_ms prompt_tokens
    completion_tokens cost_usd [error error_message attempt_errors]

``attempt_errors`` lists the error class of each failed upstream attempt.
``time`` is when the request arrived (UTC). Prompts and completions are logged
(``messages``, ``completion``) only with ``logging.log_bodies: true``.

A request refused before it had a context (bad key, unknown model, malformed or
too large body, unknown path) is logged by ``log_without_context`` with what is
known: ``time request_id method path http_status status latency_ms``. Probes
and scrapes (``/health/*``, ``/metrics``) are not logged.

Key values never appear: ``key`` is the key's configured name, and error
messages are scrubbed of every configured secret.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from starlette.types import Scope

from gateway.context import RequestContext
from gateway.errors import resolve_error
from gateway.logging_setup import FIELDS_ATTR, sole_handler, utc_iso
from providers.errors import AllTargetsFailedError

__all__ = [
    "AccessLogHook",
    "access_fields",
    "completion_text",
    "is_logged",
    "log_without_context",
]

log = logging.getLogger("arbiter.access")

_QUIET_PATHS = ("/health/", "/metrics")
_CONTEXT_KEY = "context"  # where chat.py leaves the RequestContext in scope["state"]
_MAX_PATH = 256  # the path is the client's text: logged, bounded


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "[redacted]")
    return text


def _emit(message: str, fields: dict[str, Any]) -> None:
    """``log.info`` without looking up the caller's frame: every line comes from here.
    When Arbiter's own handler alone would see the record (``arbiter serve``), it is
    handed the line's parts instead: the same line without a ``LogRecord``, the
    logger's walk and the handler's lock."""
    handler = sole_handler(log)
    if handler is not None and handler.write_fields(log.name, message, fields):
        return
    record = log.makeRecord(
        log.name, logging.INFO, __file__, 0, message, (), None, extra={FIELDS_ATTR: fields}
    )
    log.handle(record)


def completion_text(ctx: RequestContext) -> str | None:
    """The text the caller received: the JSON answer's, or the streamed deltas'."""
    if ctx.response is not None:
        choices = ctx.response.get("choices") or [{}]
        return (choices[0].get("message") or {}).get("content")
    if ctx.chunks is not None:
        return "".join(
            ((choice.get("delta") or {}).get("content") or "")
            for chunk in ctx.chunks
            for choice in chunk.get("choices") or ()
            if choice.get("index", 0) == 0
        )
    return None


def access_fields(ctx: RequestContext, secrets: Iterable[str] = ()) -> dict[str, Any]:
    """What the access log records of one chat request."""
    elapsed = time.perf_counter() - ctx.started
    fields: dict[str, Any] = {
        "time": utc_iso(time.time() - elapsed),
        "request_id": ctx.request_id,
        "key": ctx.caller.name,
        "model_requested": ctx.chat.model,
        "model": ctx.model,
        "provider": ctx.provider,
        "upstream_model": ctx.upstream_model,
        "attempts": ctx.attempts,
        "status": ctx.status,
        "http_status": ctx.http_status,
        "cache": ctx.cache,
        "stream": bool(ctx.chat.stream),
        "task": ctx.task,
        "latency_ms": _ms(ctx.latency_s),
        "ttft_ms": _ms(ctx.ttft_s),
        "prompt_tokens": ctx.prompt_tokens if ctx.usage else None,
        "completion_tokens": ctx.completion_tokens if ctx.usage else None,
        "cost_usd": ctx.cost_usd,
    }
    error = ctx.error
    if error is not None:
        fields["error"] = type(error).__name__
        fields["error_message"] = _scrub(resolve_error(error).message, secrets)
        if isinstance(error, AllTargetsFailedError):
            failed = [type(e).__name__ for e in error.errors]
        else:
            failed = [type(error).__name__] if error.provider else []  # upstream's, or ours
        fields["attempt_errors"] = failed
        fields["attempts"] = max(ctx.attempts, len(failed))
    return fields


class AccessLogHook:
    """Writes the access line of every chat request (a ``RequestHook``)."""

    def __init__(self, *, log_bodies: bool = False, secrets: Iterable[str] = ()) -> None:
        self.log_bodies = log_bodies
        self.secrets = tuple(secrets)
        self.acts_on_request = log_bodies  # it only asks for a stream's chunks to log them

    async def on_request(self, ctx: RequestContext) -> None:
        if self.log_bodies and ctx.chat.stream:
            ctx.chunks = []  # chat.py keeps the streamed chunks only when asked to

    def on_response(self, ctx: RequestContext) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        fields = access_fields(ctx, self.secrets)
        if self.log_bodies:
            fields["messages"] = [m.model_dump(exclude_none=True) for m in ctx.chat.messages]
            fields["completion"] = completion_text(ctx)
        _emit(f"{ctx.chat.model} {ctx.status} {ctx.http_status}", fields)


def log_without_context(scope: Scope, status: int, arrived: float, started: float) -> None:
    """The line of a request that never reached a chat context (refusals: 401, 403,
    404, 400, 413; other routes), written by ``gateway.middleware.RequestContextMiddleware``
    once the response is done. ``arrived``: Unix time; ``started``: ``perf_counter``."""
    state = scope.get("state") or {}
    if _CONTEXT_KEY in state or not log.isEnabledFor(logging.INFO):
        return  # a chat request: its hook wrote the line
    fields = {
        "time": utc_iso(arrived),
        "request_id": state.get("request_id"),
        "method": scope["method"],
        "path": scope["path"][:_MAX_PATH],
        "http_status": status,
        "status": "ok" if status < 400 else "error",
        "latency_ms": _ms(time.perf_counter() - started),
    }
    _emit(f"{scope['method']} {fields['path']} {status}", fields)


def is_logged(path: str) -> bool:
    """Probes and scrapes (``/health/*``, ``/metrics``) get no access line."""
    return not path.startswith(_QUIET_PATHS)

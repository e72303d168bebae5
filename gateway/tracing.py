"""OpenTelemetry traces: a span per request with a child span per upstream attempt.

Needs the optional extra (``pip install 'arbiter-gateway[otel]'``) and
``tracing.enabled: true``. When tracing is off this module is never imported, so
the OpenTelemetry SDK and exporters are not loaded and no hook or observer runs:
it costs nothing. (FastAPI itself imports the OpenTelemetry *API*.)

Arbiter's tracer provider is its own, never the global one: setting the global
provider would also switch on FastAPI's native HTTP telemetry. When the host did
set one up (e.g. ``opentelemetry-instrument``), the request span becomes a child
of whatever span is current when the request reaches the hooks, so an incoming
``traceparent`` continues into Arbiter's spans.

Attribute names follow the OpenTelemetry GenAI semantic conventions (spans for
inference: ``gen_ai.operation.name``, ``gen_ai.provider.name``,
``gen_ai.request.*``, ``gen_ai.response.*``, ``gen_ai.usage.*``, ``error.type``,
``server.address``); Arbiter's own facts are under ``arbiter.*``.

- request span: ``chat {requested model}``, kind SERVER, from arrival to the last
  byte; the gateway's view (which model answered, attempts, cache, cost, key name).
- attempt span: ``chat {upstream model}``, kind CLIENT, child of the request span,
  one per upstream attempt with its provider, outcome and usage.

Spans are built when the response is complete, from what the request context and
the attempts recorded; the executor stays unaware of tracing. Prompts and
completions are never put on spans.
"""

from __future__ import annotations

import asyncio
import time
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

try:
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.context import Context
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SpanExporter,
    )
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
except ImportError as exc:  # pragma: no cover - depends on what is installed
    raise RuntimeError(
        "tracing.enabled needs the otel extra: pip install 'arbiter-gateway[otel]'"
    ) from exc

from gateway.config import TracingSettings
from gateway.context import RequestContext
from providers.base import Target
from providers.semconv import genai_provider_name
from routing.executor import Attempt

__all__ = ["TracingHook", "build_provider", "install_tracing"]

_OPERATION = "chat"
_NS = 1_000_000_000
# The request being served: the trace context it arrived in, and its attempts, each
# with the wall-clock time it ended.
_request: ContextVar[tuple[Context, list[tuple[Attempt, int]]] | None] = ContextVar(
    "arbiter_request", default=None
)


def build_provider(
    settings: TracingSettings, exporter: SpanExporter | None = None
) -> TracerProvider:
    """A tracer provider of Arbiter's own (the global one is left to the host)."""
    provider = TracerProvider(
        resource=Resource.create({"service.name": settings.service_name}),
        sampler=ParentBased(TraceIdRatioBased(settings.sample_ratio)),
    )
    if exporter is None and settings.exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = (
            OTLPSpanExporter(endpoint=settings.endpoint)
            if settings.endpoint
            else (OTLPSpanExporter())
        )
    elif exporter is None and settings.exporter == "console":
        exporter = ConsoleSpanExporter()
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def _request_attributes(ctx: RequestContext) -> dict[str, Any]:
    chat = ctx.chat
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": _OPERATION,
        "gen_ai.request.model": chat.model,
        "gen_ai.request.stream": bool(chat.stream),
        "arbiter.request_id": ctx.request_id,
        "arbiter.key": ctx.caller.name,
        "arbiter.task": ctx.task,
        "arbiter.status": ctx.status,
        "arbiter.attempts": ctx.attempts,
        "arbiter.cache": ctx.cache,
        "http.response.status_code": ctx.http_status,
    }
    optional: dict[str, Any] = {
        "gen_ai.request.temperature": chat.temperature,
        "gen_ai.request.top_p": chat.top_p,
        "gen_ai.request.max_tokens": chat.output_limit,
        "gen_ai.response.model": ctx.upstream_model,
        "gen_ai.response.time_to_first_chunk": ctx.ttft_s if chat.stream else None,
        "arbiter.model": ctx.model,
        "arbiter.provider": ctx.provider,
        "arbiter.cost_usd": ctx.cost_usd,
    }
    if ctx.usage:
        optional["gen_ai.usage.input_tokens"] = ctx.prompt_tokens
        optional["gen_ai.usage.output_tokens"] = ctx.completion_tokens
    if ctx.response is not None:
        optional["gen_ai.response.id"] = ctx.response.get("id")
        reasons = [c.get("finish_reason") for c in ctx.response.get("choices") or ()]
        optional["gen_ai.response.finish_reasons"] = [r for r in reasons if r] or None
    attributes.update({k: v for k, v in optional.items() if v is not None})
    return attributes


class TracingHook:
    """A ``RequestHook`` (the request span) and an ``AttemptObserver`` (its children)."""

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer("arbiter")
        self._servers: dict[str, dict[str, Any]] = {}
        self._closed = False

    async def on_request(self, ctx: RequestContext) -> None:
        _request.set((otel_context.get_current(), []))

    def on_attempt(self, attempt: Attempt) -> None:
        request = _request.get()
        if request is not None:
            request[1].append((attempt, time.time_ns()))

    def on_response(self, ctx: RequestContext) -> None:
        end = time.time_ns()
        start = end - int((time.perf_counter() - ctx.started) * _NS)
        arrived_in, attempts = _request.get() or (None, [])
        outer = trace.get_current_span(arrived_in).get_span_context().is_valid
        span = self.tracer.start_span(
            f"{_OPERATION} {ctx.chat.model}",
            context=arrived_in,
            kind=trace.SpanKind.INTERNAL if outer else trace.SpanKind.SERVER,
            attributes=_request_attributes(ctx),
            start_time=start,
        )
        if ctx.error is not None:
            span.set_attribute("error.type", type(ctx.error).__name__)
            span.set_status(trace.StatusCode.ERROR)
        parent = trace.set_span_in_context(span)
        for attempt, ended in attempts:
            self._attempt_span(attempt, ended, parent)
        span.end(end_time=end)

    def _server(self, target: Target) -> dict[str, Any]:
        known = self._servers.get(target.base_url)
        if known is None:
            parts = urlsplit(target.base_url)
            known = {"server.address": parts.hostname} if parts.hostname else {}
            if parts.port:
                known["server.port"] = parts.port
            self._servers[target.base_url] = known
        return known

    def _attempt_span(self, attempt: Attempt, ended: int, parent: Any) -> None:
        target = attempt.target
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": _OPERATION,
            "gen_ai.provider.name": genai_provider_name(
                target.provider_type, target.options.get("preset")
            ),
            "gen_ai.request.model": target.model,
            "gen_ai.request.stream": attempt.stream,
            "arbiter.model": attempt.model,
            "arbiter.provider": target.provider,
            "arbiter.deployment": target.id,
            **self._server(target),
        }
        if attempt.ttft_s is not None:
            attributes["gen_ai.response.time_to_first_chunk"] = attempt.ttft_s
        if attempt.usage:
            attributes["gen_ai.usage.input_tokens"] = int(attempt.usage.get("prompt_tokens") or 0)
            attributes["gen_ai.usage.output_tokens"] = int(
                attempt.usage.get("completion_tokens") or 0
            )
        span = self.tracer.start_span(
            f"{_OPERATION} {target.model}",
            context=parent,
            kind=trace.SpanKind.CLIENT,
            attributes=attributes,
            start_time=ended - int(attempt.latency_s * _NS),
        )
        if attempt.error is not None:
            span.set_attribute("error.type", type(attempt.error).__name__)
            if attempt.error.upstream_status is not None:
                span.set_attribute("http.response.status_code", attempt.error.upstream_status)
            span.set_status(trace.StatusCode.ERROR)
        span.end(end_time=ended)

    async def aclose(self) -> None:
        """At shutdown: export what is buffered (blocking, so off the event loop)."""
        if not self._closed:
            self._closed = True
            await asyncio.to_thread(self.provider.shutdown)


def install_tracing(
    state: Any, settings: TracingSettings, exporter: SpanExporter | None = None
) -> TracingHook:
    """Registers tracing on the app state: a request hook and an attempt observer."""
    hook = TracingHook(build_provider(settings, exporter))
    state.hooks.append(hook)
    state.observers.append(hook)
    return hook

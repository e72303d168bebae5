"""Prometheus metrics (names fixed by INTERFACE.md) and the /metrics route.

Labels hold configured names only (model, provider, key name), the error class
and the status: never a client-supplied string, a key value or a prompt.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from gateway.context import RequestContext
from providers.base import Target
from routing.executor import Attempt

__all__ = [
    "CONTENT_TYPE_LATEST",
    "LATENCY_BUCKETS",
    "Metrics",
    "MetricsHook",
    "MetricsObserver",
]

# LLM calls take from tens of milliseconds (a cache hit, a short reply) to minutes.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120)
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1, 2, 5, 10, 30)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "arbiter_requests",
            "Chat requests answered",
            ["model", "provider", "status"],
            registry=r,
        )
        self.duration = Histogram(
            "arbiter_request_duration_seconds",
            "Time from request to last byte",
            ["model", "provider"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ttft = Histogram(
            "arbiter_time_to_first_token_seconds",
            "Time from request to first streamed token",
            ["model", "provider"],
            buckets=TTFT_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "arbiter_tokens", "Tokens processed", ["model", "provider", "kind"], registry=r
        )
        self.cost = Counter(
            "arbiter_cost_usd", "Spend in US dollars", ["model", "provider", "key"], registry=r
        )
        self.cache = Counter("arbiter_cache_requests", "Cache lookups", ["result"], registry=r)
        self.upstream_errors = Counter(
            "arbiter_upstream_errors",
            "Failed upstream attempts",
            ["provider", "reason"],
            registry=r,
        )
        self.retries = Counter("arbiter_retries", "Upstream retries", ["provider"], registry=r)
        self.fallbacks = Counter(
            "arbiter_fallbacks", "Requests answered by a fallback model", ["model"], registry=r
        )
        self.deployment_up = Gauge(
            "arbiter_deployment_up",
            "1 while a deployment takes traffic, 0 while cooling down",
            ["model", "provider"],
            registry=r,
        )
        self.state_errors = Counter(
            "arbiter_state_errors",
            "Shared-state (Redis) failures, served from local state instead",
            ["operation"],
            registry=r,
        )
        self.inflight = Gauge("arbiter_inflight_requests", "Requests being served", registry=r)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsHook:
    """Request-level metrics: traffic, latency, TTFT, tokens, in-flight.

    Must be the first hook, so that every request it counted in is counted out."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    async def on_request(self, ctx: RequestContext) -> None:
        self.metrics.inflight.inc()

    def on_response(self, ctx: RequestContext) -> None:
        m = self.metrics
        m.inflight.dec()
        model = ctx.model or ctx.chat.model
        provider = ctx.provider or ""
        m.requests.labels(model, provider, ctx.status).inc()
        if ctx.status == "error" and ctx.model is None:
            return
        m.duration.labels(model, provider).observe(ctx.latency_s or 0.0)
        if ctx.chat.stream and ctx.ttft_s is not None:
            m.ttft.labels(model, provider).observe(ctx.ttft_s)
        if ctx.usage:
            m.tokens.labels(model, provider, "prompt").inc(ctx.prompt_tokens)
            m.tokens.labels(model, provider, "completion").inc(ctx.completion_tokens)


class MetricsObserver:
    """Counts failed upstream attempts by provider and error class, retries, and
    requests answered by a fallback; sets ``arbiter_deployment_up`` from health."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._deployments: dict[tuple[str, str], set[str]] = {}
        self._down: dict[tuple[str, str], set[str]] = {}

    def on_attempt(self, attempt: Attempt) -> None:
        if attempt.error is not None:
            self.metrics.upstream_errors.labels(
                attempt.target.provider, type(attempt.error).__name__
            ).inc()
        if attempt.retry:
            self.metrics.retries.labels(attempt.target.provider).inc()
        if attempt.fallback and attempt.error is None:
            self.metrics.fallbacks.labels(attempt.requested).inc()

    def on_health(self, target: Target, up: bool) -> None:
        """The gauge is the share of a (model, provider)'s deployments taking traffic:
        1 when all are, 0 while all are cooling down."""
        labels = (target.model_name, target.provider)
        self._deployments.setdefault(labels, set()).add(target.id)
        down = self._down.setdefault(labels, set())
        if up:
            down.discard(target.id)
        else:
            down.add(target.id)
        share = 1.0 - len(down) / len(self._deployments[labels])
        self.metrics.deployment_up.labels(*labels).set(share)

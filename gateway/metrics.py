"""Prometheus metrics (names fixed by INTERFACE.md) and what /metrics renders.

Labels hold configured names only (model, provider, key name), the error class
and the status: never a client-supplied string, a key value or a prompt.

With several workers (``PROMETHEUS_MULTIPROC_DIR`` set, see
``gateway.metrics_multiprocess``) every worker writes its values to files and
``render`` sums the files of all workers, so any worker reports the totals.
"""

from __future__ import annotations

import os
from bisect import bisect_left
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    values,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from gateway.context import RequestContext
from gateway.metrics_multiprocess import multiprocess_dir, prune_dead_workers
from providers.base import Target
from routing.executor import Attempt

__all__ = [
    "CONTENT_TYPE_LATEST",
    "BoundValues",
    "HistogramSeries",
    "LATENCY_BUCKETS",
    "Metrics",
    "MetricsHook",
    "MetricsObserver",
    "value_of",
]

# LLM calls take from tens of milliseconds (a cache hit, a short reply) to minutes.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120)
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1, 2, 5, 10, 30)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        # Multiprocess mode is on only if prometheus-client chose it at import time.
        use_files = values.ValueClass is not values.MutexValue
        self.multiprocess_dir = multiprocess_dir() if use_files else None
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
        self.cache_bytes = Gauge(
            "arbiter_cache_stored_bytes",
            "Bytes held by the response cache (with Redis: written by this process, unexpired)",
            multiprocess_mode="livesum",
            registry=r,
        )
        self.cache_saved = Counter(
            "arbiter_cache_saved_usd",
            "What cache hits would have cost upstream, in US dollars",
            ["model", "provider", "key"],
            registry=r,
        )
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
            multiprocess_mode="livemostrecent",  # across workers: the latest word wins
            registry=r,
        )
        self.state_errors = Counter(
            "arbiter_state_errors",
            "Shared-state (Redis) failures, served from local state instead",
            ["operation"],
            registry=r,
        )
        self.inflight = Gauge(
            "arbiter_inflight_requests",
            "Requests being served",
            multiprocess_mode="livesum",  # across workers: the sum over live ones
            registry=r,
        )
        self._scraped = self.registry
        if self.multiprocess_dir is not None:
            from prometheus_client.multiprocess import MultiProcessCollector

            self._scraped = CollectorRegistry()
            MultiProcessCollector(self._scraped, path=self.multiprocess_dir)

    def render(self) -> bytes:
        """The Prometheus text exposition: this process's values, or with several
        workers the totals of all of them."""
        if self.multiprocess_dir is not None:
            prune_dead_workers(self.multiprocess_dir)
        return generate_latest(self._scraped)

    def close(self) -> None:
        """At shutdown: a worker's live gauges (in-flight) leave the totals with it."""
        if self.multiprocess_dir is not None:
            from prometheus_client.multiprocess import mark_process_dead

            mark_process_dead(os.getpid(), self.multiprocess_dir)


def value_of(metric: Counter | Gauge) -> Any:
    """The value a counter or gauge (child) keeps its number in: the hot path adds to
    it with ``.inc(amount)`` directly. The metric's own ``inc`` checks on every call
    what binding settled once (the metric is labelled, the amount not negative:
    callers pass counts and prices) before doing the same; skipping it saves about
    two fifths of each increment. The value is prometheus-client's own (a lock and a
    float, or a worker's file with several workers), so /metrics reads it as ever."""
    return metric._value


class BoundValues(dict[Any, Any]):
    """A counter's values (``value_of``) by label values, bound on first use (a value
    never counted has no series). ``given``: the first labels' values, the same for
    every key; a key is the rest, as a tuple, or the last label's value alone (one
    string: no tuple to build and hash per request)."""

    def __init__(self, metric: Counter, *given: str) -> None:
        super().__init__()
        self.metric, self.given = metric, given

    def __missing__(self, key: str | tuple[str, ...]) -> Any:
        rest = key if type(key) is tuple else (key,)
        value = self[key] = value_of(self.metric.labels(*self.given, *rest))
        return value


class HistogramSeries:
    """One histogram child, observed without its per-call checks and its Python loop
    over the bucket bounds: the bucket is found by bisection (``bisect_left``: the
    first bound that is >= the amount, as ``le`` means), and its count and the sum
    are prometheus-client's own values, so /metrics reads them as ever."""

    __slots__ = ("_bounds", "_buckets", "_sum")

    def __init__(self, child: Histogram) -> None:
        self._bounds = list(child._upper_bounds)  # ends with +Inf: every number lands
        self._buckets = list(child._buckets)
        self._sum = child._sum

    def observe(self, amount: float) -> None:
        self._sum.inc(amount)
        if amount == amount:  # a NaN lands in no bucket, as with Histogram.observe
            self._buckets[bisect_left(self._bounds, amount)].inc(1)


class _Served:
    """The series of one answering (model, provider) pair, bound once: binding takes
    a lock and a dict lookup that the hot path need not repeat."""

    __slots__ = ("completion", "duration", "prompt", "requests", "ttft")

    def __init__(self, m: Metrics, model: str, provider: str) -> None:
        self.requests = BoundValues(m.requests, model, provider)  # by status
        self.duration = HistogramSeries(m.duration.labels(model, provider))
        self.ttft = HistogramSeries(m.ttft.labels(model, provider))
        self.prompt = value_of(m.tokens.labels(model, provider, "prompt"))
        self.completion = value_of(m.tokens.labels(model, provider, "completion"))


class MetricsHook:
    """Request-level metrics: traffic, latency, TTFT, tokens, cache lookups,
    in-flight (spend is counted by ``gateway.costs.CostHook``). Every label value is
    a configured name: the model was checked against the config before a context
    exists.

    ``arbiter_cache_requests_total`` is counted here, from ``ctx.cache``: a request
    that was answered, or failed upstream, counts once as ``hit``, ``miss`` or
    ``bypass``; one refused before routing (limits, budget) does not count.

    Must be the first hook, so that every request it counted in is counted out."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._inflight = value_of(metrics.inflight)
        self._requests = BoundValues(metrics.requests)
        self._served: dict[tuple[str, str], _Served] = {}
        self._lookups = BoundValues(metrics.cache)  # by result

    def _bound(self, model: str, provider: str) -> _Served:
        served = self._served.get((model, provider))
        if served is None:
            served = self._served[(model, provider)] = _Served(self.metrics, model, provider)
        return served

    async def on_request(self, ctx: RequestContext) -> None:
        self._inflight.inc(1)

    def on_response(self, ctx: RequestContext) -> None:
        self._inflight.inc(-1)
        if ctx.cache == "hit" or ctx.attempts or (ctx.error and ctx.error.provider):
            self._lookups[ctx.cache].inc(1)  # it reached the cache, then an upstream
        if ctx.status == "error" and ctx.model is None:  # no deployment answered
            self._requests[ctx.chat.model, ctx.provider or "", ctx.status].inc(1)
            return
        labels = (ctx.model or ctx.chat.model, ctx.provider or "")
        served = self._served.get(labels) or self._bound(*labels)
        served.requests[ctx.status].inc(1)
        served.duration.observe(ctx.latency_s or 0.0)
        if ctx.chat.stream and ctx.ttft_s is not None:
            served.ttft.observe(ctx.ttft_s)
        if ctx.usage:
            served.prompt.inc(ctx.prompt_tokens)
            served.completion.inc(ctx.completion_tokens)

    async def aclose(self) -> None:
        self.metrics.close()


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

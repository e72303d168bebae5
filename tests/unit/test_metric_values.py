"""The request hooks write metric values without prometheus-client's per-call
wrappers: an operator scraping /metrics must see exactly what the public API
would have shown for the same observations."""

from __future__ import annotations

import math

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from gateway.metrics import LATENCY_BUCKETS, BoundValues, HistogramSeries, value_of

# Bounds themselves (le is inclusive), between bounds, zero, beyond the last bound.
LATENCIES = [0.0, 0.01, 0.0100001, 0.025, 0.3, 1, 2.5, 119.9, 120, 121, 5000.0]


def _exposition(registry: CollectorRegistry) -> list[str]:
    """The scrape, without the creation timestamps (they differ between registries)."""
    text = generate_latest(registry).decode()
    return [line for line in text.splitlines() if "_created" not in line]


def _histogram(registry: CollectorRegistry) -> Histogram:
    return Histogram("latency", "l", ["model"], buckets=LATENCY_BUCKETS, registry=registry)


def test_latencies_land_in_the_buckets_prometheus_would_put_them_in():
    public, fast = CollectorRegistry(), CollectorRegistry()
    observed = _histogram(public).labels("m")
    series = HistogramSeries(_histogram(fast).labels("m"))
    for seconds in LATENCIES:
        observed.observe(seconds)
        series.observe(seconds)
    assert _exposition(fast) == _exposition(public)


def test_a_nan_latency_counts_in_the_sum_only_as_prometheus_does():
    public, fast = CollectorRegistry(), CollectorRegistry()
    _histogram(public).labels("m").observe(math.nan)
    HistogramSeries(_histogram(fast).labels("m")).observe(math.nan)
    assert _exposition(fast) == _exposition(public)


def test_counters_and_gauges_add_up_as_with_inc_and_dec():
    public, fast = CollectorRegistry(), CollectorRegistry()
    spend = Counter("spend", "s", ["key"], registry=public)
    inflight = Gauge("inflight", "i", registry=public)
    fast_spend = BoundValues(Counter("spend", "s", ["key"], registry=fast))
    fast_inflight = value_of(Gauge("inflight", "i", registry=fast))
    for key, cost in (("a", 0.0000327), ("b", 1.5), ("a", 2.25)):
        spend.labels(key).inc(cost)
        fast_spend[(key,)].inc(cost)
    inflight.inc()
    inflight.inc()
    inflight.dec()
    fast_inflight.inc(1)
    fast_inflight.inc(1)
    fast_inflight.inc(-1)
    assert _exposition(fast) == _exposition(public)

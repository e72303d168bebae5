"""Latency histograms: every quantile lands in the bucket that holds the true value."""

from __future__ import annotations

import random

import pytest

from routing.ranking.histogram import bucket_bounds, bucket_of, merge_counts, quantile


@pytest.mark.parametrize("seconds", [0.0005, 0.001, 0.0011, 0.040, 0.25, 1.0, 3.7, 59.0, 600.0])
def test_a_duration_falls_inside_its_bucket(seconds):
    lower, upper = bucket_bounds(bucket_of(seconds))
    assert lower < seconds <= upper or (seconds <= 0.001 and lower == 0.0)


def test_buckets_are_at_most_a_fifth_wide():
    for k in range(1, 80):
        lower, upper = bucket_bounds(k)
        assert upper / lower < 1.2


def test_quantiles_land_in_the_true_values_bucket():
    rng = random.Random(7)
    values = sorted(rng.lognormvariate(-2.5, 0.8) for _ in range(5000))
    counts: dict[int, int] = {}
    for v in values:
        counts[bucket_of(v)] = counts.get(bucket_of(v), 0) + 1
    for q in (0.5, 0.9, 0.95, 0.99):
        true = values[int(q * len(values)) - 1]
        estimate = quantile(counts, q)
        assert bucket_of(estimate) in (bucket_of(true) - 1, bucket_of(true), bucket_of(true) + 1)
        assert abs(estimate / true - 1) < 0.2


def test_histograms_merge_by_adding_counts():
    a = {bucket_of(0.01): 3, bucket_of(0.1): 1}
    b = {bucket_of(0.1): 2, bucket_of(1.0): 4}
    merged = merge_counts([a, b])
    assert sum(merged.values()) == 10
    assert merged[bucket_of(0.1)] == 3
    assert quantile({}, 0.5) is None

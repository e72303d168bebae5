"""Fixed-bucket latency histograms: mergeable by adding counts, quantiles to bucket precision.

Every process and every replica uses the same bucket edges, so two histograms
merge by adding their counts bucket by bucket (in memory or with Redis
``HINCRBY``). Edges grow geometrically, four per doubling from 1 ms, so any
quantile is reported within one bucket (about 19 % wide) of the true value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

__all__ = [
    "BUCKETS_PER_DOUBLING",
    "MAX_BUCKET",
    "MIN_SECONDS",
    "bucket_bounds",
    "bucket_of",
    "merge_counts",
    "quantile",
]

MIN_SECONDS = 0.001  # the upper edge of bucket 0: everything faster lands there
BUCKETS_PER_DOUBLING = 4
MAX_BUCKET = 84  # 1 ms * 2**(84/4) ≈ 35 minutes; anything slower lands here
_RATIO = 2 ** (1 / BUCKETS_PER_DOUBLING)


def bucket_of(seconds: float) -> int:
    """The bucket a duration falls into: bucket k holds (MIN * r**(k-1), MIN * r**k]."""
    if not seconds > MIN_SECONDS:  # also catches NaN and negatives
        return 0
    k = math.ceil(math.log(seconds / MIN_SECONDS, _RATIO) - 1e-9)
    return min(max(k, 0), MAX_BUCKET)


def bucket_bounds(k: int) -> tuple[float, float]:
    """The (lower, upper] edges of bucket ``k`` in seconds; bucket 0 starts at 0."""
    upper = MIN_SECONDS * _RATIO**k
    lower = 0.0 if k == 0 else MIN_SECONDS * _RATIO ** (k - 1)
    return lower, upper


def merge_counts(histograms: Iterable[Mapping[int, int]]) -> dict[int, int]:
    merged: dict[int, int] = {}
    for counts in histograms:
        for k, n in counts.items():
            merged[k] = merged.get(k, 0) + n
    return merged


def quantile(counts: Mapping[int, int], q: float) -> float | None:
    """The ``q`` quantile (0..1) in seconds, interpolated inside its bucket; None if empty.

    Interpolation is geometric, matching the bucket spacing, so the answer always
    lies inside the bucket that holds the true quantile.
    """
    total = sum(counts.values())
    if total <= 0:
        return None
    rank = min(max(q, 0.0), 1.0) * total
    seen = 0
    for k in sorted(counts):
        n = counts[k]
        if n <= 0:
            continue
        if seen + n >= rank:
            lower, upper = bucket_bounds(k)
            share = (rank - seen) / n
            if k == 0:
                return upper * share
            return float(lower * (upper / lower) ** share)
        seen += n
    return bucket_bounds(max(counts))[1]

"""What the scoreboard counts for one model or deployment in one time slice.

A ``Tally`` only ever grows by addition, so tallies from many processes and many
slices merge by summing, in memory or in Redis (``HINCRBY``/``HINCRBYFLOAT`` on
the flat fields of ``fields()``). ``Stats`` is what a window of tallies says.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from routing.ranking.histogram import quantile

__all__ = ["Observation", "Stats", "Tally", "summarize"]

# Flat field names, kept short: they are stored once per entry per slice in Redis.
_INT_FIELDS = {
    "n": "requests",
    "err": "errors",
    "out": "output_tokens",
    "tok": "total_tokens",
    "pn": "priced",
    "ptok": "priced_tokens",
}
_FLOAT_FIELDS = {"gen": "gen_seconds", "usd": "cost_usd"}
_LATENCY, _TTFT = "l", "t"


@dataclass(slots=True)
class Observation:
    """One attempt, reduced to what a tally counts. Made on every attempt and never
    changed: not ``frozen``, whose ``__init__`` sets each field through
    ``object.__setattr__`` and made it the scoreboard's most expensive step."""

    error: bool
    latency_bucket: int = 0
    ttft_bucket: int | None = None
    output_tokens: int = 0
    total_tokens: int = 0
    gen_seconds: float = 0.0
    cost_usd: float | None = None


@dataclass(slots=True)
class Tally:
    requests: int = 0  # attempts, successful or not
    errors: int = 0
    latency: dict[int, int] = field(default_factory=dict)  # bucket -> count, successes only
    ttft: dict[int, int] = field(default_factory=dict)  # streams only
    output_tokens: int = 0
    total_tokens: int = 0
    gen_seconds: float = 0.0  # time spent producing the output tokens counted above
    cost_usd: float = 0.0
    priced: int = 0  # successes whose cost is known
    priced_tokens: int = 0  # tokens of those

    def add(self, other: Tally) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.output_tokens += other.output_tokens
        self.total_tokens += other.total_tokens
        self.gen_seconds += other.gen_seconds
        self.cost_usd += other.cost_usd
        self.priced += other.priced
        self.priced_tokens += other.priced_tokens
        for k, n in other.latency.items():
            self.latency[k] = self.latency.get(k, 0) + n
        for k, n in other.ttft.items():
            self.ttft[k] = self.ttft.get(k, 0) + n

    def record(self, o: Observation) -> None:
        """Count one attempt (the hot path: plain increments, no allocation)."""
        self.requests += 1
        if o.error:
            self.errors += 1
            return
        self.latency[o.latency_bucket] = self.latency.get(o.latency_bucket, 0) + 1
        if o.ttft_bucket is not None:
            self.ttft[o.ttft_bucket] = self.ttft.get(o.ttft_bucket, 0) + 1
        self.output_tokens += o.output_tokens
        self.total_tokens += o.total_tokens
        self.gen_seconds += o.gen_seconds
        if o.cost_usd is not None:
            self.cost_usd += o.cost_usd
            self.priced += 1
            self.priced_tokens += o.total_tokens

    def fields(self) -> dict[str, int | float]:
        """Flat, non-zero fields: the form stored in Redis hashes."""
        out: dict[str, int | float] = {}
        for short, name in (*_INT_FIELDS.items(), *_FLOAT_FIELDS.items()):
            value = getattr(self, name)
            if value:
                out[short] = value
        out.update({f"{_LATENCY}{k}": n for k, n in self.latency.items() if n})
        out.update({f"{_TTFT}{k}": n for k, n in self.ttft.items() if n})
        return out

    @classmethod
    def from_fields(cls, fields: Mapping[str, str | bytes | int | float]) -> Tally:
        """Inverse of ``fields()``; unknown fields (a newer version's) are ignored."""
        tally = cls()
        for short, raw in fields.items():
            value = float(raw)
            if short in _INT_FIELDS:
                setattr(tally, _INT_FIELDS[short], int(value))
            elif short in _FLOAT_FIELDS:
                setattr(tally, _FLOAT_FIELDS[short], value)
            elif short[:1] in (_LATENCY, _TTFT) and short[1:].isdigit():
                target = tally.latency if short[0] == _LATENCY else tally.ttft
                target[int(short[1:])] = int(value)
        return tally


@dataclass(frozen=True, slots=True)
class Stats:
    """A window's figures for one model or deployment; None where nothing was measured."""

    requests: int
    errors: int
    success_rate: float | None
    latency_p50_s: float | None
    latency_p95_s: float | None
    ttft_p50_s: float | None
    ttft_p95_s: float | None
    tokens_per_s: float | None
    cost_per_request_usd: float | None
    cost_per_mtok: float | None

    @property
    def error_rate(self) -> float | None:
        return None if self.success_rate is None else 1.0 - self.success_rate


def summarize(tallies: Iterable[Tally]) -> Stats:
    total = Tally()
    for tally in tallies:
        total.add(tally)
    latency, ttft = total.latency, total.ttft
    return Stats(
        requests=total.requests,
        errors=total.errors,
        success_rate=(total.requests - total.errors) / total.requests if total.requests else None,
        latency_p50_s=quantile(latency, 0.5),
        latency_p95_s=quantile(latency, 0.95),
        ttft_p50_s=quantile(ttft, 0.5),
        ttft_p95_s=quantile(ttft, 0.95),
        tokens_per_s=total.output_tokens / total.gen_seconds if total.gen_seconds > 0 else None,
        cost_per_request_usd=total.cost_usd / total.priced if total.priced else None,
        cost_per_mtok=(total.cost_usd / total.priced_tokens * 1e6 if total.priced_tokens else None),
    )

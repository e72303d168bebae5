"""What a request asks of a routed model: constraints and a preference, and where they live.

A routed model's config sets the defaults; a request may only tighten them
(a higher ``min_quality``, lower caps) and may choose what to ``prefer``. The
gateway reads them from ``x-arbiter-*`` headers and request ``metadata`` and
puts them, with the task label, in ``current_request`` for the selector, which
records its decision there for the response headers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any

from providers.errors import InvalidRequestError
from providers.types import ChatRequest
from routing.routes import RoutedModel

__all__ = [
    "CONSTRAINT_KEYS",
    "PREFERENCES",
    "Constraints",
    "Decision",
    "RoutingRequest",
    "current_request",
    "parse_constraints",
    "request_task",
]

PREFERENCES = ("quality", "cost", "latency")
# key -> (lower bound, upper bound) of a valid value
CONSTRAINT_KEYS: dict[str, tuple[float, float]] = {
    "min_quality": (0.0, 1.0),
    "max_quality_gap": (0.0, 1.0),
    "max_p95_latency_ms": (0.0, math.inf),
    "max_cost_per_mtok": (0.0, math.inf),
}


@dataclass(frozen=True, slots=True)
class Constraints:
    prefer: str | None = None
    min_quality: float | None = None
    max_quality_gap: float | None = None  # "within N points of the best quality"
    max_p95_latency_ms: float | None = None
    max_cost_per_mtok: float | None = None

    @classmethod
    def of(cls, routed: RoutedModel) -> Constraints:
        return cls(
            prefer=routed.prefer,
            min_quality=routed.min_quality,
            max_quality_gap=routed.max_quality_gap,
            max_p95_latency_ms=routed.max_p95_latency_ms,
            max_cost_per_mtok=routed.max_cost_per_mtok,
        )

    def tightened_by(self, request: Constraints) -> Constraints:
        """These constraints, made stricter (never looser) by a request's."""

        def low(a: float | None, b: float | None) -> float | None:
            return b if a is None else a if b is None else min(a, b)

        def high(a: float | None, b: float | None) -> float | None:
            return b if a is None else a if b is None else max(a, b)

        return Constraints(
            prefer=request.prefer or self.prefer,
            min_quality=high(self.min_quality, request.min_quality),
            max_quality_gap=low(self.max_quality_gap, request.max_quality_gap),
            max_p95_latency_ms=low(self.max_p95_latency_ms, request.max_p95_latency_ms),
            max_cost_per_mtok=low(self.max_cost_per_mtok, request.max_cost_per_mtok),
        )

    def describe(self) -> str:
        parts = [f"prefer {self.prefer or 'quality'}"]
        for key in CONSTRAINT_KEYS:
            value = getattr(self, key)
            if value is not None:
                parts.append(f"{key} {value:g}")
        return ", ".join(parts)


def _number(key: str, value: Any, where: str) -> float:
    low, high = CONSTRAINT_KEYS[key]
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not low <= number <= high:
        bound = f"between {low:g} and {high:g}" if high < math.inf else f"at least {low:g}"
        raise InvalidRequestError(f"{where}: must be a number {bound}", param=where)
    return number


def parse_constraints(values: Mapping[str, Any], *, where: str = "metadata") -> Constraints:
    """Constraints from a mapping of the keys above (strings or numbers); a bad value is a 400.

    ``where`` names the source in messages: ``metadata`` gives ``metadata.min_quality``,
    ``header`` gives ``x-arbiter-min-quality``.
    """

    if not any(key in values for key in _ALL_KEYS):
        return _NONE

    def name(key: str) -> str:
        return f"x-arbiter-{key.replace('_', '-')}" if where == "header" else f"{where}.{key}"

    found: dict[str, Any] = {}
    for key in CONSTRAINT_KEYS:
        if values.get(key) is not None:
            found[key] = _number(key, values[key], name(key))
    prefer = values.get("prefer")
    if prefer is not None:
        if prefer not in PREFERENCES:
            raise InvalidRequestError(
                f"{name('prefer')}: must be one of {', '.join(PREFERENCES)}", param=name("prefer")
            )
        found["prefer"] = prefer
    return replace(Constraints(), **found)


_NONE = Constraints()
_ALL_KEYS = (*CONSTRAINT_KEYS, "prefer")


@dataclass(frozen=True, slots=True)
class Decision:
    """Which candidate a routed model chose for one request, and why."""

    routed: str
    model: str
    order: tuple[str, ...]
    explored: bool
    met: bool  # False: no candidate met the constraints
    reason: str


@dataclass(slots=True)
class RoutingRequest:
    """One request's routing inputs, and the decision once made (``on_decision`` hears it)."""

    task: str = "general"
    constraints: Constraints = field(default_factory=Constraints)
    decision: Decision | None = None
    on_decision: Callable[[Decision], None] | None = None


current_request: ContextVar[RoutingRequest | None] = ContextVar(
    "arbiter_routing_request", default=None
)


def request_task(request: ChatRequest) -> str:
    """The task label of the request being routed: the gateway's (header or metadata),
    else the request's ``metadata.task``, else ``general``."""
    context = current_request.get()
    if context is not None:
        return context.task
    task = (request.metadata or {}).get("task")
    return task if isinstance(task, str) and task else "general"

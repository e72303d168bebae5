"""What a model name resolves to: plain, frozen route data built once from the config."""

from __future__ import annotations

from dataclasses import dataclass

from providers.base import Target

__all__ = ["ModelRoute", "RoutedModel"]


@dataclass(frozen=True, slots=True)
class ModelRoute:
    """A served model: its deployments, how to order them, and where to fall back."""

    name: str
    targets: tuple[Target, ...]
    strategy: str = "priority"
    fallbacks: tuple[str, ...] = ()
    context_window_fallbacks: tuple[str, ...] = ()
    cache: bool = True


@dataclass(frozen=True, slots=True)
class RoutedModel:
    """A virtual model that picks one of its candidates per request, by measured rank."""

    name: str
    candidates: tuple[str, ...]
    prefer: str = "quality"
    min_quality: float | None = None
    max_p95_latency_ms: float | None = None
    max_cost_per_mtok: float | None = None
    explore: float = 0.05
    max_quality_gap: float | None = None  # "within N points of the best candidate's quality"

"""What a request cost, from its usage and the deployment's prices (USD per million tokens)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.base import Target

__all__ = ["usage_cost_usd"]

_PER_TOKEN = 1e-6


def usage_cost_usd(usage: Mapping[str, Any] | None, target: Target) -> float | None:
    """Cost of one response; None when the deployment has no price or there is no usage.

    Cached prompt tokens (``prompt_tokens_details.cached_tokens``) are billed at the
    cached-input price when the deployment has one.
    """
    if not usage or target.input_cost_per_mtok is None or target.output_cost_per_mtok is None:
        return None
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    cached_price = target.cached_input_cost_per_mtok
    if cached_price is None:  # cached tokens cost what others do: no need to count them
        cached_price, cached = target.input_cost_per_mtok, 0
    else:
        details = usage.get("prompt_tokens_details") or {}
        cached = min(int(details.get("cached_tokens") or 0), prompt)
    return (
        (prompt - cached) * target.input_cost_per_mtok
        + cached * cached_price
        + completion * target.output_cost_per_mtok
    ) * _PER_TOKEN

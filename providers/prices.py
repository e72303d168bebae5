"""A bundled price table for well-known models, in US dollars per million tokens.

Source: the providers' public pricing pages (OpenAI API pricing, Anthropic
pricing, Google Gemini API pricing, Mistral AI pricing), standard (non-batch,
non-priority) tier, as published on 2025-10-01. Prices change: a deployment's
own ``input_cost_per_mtok`` / ``output_cost_per_mtok`` /
``cached_input_cost_per_mtok`` in the config always win over this table.

``cached_input`` is the price of prompt tokens read from the provider's prompt
cache (OpenAI "cached input", Anthropic "cache hits & refreshes"); None where the
provider has no such price (those tokens are billed at the input price). Tiered
prices (long-context surcharges above 200k prompt tokens) are not modelled: the
table holds the base tier.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["PRICES", "PRICES_AS_OF", "ModelPrice", "resolve_prices", "table_price"]

PRICES_AS_OF = "2025-10-01"


@dataclass(frozen=True, slots=True)
class ModelPrice:
    input: float
    output: float
    cached_input: float | None = None


_P = ModelPrice

PRICES: dict[str, ModelPrice] = {
    # OpenAI
    "gpt-5": _P(1.25, 10.00, 0.125),
    "gpt-5-mini": _P(0.25, 2.00, 0.025),
    "gpt-5-nano": _P(0.05, 0.40, 0.005),
    "gpt-4.1": _P(2.00, 8.00, 0.50),
    "gpt-4.1-mini": _P(0.40, 1.60, 0.10),
    "gpt-4.1-nano": _P(0.10, 0.40, 0.025),
    "gpt-4o": _P(2.50, 10.00, 1.25),
    "gpt-4o-mini": _P(0.15, 0.60, 0.075),
    "o1": _P(15.00, 60.00, 7.50),
    "o3": _P(2.00, 8.00, 0.50),
    "o3-mini": _P(1.10, 4.40, 0.55),
    "o4-mini": _P(1.10, 4.40, 0.275),
    "gpt-4-turbo": _P(10.00, 30.00),
    "gpt-4-turbo-preview": _P(10.00, 30.00),
    "gpt-4-0125-preview": _P(10.00, 30.00),
    "gpt-4-1106-preview": _P(10.00, 30.00),
    "gpt-4": _P(30.00, 60.00),
    "gpt-3.5-turbo": _P(0.50, 1.50),
    # Anthropic
    "claude-opus-4-1": _P(15.00, 75.00, 1.50),
    "claude-opus-4": _P(15.00, 75.00, 1.50),
    "claude-sonnet-4-5": _P(3.00, 15.00, 0.30),
    "claude-sonnet-4": _P(3.00, 15.00, 0.30),
    "claude-3-7-sonnet": _P(3.00, 15.00, 0.30),
    "claude-3-5-sonnet": _P(3.00, 15.00, 0.30),
    "claude-haiku-4-5": _P(1.00, 5.00, 0.10),
    "claude-3-5-haiku": _P(0.80, 4.00, 0.08),
    "claude-3-opus": _P(15.00, 75.00, 1.50),
    "claude-3-haiku": _P(0.25, 1.25, 0.03),
    # Google Gemini
    "gemini-2.5-pro": _P(1.25, 10.00),
    "gemini-2.5-flash": _P(0.30, 2.50),
    "gemini-2.5-flash-lite": _P(0.10, 0.40),
    "gemini-2.0-flash": _P(0.10, 0.40),
    "gemini-2.0-flash-lite": _P(0.075, 0.30),
    # Mistral
    "mistral-large": _P(2.00, 6.00),
    "mistral-medium": _P(0.40, 2.00),
    "mistral-small": _P(0.10, 0.30),
    "codestral": _P(0.30, 0.90),
}

# Suffixes that name a snapshot or version of a model in the table:
# "-2024-08-06", "-20241022", "-0613", "-002", "-latest", "-preview", "-v1", "@20241022".
_SNAPSHOT = re.compile(r"(@.*|-v\d+|-\d{4}-\d{2}-\d{2}|-\d{8}|-\d{3,4}|-latest|-preview)$")
# Bedrock-style prefixes: cross-region profile ("us.") and vendor ("anthropic.").
_VENDOR = re.compile(r"^((us|eu|apac|global)\.)?[a-z]+\.(?=[a-z])")


def _names(model: str) -> list[str]:
    """The model id and its shorter forms, most specific first."""
    name = model.strip().lower().rsplit("/", 1)[-1].split(":", 1)[0]
    if "." in name and not name.startswith(("gpt-", "gemini-")):
        name = _VENDOR.sub("", name)
    names = [name]
    while True:
        shorter = _SNAPSHOT.sub("", name)
        if shorter == name or not shorter:
            return names
        names.append(shorter)
        name = shorter


def table_price(model: str) -> ModelPrice | None:
    """The table's price for an upstream model id, or None if it is not in the table
    (fine-tuned models, ``ft:...``, are priced differently and never are).

    Matches the id or the id without snapshot/version suffixes, so
    ``gpt-4o-2024-08-06``, ``openai/gpt-4o`` and ``anthropic.claude-3-5-sonnet-
    20240620-v1:0`` find their base model; ``gpt-4o-mini`` is never priced as
    ``gpt-4o``.
    """
    if model.startswith("ft:"):
        return None
    for name in _names(model):
        price = PRICES.get(name)
        if price is not None:
            return price
    return None


def resolve_prices(
    model: str,
    input_cost: float | None,
    output_cost: float | None,
    cached_input_cost: float | None,
) -> tuple[float | None, float | None, float | None]:
    """A deployment's (input, output, cached input) prices per million tokens.

    Prices set in the config win; a deployment that sets neither an input nor an
    output price takes the table's prices for its upstream model, if listed.
    """
    if input_cost is not None or output_cost is not None:
        return input_cost, output_cost, cached_input_cost
    listed = table_price(model)
    if listed is None:
        return None, None, cached_input_cost
    cached = cached_input_cost if cached_input_cost is not None else listed.cached_input
    return listed.input, listed.output, cached

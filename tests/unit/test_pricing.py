"""Cost of a response: price x tokens, to the fraction of a cent."""

from __future__ import annotations

import pytest

from providers.base import Target
from providers.pricing import usage_cost_usd


def target(**prices) -> Target:
    return Target(
        id="m/p/x#0",
        model_name="m",
        provider="p",
        provider_type="openai",
        model="x",
        base_url="",
        **prices,
    )


def test_cost_is_price_times_tokens():
    usage = {"prompt_tokens": 1000, "completion_tokens": 500}
    cost = usage_cost_usd(usage, target(input_cost_per_mtok=0.15, output_cost_per_mtok=0.60))
    assert cost == pytest.approx(1000 * 0.15e-6 + 500 * 0.60e-6, abs=1e-12)


def test_cached_prompt_tokens_use_the_cached_price():
    usage = {
        "prompt_tokens": 1000,
        "completion_tokens": 0,
        "prompt_tokens_details": {"cached_tokens": 400},
    }
    cost = usage_cost_usd(
        usage,
        target(input_cost_per_mtok=2.0, output_cost_per_mtok=8.0, cached_input_cost_per_mtok=0.5),
    )
    assert cost == pytest.approx(600 * 2.0e-6 + 400 * 0.5e-6, abs=1e-12)


def test_unpriced_deployment_has_no_cost():
    assert usage_cost_usd({"prompt_tokens": 5}, target()) is None


def test_cached_prompt_tokens_cost_the_input_price_without_a_cached_price():
    usage = {
        "prompt_tokens": 1000,
        "completion_tokens": 10,
        "prompt_tokens_details": {"cached_tokens": 400},
    }
    cost = usage_cost_usd(usage, target(input_cost_per_mtok=2.0, output_cost_per_mtok=8.0))
    assert cost == usage_cost_usd(
        {"prompt_tokens": 1000, "completion_tokens": 10},
        target(input_cost_per_mtok=2.0, output_cost_per_mtok=8.0),
    )
    assert cost == pytest.approx(1000 * 2.0e-6 + 10 * 8.0e-6, abs=1e-12)

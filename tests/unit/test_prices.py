"""The bundled price table: found by upstream model id, overridden by the config."""

from __future__ import annotations

import pytest

from gateway.runtime import plan_runtime
from providers.prices import PRICES, ModelPrice, resolve_prices, table_price
from tests.conftest import make_settings


@pytest.mark.parametrize(
    ("model", "listed"),
    [
        ("gpt-4o", "gpt-4o"),
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("openai/gpt-4o", "gpt-4o"),
        ("gpt-4o-mini", "gpt-4o-mini"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("gpt-4-0613", "gpt-4"),
        ("gpt-4-1106-preview", "gpt-4-1106-preview"),
        ("gpt-3.5-turbo-0125", "gpt-3.5-turbo"),
        ("o3-mini-2025-01-31", "o3-mini"),
        ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
        ("claude-3-5-sonnet-latest", "claude-3-5-sonnet"),
        ("anthropic.claude-3-5-sonnet-20240620-v1:0", "claude-3-5-sonnet"),
        ("us.anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4"),
        ("claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet"),
        ("mistral-large-latest", "mistral-large"),
        ("gemini-2.5-flash", "gemini-2.5-flash"),
    ],
)
def test_snapshots_and_provider_spellings_find_their_base_model(model, listed):
    assert table_price(model) == PRICES[listed]


@pytest.mark.parametrize("model", ["mock-1", "ft:gpt-4o-mini:acme::x", "o1-mini", "my-llama"])
def test_unknown_and_fine_tuned_models_have_no_table_price(model):
    assert table_price(model) is None


def test_every_listed_price_is_sane():
    for name, price in PRICES.items():
        assert 0 < price.input <= price.output, name
        assert price.cached_input is None or price.cached_input < price.input, name


def test_configured_prices_win_over_the_table():
    assert resolve_prices("gpt-4o", None, None, None) == (2.50, 10.00, 1.25)
    assert resolve_prices("gpt-4o", 1.0, 2.0, None) == (1.0, 2.0, None)
    assert resolve_prices("gpt-4o", None, None, 0.5) == (2.50, 10.00, 0.5)
    assert resolve_prices("mock-1", None, None, None) == (None, None, None)


def test_deployments_get_table_prices_at_plan_time():
    settings = make_settings(
        {
            "providers": {"openai": {"type": "openai", "api_key": "sk-x"}},
            "models": {
                "fast": {"deployments": [{"provider": "openai", "model": "gpt-4o-mini"}]},
                "mine": {
                    "deployments": [
                        {
                            "provider": "openai",
                            "model": "gpt-4o-mini",
                            "input_cost_per_mtok": 0.1,
                            "output_cost_per_mtok": 0.2,
                        }
                    ]
                },
            },
        }
    )
    plan = plan_runtime(settings)
    listed = plan.routes["fast"].targets[0]
    assert (
        ModelPrice(
            listed.input_cost_per_mtok,
            listed.output_cost_per_mtok,
            listed.cached_input_cost_per_mtok,
        )
        == PRICES["gpt-4o-mini"]
    )
    configured = plan.routes["mine"].targets[0]
    assert (configured.input_cost_per_mtok, configured.output_cost_per_mtok) == (0.1, 0.2)

"""Trace attributes name providers as OpenTelemetry's GenAI conventions do."""

from __future__ import annotations

import pytest

from providers.catalog import PRESETS
from providers.registry import PROVIDER_TYPES
from providers.semconv import GENAI_PROVIDER_NAMES, genai_provider_name


@pytest.mark.parametrize(
    ("provider_type", "preset", "name"),
    [
        ("openai", None, "openai"),
        ("azure", None, "azure.ai.openai"),
        ("bedrock", None, "aws.bedrock"),
        ("mistral", None, "mistral_ai"),
        ("cohere", None, "cohere"),
        ("openai-compatible", "xai", "x_ai"),
        ("openai-compatible", "groq", "groq"),
        ("openai-compatible", "vllm", "openai-compatible"),  # no well-known value: its own
        ("mock", None, "mock"),
    ],
)
def test_well_known_values_and_own_names_otherwise(provider_type, preset, name):
    assert genai_provider_name(provider_type, preset) == name


def test_every_provider_type_and_preset_has_a_name():
    for provider_type in PROVIDER_TYPES:
        assert genai_provider_name(provider_type)
    for preset in PRESETS:
        assert genai_provider_name("openai-compatible", preset)
    assert all("." in v or v.isidentifier() for v in GENAI_PROVIDER_NAMES.values())

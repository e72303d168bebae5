"""How OpenTelemetry's GenAI semantic conventions name our providers.

``gen_ai.provider.name`` has well-known values (semantic conventions, GenAI
registry, "development" status); a provider type or OpenAI-compatible preset
that has one is reported with it, any other with its own name.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["GENAI_PROVIDER_NAMES", "genai_provider_name"]

# provider type or preset -> gen_ai.provider.name
GENAI_PROVIDER_NAMES: Mapping[str, str] = {
    "openai": "openai",
    "azure": "azure.ai.openai",
    "anthropic": "anthropic",
    "gemini": "gcp.gemini",
    "vertex": "gcp.vertex_ai",
    "mistral": "mistral_ai",
    "cohere": "cohere",
    "bedrock": "aws.bedrock",
    "groq": "groq",
    "deepseek": "deepseek",
    "perplexity": "perplexity",
    "xai": "x_ai",
    "watsonx": "ibm.watsonx.ai",
}


def genai_provider_name(provider_type: str, preset: str | None = None) -> str:
    """The ``gen_ai.provider.name`` of a deployment, from its provider type and preset."""
    if preset and preset in GENAI_PROVIDER_NAMES:
        return GENAI_PROVIDER_NAMES[preset]
    return GENAI_PROVIDER_NAMES.get(provider_type, provider_type)

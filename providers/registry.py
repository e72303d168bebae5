"""Provider type → adapter factory, in one explicit table.

Entries are ``"module:attr"`` strings so that importing this module imports no
adapter; each factory takes the provider's options mapping and returns a
``ProviderAdapter``. Adding a wire format is one row here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from providers.base import ProviderAdapter

__all__ = ["PROVIDER_TYPES", "ProviderType", "create_adapter", "default_transport"]


@dataclass(frozen=True, slots=True)
class ProviderType:
    factory: str  # "module:attr", called with the provider's options
    requires_key: bool = True
    transport: str | None = None  # "module:attr" of an in-process transport (mock)
    # Provider settings that must be non-empty for the type to work, beyond api_key
    # (e.g. cloud credentials); a provider missing one is disabled, naming it.
    requires: tuple[str, ...] = ()


PROVIDER_TYPES: dict[str, ProviderType] = {
    "openai": ProviderType("providers.catalog:openai_adapter"),
    "openai-compatible": ProviderType("providers.catalog:compatible_adapter", requires_key=False),
    "azure": ProviderType("providers.azure:AzureAdapter", requires=("base_url",)),
    "mistral": ProviderType("providers.mistral:MistralAdapter"),
    "cohere": ProviderType("providers.cohere:CohereAdapter"),
    "bedrock": ProviderType(
        "providers.bedrock:BedrockAdapter",
        requires_key=False,
        requires=("aws_access_key_id", "aws_secret_access_key"),
    ),
    "anthropic": ProviderType("providers.anthropic.adapter:AnthropicAdapter"),
    "gemini": ProviderType("providers.gemini.adapter:GeminiAdapter"),
    "mock": ProviderType(
        "providers.mock:MockAdapter", requires_key=False, transport="providers.mock:MockUpstream"
    ),
}


def _load(path: str) -> Callable[..., Any]:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


def create_adapter(provider_type: str, options: Mapping[str, Any]) -> ProviderAdapter:
    entry = PROVIDER_TYPES[provider_type]
    factory = _load(entry.factory)
    return factory(options)  # type: ignore[no-any-return]


def default_transport(provider_type: str) -> httpx.AsyncBaseTransport | None:
    entry = PROVIDER_TYPES[provider_type]
    return _load(entry.transport)() if entry.transport else None

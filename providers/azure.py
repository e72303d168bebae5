"""Azure OpenAI: OpenAI's wire format behind a per-deployment URL.

Differences from OpenAI, and nothing else:
- the URL is ``{base_url}/openai/deployments/{deployment}/chat/completions
  ?api-version=...``, the deployment named per deployment (``deployment:`` in
  the config, else the model) and the version per provider (``api_version:``);
- the key goes in the ``api-key`` header;
- streams open with a chunk that has no choices, only
  ``prompt_filter_results``: it is dropped, so the first chunk carries the role;
- content-filter refusals (HTTP 400, ``code: content_filter``) map to
  ``ContentFilteredError``; a filtered answer keeps ``finish_reason:
  content_filter``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from providers.base import Target
from providers.openai_compat import Flavor, OpenAIChunkDecoder, OpenAICompatAdapter
from providers.types import ChatChunk, ChatRequest

__all__ = ["DEFAULT_API_VERSION", "AzureAdapter", "AzureChunkDecoder"]

DEFAULT_API_VERSION = "2024-10-21"  # the latest GA data-plane version

AZURE = Flavor(name="azure", auth_header="api-key", path="")


class AzureChunkDecoder(OpenAIChunkDecoder):
    """Drops Azure's choice-less content-filter annotations from the stream."""

    def _decode(self, events: list[Any]) -> list[ChatChunk]:
        return [
            chunk for chunk in super()._decode(events) if chunk.get("choices") or chunk.get("usage")
        ]


class AzureAdapter(OpenAICompatAdapter):
    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(AZURE, options)
        self.api_version = str((options or {}).get("api_version") or DEFAULT_API_VERSION)

    def build_url(self, target: Target) -> str:
        base = target.base_url.rstrip("/").removesuffix("/openai")
        deployment = quote(str(target.options.get("deployment") or target.model), safe="")
        version = quote(self.api_version, safe="")
        return f"{base}/openai/deployments/{deployment}/chat/completions?api-version={version}"

    def new_stream_decoder(self, request: ChatRequest, target: Target) -> AzureChunkDecoder:
        return AzureChunkDecoder(target.provider)

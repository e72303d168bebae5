"""The provider adapter contract.

An adapter is sans-I/O: it builds an ``httpx.Request`` from a canonical
``ChatRequest`` and parses what comes back; ``providers/transport.py`` alone
sends anything. One adapter instance serves every request of its provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from pydantic import SecretStr

from providers.errors import GatewayError
from providers.types import ChatChunk, ChatRequest, ChatResponse

__all__ = [
    "Capabilities",
    "ProviderAdapter",
    "StreamDecoder",
    "Target",
]


@dataclass(frozen=True, slots=True)
class Capabilities:
    streaming: bool = True
    tools: bool = True
    json_mode: bool = True
    vision: bool = True
    embeddings: bool = False


@dataclass(frozen=True, slots=True)
class Target:
    """One deployment: a provider connection plus the upstream model to call."""

    id: str  # "<model name>/<provider>/<upstream model>", unique in the config
    model_name: str  # the name clients use
    provider: str  # provider name from the config (metric label)
    provider_type: str  # adapter registry key: openai, anthropic, mock, ...
    model: str  # upstream model id
    base_url: str
    api_key: SecretStr | None = None
    timeout_s: float = 60.0
    input_cost_per_mtok: float | None = None
    output_cost_per_mtok: float | None = None
    cached_input_cost_per_mtok: float | None = None
    weight: float = 1.0
    quality: float | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)  # provider- and deployment-specific

    def secret(self) -> str:
        return self.api_key.get_secret_value() if self.api_key else ""


class StreamDecoder(Protocol):
    """Turns the raw bytes of an upstream stream into OpenAI chunks, statefully."""

    def feed(self, data: bytes) -> list[ChatChunk]:
        """Zero or more OpenAI chunks for the bytes received so far."""
        ...

    def close(self) -> list[ChatChunk]:
        """Flush at end of stream; returns the last chunks (finish_reason, usage)."""
        ...


class ProviderAdapter(Protocol):
    name: str
    capabilities: Capabilities

    def build_request(self, request: ChatRequest, target: Target) -> httpx.Request: ...

    def parse_response(
        self, response: httpx.Response, request: ChatRequest, target: Target
    ) -> ChatResponse:
        """Called for 2xx only; an unparseable body raises UpstreamUnavailableError."""
        ...

    def new_stream_decoder(self, request: ChatRequest, target: Target) -> StreamDecoder: ...

    def map_error(self, status: int, headers: httpx.Headers, body: bytes) -> GatewayError: ...

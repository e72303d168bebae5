"""AnthropicAdapter: the Messages API behind Arbiter's OpenAI endpoint.

``POST {base_url}/v1/messages`` with ``x-api-key`` and ``anthropic-version``
(2023-06-01, or the provider's ``api_version``). Request translation lives in
``request.py``, the answer in ``response.py``, streams in ``stream.py`` and
errors in ``errors.py``; this class only wires them to the adapter contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import orjson

from providers.base import Capabilities, Target
from providers.errors import GatewayError
from providers.types import ChatRequest, ChatResponse

from .errors import map_anthropic_error
from .request import build_body, response_tool
from .response import parse_message
from .stream import AnthropicStreamDecoder

__all__ = ["ANTHROPIC_VERSION", "AnthropicAdapter", "DEFAULT_BASE_URL"]

DEFAULT_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"


def _json_tool(request: ChatRequest) -> str | None:
    tool = response_tool(request)
    return tool["name"] if tool else None


class AnthropicAdapter:
    name = "anthropic"
    capabilities = Capabilities(streaming=True, tools=True, json_mode=True, vision=True)

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options = dict(options or {})

    def build_request(self, request: ChatRequest, target: Target) -> httpx.Request:
        options = {**self.options, **target.options}
        body = build_body(request, target.model, options)
        headers = {
            "content-type": "application/json",
            "anthropic-version": str(options.get("api_version") or ANTHROPIC_VERSION),
            **target.headers,
        }
        if target.secret():
            headers["x-api-key"] = target.secret()
        base = (target.base_url or DEFAULT_BASE_URL).rstrip("/").removesuffix("/v1")
        return httpx.Request(
            "POST", base + "/v1/messages", headers=headers, content=orjson.dumps(body)
        )

    def parse_response(
        self, response: httpx.Response, request: ChatRequest, target: Target
    ) -> ChatResponse:
        return parse_message(response.content, target.provider, target.model, _json_tool(request))

    def new_stream_decoder(self, request: ChatRequest, target: Target) -> AnthropicStreamDecoder:
        return AnthropicStreamDecoder(target.provider, target.model, _json_tool(request))

    def map_error(self, status: int, headers: httpx.Headers, body: bytes) -> GatewayError:
        return map_anthropic_error(self.name, status, headers, body)

"""GeminiAdapter: the Gemini API (generateContent) behind Arbiter's OpenAI endpoint.

``POST {base_url}/{api_version}/models/{model}:generateContent``, or
``:streamGenerateContent?alt=sse`` for streams, with the key in
``x-goog-api-key``. ``api_version`` defaults to v1beta (where tools, system
instructions and JSON schemas live). Translation is in ``request.py``,
``response.py`` and ``stream.py``; errors in ``errors.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from providers.base import Capabilities, Target
from providers.errors import GatewayError
from providers.types import ChatRequest, ChatResponse

from .errors import map_gemini_error
from .request import build_body
from .response import parse_generate_response
from .stream import GeminiStreamDecoder

__all__ = ["API_VERSION", "DEFAULT_BASE_URL", "GeminiAdapter"]

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
API_VERSION = "v1beta"


class GeminiAdapter:
    name = "gemini"
    capabilities = Capabilities(streaming=True, tools=True, json_mode=True, vision=True)

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.options = dict(options or {})

    def build_request(self, request: ChatRequest, target: Target) -> httpx.Request:
        options = {**self.options, **target.options}
        body = build_body(request, options)
        headers = {"content-type": "application/json", **target.headers}
        if target.secret():
            headers["x-goog-api-key"] = target.secret()
        version = str(options.get("api_version") or API_VERSION)
        base = (target.base_url or DEFAULT_BASE_URL).rstrip("/").removesuffix("/" + version)
        model = quote(target.model.removeprefix("models/"), safe="-._~")
        if request.stream:
            url = f"{base}/{version}/models/{model}:streamGenerateContent?alt=sse"
        else:
            url = f"{base}/{version}/models/{model}:generateContent"
        return httpx.Request("POST", url, headers=headers, content=orjson.dumps(body))

    def parse_response(
        self, response: httpx.Response, request: ChatRequest, target: Target
    ) -> ChatResponse:
        return parse_generate_response(response.content, target.provider, target.model)

    def new_stream_decoder(self, request: ChatRequest, target: Target) -> GeminiStreamDecoder:
        return GeminiStreamDecoder(target.provider, target.model)

    def map_error(self, status: int, headers: httpx.Headers, body: bytes) -> GatewayError:
        return map_gemini_error(self.name, status, headers, body)

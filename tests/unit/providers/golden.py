"""Small builders shared by the golden adapter tests."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from pydantic import SecretStr

from providers.base import Target
from providers.registry import create_adapter
from providers.types import ChatChunk, ChatRequest

KEY = "sk-golden-upstream-key"
IMAGE_B64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAE"
    "hQGAhKmMIQAAAABJRU5ErkJggg=="
)
PNG_URI = f"data:image/png;base64,{IMAGE_B64}"
TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def target(provider_type: str, model: str, base_url: str = "", **options: Any) -> Target:
    return Target(
        id=f"m/{provider_type}/{model}#0",
        model_name="m",
        provider=provider_type,
        provider_type=provider_type,
        model=model,
        base_url=base_url,
        api_key=SecretStr(KEY),
        options=options,
    )


def adapter(provider_type: str, **options: Any) -> Any:
    return create_adapter(provider_type, options)


def chat(**fields: Any) -> ChatRequest:
    fields.setdefault("model", "m")
    fields.setdefault("messages", [{"role": "user", "content": "hi"}])
    return ChatRequest.model_validate(fields)


def body_of(request: httpx.Request) -> Any:
    return orjson.loads(request.content)


def response(data: Any, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, content=orjson.dumps(data), headers=headers)


def stable(chunks: list[ChatChunk]) -> list[dict[str, Any]]:
    """Chunks without the fields that change per run (id, created)."""
    return [{k: v for k, v in c.items() if k not in ("id", "created")} for c in chunks]


def feed_all(decoder: Any, data: bytes, step: int = 0) -> list[ChatChunk]:
    """Feed bytes whole, or cut every ``step`` bytes, then close."""
    chunks: list[ChatChunk] = []
    if step:
        for i in range(0, len(data), step):
            chunks += decoder.feed(data[i : i + step])
    else:
        chunks += decoder.feed(data)
    return chunks + decoder.close()


def delta(content: dict[str, Any], finish: str | None = None, model: str = "m") -> dict[str, Any]:
    """The stable part of one OpenAI chunk with one choice."""
    return {
        "object": "chat.completion.chunk",
        "model": model,
        "choices": [{"index": 0, "delta": content, "logprobs": None, "finish_reason": finish}],
    }


def usage_chunk(usage: dict[str, Any], model: str = "m") -> dict[str, Any]:
    return {"object": "chat.completion.chunk", "model": model, "choices": [], "usage": usage}

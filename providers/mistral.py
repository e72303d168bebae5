"""Mistral's Chat Completions: OpenAI's shape with its own differences.

Translated on the way out:
- ``seed`` is ``random_seed``; ``max_completion_tokens`` is ``max_tokens``;
- ``tool_choice: required`` is ``any``;
- tool-call ids must be 9 characters of ``[a-zA-Z0-9]``: other ids are mapped to
  such an id by a hash, the same one in the assistant's ``tool_calls`` and the
  ``tool`` message that answers it (Mistral's own ids pass unchanged, so a
  conversation that started on Mistral keeps its ids);
- ``developer`` messages are ``system``; ``name`` exists only on ``tool``
  messages (filled from the call it answers), so it is removed elsewhere;
- ``stream_options`` is not accepted: Mistral puts usage on the last chunk.
Refused (400) or dropped with ``drop_unsupported``: ``user``, ``logit_bias``,
``store``, ``modalities``, ``audio``.

On the way back: ``model_length`` is ``length``; ``error`` is an upstream failure;
usage on the last streamed chunk is moved into OpenAI's trailing usage chunk.
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Mapping
from typing import Any

import httpx
import orjson

from providers.base import Target
from providers.errors import GatewayError, UpstreamUnavailableError
from providers.openai_compat import Flavor, OpenAIChunkDecoder, OpenAICompatAdapter
from providers.status import error_from_status
from providers.types import ChatChunk, ChatRequest, ChatResponse

__all__ = ["MistralAdapter", "MistralChunkDecoder", "mistral_tool_id"]

MISTRAL = Flavor(
    name="mistral",
    base_url="https://api.mistral.ai/v1",
    stream_usage=False,
    reject_params=frozenset({"user", "logit_bias", "store", "modalities", "audio"}),
)

_ID = re.compile(r"^[a-zA-Z0-9]{9}$")
_ALPHABET = string.ascii_letters + string.digits
FINISH_REASONS = {
    "stop": "stop",
    "length": "length",
    "model_length": "length",
    "tool_calls": "tool_calls",
}


def mistral_tool_id(call_id: str) -> str:
    """A tool-call id Mistral accepts: unchanged if valid, else a stable 9-char hash."""
    if _ID.match(call_id):
        return call_id
    number = int.from_bytes(hashlib.sha256(call_id.encode()).digest()[:8], "big")
    chars = []
    for _ in range(9):
        number, digit = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[digit])
    return "".join(chars)


def _messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names: dict[str, str] = {}
    out = []
    for message in messages:
        message = dict(message)
        role = message.get("role")
        if role == "developer":
            message["role"] = "system"
        if role != "tool":
            message.pop("name", None)
        if message.get("tool_calls"):
            calls = []
            for call in message["tool_calls"]:
                names[call["id"]] = call["function"]["name"]
                calls.append({**call, "id": mistral_tool_id(call["id"])})
            message["tool_calls"] = calls
        if role == "tool" and message.get("tool_call_id"):
            original = message["tool_call_id"]
            message["tool_call_id"] = mistral_tool_id(original)
            if not message.get("name") and original in names:
                message["name"] = names[original]
        out.append(message)
    return out


def _finish(reason: Any, provider: str) -> Any:
    if reason is None:
        return None
    if reason == "error":
        raise UpstreamUnavailableError(f"{provider} stopped with an error", provider=provider)
    return FINISH_REASONS.get(reason, "stop")


def _text(content: Any) -> Any:
    """Mistral may answer with content chunks (text, thinking): the text is kept."""
    if isinstance(content, list):
        return "".join(
            part.get("text", "")
            for part in content
            if isinstance(part, dict) and part.get("type") == "text"
        )
    return content


class MistralChunkDecoder(OpenAIChunkDecoder):
    """Maps finish reasons and splits the usage off the last chunk."""

    def _decode(self, events: list[Any]) -> list[ChatChunk]:
        out: list[ChatChunk] = []
        for chunk in super()._decode(events):
            for choice in chunk.get("choices") or ():
                choice["finish_reason"] = _finish(choice.get("finish_reason"), self._provider)
                delta = choice.get("delta") or {}
                if "content" in delta:
                    delta["content"] = _text(delta["content"])
            usage = chunk.get("usage")
            if usage and chunk.get("choices"):
                rest = {k: v for k, v in chunk.items() if k != "usage"}
                out.append(rest)
                out.append({**rest, "choices": [], "usage": usage})
            else:
                out.append(chunk)
        return out


def parse_mistral_error(body: bytes) -> tuple[str | None, str | None]:
    """(message, code) from Mistral's error bodies, whichever of their shapes."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return (body[:200].decode("utf-8", "replace") or None), None
    if not isinstance(data, dict):
        return None, None
    message = data.get("message") or data.get("detail")
    if isinstance(data.get("error"), dict):
        message = data["error"].get("message")
    if not isinstance(message, str) and message is not None:
        message = orjson.dumps(message).decode()
    code = data.get("code") or data.get("type")
    return message, str(code) if code is not None else None


class MistralAdapter(OpenAICompatAdapter):
    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(MISTRAL, options)

    def build_body(self, request: ChatRequest, target: Target) -> dict[str, Any]:
        body = super().build_body(request, target)
        if "seed" in body:
            body["random_seed"] = body.pop("seed")
        if "max_completion_tokens" in body:
            limit = body.pop("max_completion_tokens")
            body.setdefault("max_tokens", limit)
        if body.get("tool_choice") == "required":
            body["tool_choice"] = "any"
        body["messages"] = _messages(body["messages"])
        return body

    def parse_response(
        self, response: httpx.Response, request: ChatRequest, target: Target
    ) -> ChatResponse:
        data = super().parse_response(response, request, target)
        for choice in data["choices"]:
            choice["finish_reason"] = _finish(choice.get("finish_reason"), target.provider)
            message = choice.get("message") or {}
            message["content"] = _text(message.get("content"))
        return data

    def new_stream_decoder(self, request: ChatRequest, target: Target) -> MistralChunkDecoder:
        return MistralChunkDecoder(target.provider)

    def map_error(self, status: int, headers: httpx.Headers, body: bytes) -> GatewayError:
        message, code = parse_mistral_error(body)
        return error_from_status(
            status, provider=self.name, message=message, code=code, headers=headers, body=body
        )

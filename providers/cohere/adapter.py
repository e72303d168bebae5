"""CohereAdapter: OpenAI Chat Completions ⇄ Cohere Chat API v2.

Requests: system and developer messages stay in place as ``system`` messages;
an assistant turn's text beside tool calls is Cohere's ``tool_plan``; images go
as ``image_url`` parts (https URLs or data URIs, Cohere accepts both); a named
``tool_choice`` is sent as that one tool with ``REQUIRED``; ``json_schema`` is
``json_object`` with ``json_schema``. ``name`` fields have no place in Cohere's
messages and are left out. Fields Cohere does not know but that are not
OpenAI's (``k``, ``safety_mode``, ``documents``...) pass through unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import orjson

from providers.base import Capabilities, Target
from providers.cohere.stream import CohereStreamDecoder, finish_reason, openai_usage
from providers.cohere.wire import ChatRequestV2, CohereMessage
from providers.errors import (
    GatewayError,
    InvalidRequestError,
    UpstreamAuthError,
    UpstreamUnavailableError,
)
from providers.inputs import (
    DECLARED_FIELDS,
    OPENAI_ONLY,
    check_supported,
    drop_unsupported,
    parse_image,
    read_tool_choice,
    require_tool_call_id,
    text_content,
)
from providers.replies import completion, tool_call
from providers.status import error_from_status
from providers.types import ChatRequest, ChatResponse, Message

__all__ = ["BASE_URL", "CohereAdapter", "UNSUPPORTED"]

BASE_URL = "https://api.cohere.com"
# OpenAI fields Cohere has no equivalent for: refused (400) or dropped on request.
UNSUPPORTED = OPENAI_ONLY | {"user"}
# Extras that are OpenAI's and translated (or Arbiter's own), never passed as they are.
_NOT_PASSED = UNSUPPORTED | {"frequency_penalty", "presence_penalty", "logprobs"}


def _content(message: Message, provider: str) -> str | list[dict[str, Any]]:
    content = message.content
    if content is None or isinstance(content, str):
        return content or ""
    parts: list[dict[str, Any]] = []
    for part in content:
        if part.type == "text":
            parts.append({"type": "text", "text": part.text or ""})
        elif part.type == "image_url":
            image = parse_image(part, provider=provider)
            url = image.url or f"data:{image.media_type};base64,{image.data}"
            image_url: dict[str, Any] = {"url": url}
            if part.image_url and part.image_url.detail:
                image_url["detail"] = part.image_url.detail
            parts.append({"type": "image_url", "image_url": image_url})
        else:
            raise InvalidRequestError(
                f"{provider} does not accept content parts of type {part.type!r}",
                param="messages",
            )
    return parts


def _message(message: Message, provider: str) -> CohereMessage:
    role = message.role
    if role in ("system", "developer"):
        return {"role": "system", "content": text_content(message)}
    if role == "user":
        return {"role": "user", "content": _content(message, provider)}
    if role == "assistant":
        out: CohereMessage = {"role": "assistant"}
        text = _content(message, provider)
        if message.tool_calls:
            out["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.function.name, "arguments": call.function.arguments},
                }
                for call in message.tool_calls
            ]
            if text:
                out["tool_plan"] = (
                    text if isinstance(text, str) else "".join(p.get("text", "") for p in text)
                )
        else:
            out["content"] = text
        return out
    if role == "tool":
        return {
            "role": "tool",
            "tool_call_id": require_tool_call_id(message),
            "content": _content(message, provider),
        }
    raise InvalidRequestError(f"{provider} does not accept {role!r} messages", param="messages")


def _response_format(value: dict[str, Any]) -> dict[str, Any] | None:
    kind = value.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        schema = (value.get("json_schema") or {}).get("schema")
        return {"type": "json_object", "json_schema": schema} if schema else {"type": "json_object"}
    raise InvalidRequestError(
        f"response_format: type {kind!r} is not supported", param="response_format"
    )


class CohereAdapter:
    name = "cohere"
    capabilities = Capabilities()

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self.drop = drop_unsupported(options or {})

    def build_body(self, request: ChatRequest, target: Target) -> ChatRequestV2:
        check_supported(request, provider=self.name, unsupported=UNSUPPORTED, drop=self.drop)
        extra = request.model_extra or {}
        body: dict[str, Any] = {
            "model": target.model,
            "messages": [_message(m, self.name) for m in request.messages],
        }
        if request.stream:
            body["stream"] = True
        tools = [tool.model_dump(exclude_none=True) for tool in request.tools or ()]
        choice = read_tool_choice(request)
        if choice and choice.mode == "named":
            tools = [t for t in tools if t["function"]["name"] == choice.name]
        if tools:
            body["tools"] = tools
        if choice and choice.mode in ("required", "named") and tools:
            body["tool_choice"] = "REQUIRED"
        elif choice and choice.mode == "none" and tools:
            body["tool_choice"] = "NONE"
        if request.response_format:
            response_format = _response_format(request.response_format)
            if response_format:
                body["response_format"] = response_format
        limit = request.output_limit or target.options.get("default_max_tokens")
        simple = {
            "max_tokens": limit,
            "stop_sequences": request.stop_list() or None,
            "temperature": request.temperature,
            "p": request.top_p,
            "seed": request.seed,
            "frequency_penalty": extra.get("frequency_penalty"),
            "presence_penalty": extra.get("presence_penalty"),
            "logprobs": extra.get("logprobs"),
        }
        body.update({k: v for k, v in simple.items() if v is not None})
        for key, value in extra.items():
            if key not in _NOT_PASSED and key not in DECLARED_FIELDS:
                body[key] = value
        return body  # type: ignore[return-value]

    def build_request(self, request: ChatRequest, target: Target) -> httpx.Request:
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if request.stream else "application/json",
            **target.headers,
        }
        if target.secret():
            headers["authorization"] = f"Bearer {target.secret()}"
        base = (target.base_url or BASE_URL).rstrip("/")
        body = self.build_body(request, target)
        return httpx.Request("POST", base + "/v2/chat", headers=headers, content=orjson.dumps(body))

    def parse_response(
        self, response: httpx.Response, request: ChatRequest, target: Target
    ) -> ChatResponse:
        data = orjson.loads(response.content)
        message = data.get("message") if isinstance(data, dict) else None
        if not isinstance(message, dict) or "finish_reason" not in data:
            raise UpstreamUnavailableError(
                f"{target.provider} sent a malformed response", debug=response.content
            )
        text = "".join(
            part.get("text", "")
            for part in message.get("content") or ()
            if part.get("type") == "text"
        )
        calls = [
            tool_call(c["id"], c["function"]["name"], c["function"].get("arguments") or "{}")
            for c in message.get("tool_calls") or ()
        ]
        if calls and message.get("tool_plan") and not text:
            text = message["tool_plan"]
        return completion(
            target.model,
            [(text, calls, finish_reason(data["finish_reason"], target.provider))],
            openai_usage(data.get("usage")),
            completion_id=data.get("id"),
        )

    def new_stream_decoder(self, request: ChatRequest, target: Target) -> CohereStreamDecoder:
        return CohereStreamDecoder(target.model, target.provider)

    def map_error(self, status: int, headers: httpx.Headers, body: bytes) -> GatewayError:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = {}
        message = data.get("message") if isinstance(data, dict) else None
        if status in (402, 498):  # payment required; invalid token
            return UpstreamAuthError(
                f"{self.name} rejected the gateway's account (status {status})",
                provider=self.name,
                upstream_status=status,
                debug=body,
            )
        return error_from_status(
            status,
            provider=self.name,
            message=str(message) if message else None,
            code=None,
            headers=headers,
            body=body,
        )

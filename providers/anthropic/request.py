"""OpenAI chat request → Anthropic Messages request body.

Translation rules (README, "Anthropic"):
- system and developer messages are lifted into ``system``;
- ``tool`` messages become ``tool_result`` blocks of a user turn, and consecutive
  turns of the same role are merged (Anthropic wants user/assistant turns);
- assistant ``tool_calls`` become ``tool_use`` blocks (arguments JSON → ``input``);
- images: ``data:`` URIs → base64 source, http(s) URLs → url source (never fetched);
- ``max_tokens`` is required upstream: max_completion_tokens, max_tokens, the
  provider's ``default_max_tokens``, else ``DEFAULT_MAX_TOKENS``;
- ``response_format`` json_schema / json_object → one forced tool whose
  ``input_schema`` is the schema; its input comes back as the message content.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, cast

from providers.errors import InvalidRequestError
from providers.inputs import (
    check_unsupported,
    image_ref,
    object_arguments,
    require_tool_call_id,
    text_content,
)
from providers.types import ChatRequest, ContentPart, Message

from .wire import ContentBlock, MessageParam, MessagesRequest, ToolChoice, ToolParam

__all__ = ["DEFAULT_MAX_TOKENS", "JSON_TOOL", "build_body", "response_tool", "safe_tool_id"]

DEFAULT_MAX_TOKENS = 4096
JSON_TOOL = "json_response"  # the forced tool's name for response_format json_object
_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_UNSAFE_ID = re.compile(r"[^a-zA-Z0-9_-]")
_EMPTY_SCHEMA = {"type": "object", "properties": {}}


def safe_tool_id(call_id: str) -> str:
    """Anthropic tool ids match ``^[a-zA-Z0-9_-]+$``; ids from other providers are
    rewritten the same way in ``tool_use`` and ``tool_result``, so they still pair."""
    return _UNSAFE_ID.sub("_", call_id) or "_"


def _text_block(text: str, part: ContentPart | None = None) -> ContentBlock:
    block: ContentBlock = {"type": "text", "text": text}
    cache = (part.model_extra or {}).get("cache_control") if part is not None else None
    if cache is not None:
        block["cache_control"] = cache  # Anthropic prompt caching, passed through
    return block


def _image_block(part: ContentPart, where: str) -> ContentBlock:
    ref = image_ref(part, where)
    if ref.url is not None:
        return {"type": "image", "source": {"type": "url", "url": ref.url}}
    if ref.media_type not in _IMAGE_TYPES:
        raise InvalidRequestError(
            f"{where}: anthropic accepts {', '.join(sorted(_IMAGE_TYPES))} images",
            param=where,
        )
    return {
        "type": "image",
        "source": {"type": "base64", "media_type": ref.media_type, "data": ref.data or ""},
    }


def _content_blocks(message: Message, where: str, *, images: bool) -> list[ContentBlock]:
    content = message.content
    if content is None:
        return []
    if isinstance(content, str):  # Anthropic refuses text blocks of only whitespace
        return [_text_block(content)] if content.strip() else []
    blocks: list[ContentBlock] = []
    for j, part in enumerate(content):
        if part.type in ("text", "refusal"):
            text = part.text if part.type == "text" else (part.model_extra or {}).get("refusal")
            if text and str(text).strip():
                blocks.append(_text_block(str(text), part))
        elif part.type == "image_url" and images:
            blocks.append(_image_block(part, f"{where}.content[{j}].image_url"))
        else:
            raise InvalidRequestError(
                f"{where}.content[{j}].type: {part.type!r} parts are not supported here",
                param=f"{where}.content[{j}].type",
            )
    return blocks


def _turn_blocks(message: Message, where: str) -> tuple[str, list[ContentBlock]]:
    if message.role == "user":
        return "user", _content_blocks(message, where, images=True)
    if message.role == "assistant":
        blocks = _content_blocks(message, where, images=False)
        for j, call in enumerate(message.tool_calls or ()):
            blocks.append(
                {
                    "type": "tool_use",
                    "id": safe_tool_id(call.id),
                    "name": call.function.name,
                    "input": object_arguments(call, f"{where}.tool_calls[{j}]"),
                }
            )
        return "assistant", blocks
    if message.role == "tool":
        call_id = safe_tool_id(require_tool_call_id(message, where))
        result: ContentBlock = {"type": "tool_result", "tool_use_id": call_id}
        text = text_content(message, where)
        if text.strip():
            result["content"] = text
        return "user", [result]
    raise InvalidRequestError(
        f"{where}.role: {message.role!r} messages are not supported; use 'tool'",
        param=f"{where}.role",
    )


def _messages(request: ChatRequest) -> list[MessageParam]:
    turns: list[MessageParam] = []
    for i, message in enumerate(request.messages):
        if message.role in ("system", "developer"):
            continue
        role, blocks = _turn_blocks(message, f"messages[{i}]")
        if not blocks:
            continue  # Anthropic refuses empty turns; merging keeps roles alternating
        if turns and turns[-1]["role"] == role:
            cast(list[ContentBlock], turns[-1]["content"]).extend(blocks)
        else:
            turns.append({"role": cast(Any, role), "content": blocks})
    if not turns:
        raise InvalidRequestError("messages: no user or assistant message has content")
    for turn in turns:
        blocks = cast(list[ContentBlock], turn["content"])
        if len(blocks) == 1 and set(blocks[0]) == {"type", "text"}:
            turn["content"] = blocks[0]["text"]
    return turns


def _system(request: ChatRequest) -> str | list[ContentBlock] | None:
    blocks: list[ContentBlock] = []
    for i, message in enumerate(request.messages):
        if message.role in ("system", "developer"):
            blocks.extend(_content_blocks(message, f"messages[{i}]", images=False))
    if not blocks:
        return None
    if any("cache_control" in block for block in blocks):
        return blocks
    return "\n\n".join(block["text"] for block in blocks)


def response_tool(request: ChatRequest) -> ToolParam | None:
    """The forced tool that carries ``response_format`` json_schema / json_object."""
    fmt = request.response_format
    kind = (fmt or {}).get("type", "text")
    if fmt is None or kind == "text":
        return None
    if kind == "json_object":
        return {
            "name": JSON_TOOL,
            "description": "Respond with a JSON object.",
            "input_schema": {"type": "object"},
        }
    if kind != "json_schema":
        raise InvalidRequestError(
            f"response_format.type: {kind!r} is not supported", param="response_format.type"
        )
    spec = fmt.get("json_schema") or {}
    schema = spec.get("schema") or {"type": "object"}
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise InvalidRequestError(
            "response_format.json_schema.schema: anthropic needs an object schema at the root",
            param="response_format.json_schema.schema",
        )
    return {
        "name": str(spec.get("name") or JSON_TOOL),
        "description": str(spec.get("description") or "Respond with JSON matching this schema."),
        "input_schema": schema,
    }


def _tool_choice(request: ChatRequest) -> ToolChoice | None:
    choice = request.tool_choice
    result: ToolChoice | None
    if choice is None:
        result = None
    elif choice in ("auto", "none"):
        result = {"type": cast(Any, choice)}
    elif choice == "required":
        result = {"type": "any"}
    elif isinstance(choice, dict) and isinstance((choice.get("function") or {}).get("name"), str):
        result = {"type": "tool", "name": choice["function"]["name"]}
    else:
        raise InvalidRequestError(
            "tool_choice: expected auto, none, required or a named function", param="tool_choice"
        )
    if request.parallel_tool_calls is False and (result or {}).get("type") != "none":
        result = {**(result or {"type": "auto"}), "disable_parallel_tool_use": True}
    return result


def _history_tools(request: ChatRequest, body: MessagesRequest) -> None:
    """Anthropic refuses ``tool_use`` history in a request that defines no tools, while
    OpenAI allows it; the called names are declared with tool_choice none, which is
    what a request without tools means."""
    names = dict.fromkeys(
        call.function.name for message in request.messages for call in message.tool_calls or ()
    )
    if names:
        body["tools"] = [{"name": name, "input_schema": {"type": "object"}} for name in names]
        body["tool_choice"] = {"type": "none"}


def _tools(request: ChatRequest, body: MessagesRequest) -> None:
    forced = response_tool(request)
    if forced is not None:
        if request.tools:
            raise InvalidRequestError(
                "response_format: anthropic deployments cannot combine it with tools",
                param="response_format",
            )
        body["tools"] = [forced]
        body["tool_choice"] = {"type": "tool", "name": forced["name"]}
        return
    if not request.tools:
        _history_tools(request, body)
        return
    tools: list[ToolParam] = []
    for tool in request.tools:
        schema = dict(tool.function.parameters or _EMPTY_SCHEMA)
        schema.setdefault("type", "object")
        param: ToolParam = {"name": tool.function.name, "input_schema": schema}
        if tool.function.description:
            param["description"] = tool.function.description
        tools.append(param)
    body["tools"] = tools
    choice = _tool_choice(request)
    if choice is not None:
        body["tool_choice"] = choice


def build_body(request: ChatRequest, model: str, options: Mapping[str, Any]) -> MessagesRequest:
    check_unsupported(request, "anthropic")
    if request.temperature is not None and request.temperature > 1:
        raise InvalidRequestError(
            "temperature: anthropic accepts values from 0 to 1", param="temperature"
        )
    body: MessagesRequest = {
        "model": model,
        "max_tokens": request.output_limit
        or int(options.get("default_max_tokens") or DEFAULT_MAX_TOKENS),
        "messages": _messages(request),
    }
    system = _system(request)
    if system is not None:
        body["system"] = system
    _tools(request, body)
    if request.stop_list():
        body["stop_sequences"] = request.stop_list()
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.top_p is not None:
        body["top_p"] = request.top_p
    top_k = (request.model_extra or {}).get("top_k")
    if isinstance(top_k, int) and not isinstance(top_k, bool):
        body["top_k"] = top_k
    if request.user:
        body["metadata"] = {"user_id": request.user}
    if request.stream:
        body["stream"] = True
    return body

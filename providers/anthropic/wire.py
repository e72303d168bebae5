"""Anthropic Messages API wire format (``POST /v1/messages``), as TypedDicts.

Only the fields Arbiter writes or reads. Shapes follow Anthropic's public API
reference: request body, the ``message`` response, the streaming events and the
error body.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

__all__ = [
    "ContentBlock",
    "ErrorBody",
    "ImageSource",
    "MessageParam",
    "MessagesRequest",
    "MessagesResponse",
    "StreamEvent",
    "ToolChoice",
    "ToolParam",
    "UsageBody",
]


class ImageSource(TypedDict, total=False):
    type: Literal["base64", "url"]
    media_type: str  # base64 only: image/jpeg, image/png, image/gif, image/webp
    data: str  # base64 only
    url: str  # url only


class ContentBlock(TypedDict, total=False):
    """text | image | tool_use | tool_result | thinking | redacted_thinking (one dict type
    with the union of their fields keeps the adapter simple)."""

    type: str
    text: str
    source: ImageSource
    id: str  # tool_use
    name: str  # tool_use
    input: dict[str, Any]  # tool_use
    tool_use_id: str  # tool_result
    content: str | list[ContentBlock]  # tool_result
    is_error: bool  # tool_result
    cache_control: dict[str, Any]
    thinking: str


class MessageParam(TypedDict):
    role: Literal["user", "assistant"]
    content: str | list[ContentBlock]


class ToolParam(TypedDict, total=False):
    name: str
    description: str
    input_schema: dict[str, Any]


class ToolChoice(TypedDict, total=False):
    type: Literal["auto", "any", "tool", "none"]
    name: str  # type "tool" only
    disable_parallel_tool_use: bool


class MessagesRequest(TypedDict, total=False):
    model: str
    messages: list[MessageParam]
    max_tokens: int
    system: str | list[ContentBlock]
    stop_sequences: list[str]
    stream: bool
    temperature: float
    top_p: float
    top_k: int
    tools: list[ToolParam]
    tool_choice: ToolChoice
    metadata: dict[str, str]


class UsageBody(TypedDict, total=False):
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int | None
    cache_read_input_tokens: int | None


class MessagesResponse(TypedDict, total=False):
    id: str
    type: Literal["message"]
    role: Literal["assistant"]
    model: str
    content: list[ContentBlock]
    stop_reason: str | None  # end_turn, max_tokens, stop_sequence, tool_use, pause_turn, refusal
    stop_sequence: str | None
    usage: UsageBody


class ErrorBody(TypedDict, total=False):
    type: str  # invalid_request_error, authentication_error, overloaded_error, ...
    message: str


class StreamEvent(TypedDict, total=False):
    """message_start | content_block_start | content_block_delta | content_block_stop |
    message_delta | message_stop | ping | error."""

    type: str
    message: MessagesResponse  # message_start
    index: int  # content_block_*
    content_block: ContentBlock  # content_block_start
    delta: dict[str, Any]  # content_block_delta (text_delta, input_json_delta, ...) or
    # message_delta ({"stop_reason", "stop_sequence"})
    usage: UsageBody  # message_delta (cumulative)
    error: ErrorBody  # error

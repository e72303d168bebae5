"""Canonical OpenAI-format types.

The request is a pydantic model: it is the edge where client input is validated.
Responses and stream chunks are plain dicts in OpenAI's exact JSON shape
(``ChatResponse``, ``ChatChunk``): adapters build them, the gateway serialises
them with orjson, and nothing validates them twice on the hot path.
"""

from __future__ import annotations

from typing import Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ChatChunk",
    "ChatRequest",
    "ChatResponse",
    "ContentPart",
    "FunctionCall",
    "Message",
    "StreamOptions",
    "Tool",
    "ToolCall",
    "Usage",
    "message_text",
]

_MAX_TOKENS = 2**31 - 1

Role = Literal["system", "developer", "user", "assistant", "tool", "function"]


class _Open(BaseModel):
    """OpenAI objects: known fields are checked, unknown ones are kept and passed on."""

    model_config = ConfigDict(extra="allow")


class ImageURL(_Open):
    url: str
    detail: str | None = None


class ContentPart(_Open):
    type: str
    text: str | None = None
    image_url: ImageURL | None = None


class FunctionCall(_Open):
    name: str
    arguments: str = ""


class ToolCall(_Open):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(_Open):
    role: Role
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None


class FunctionDef(_Open):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(_Open):
    type: Literal["function"] = "function"
    function: FunctionDef


class StreamOptions(_Open):
    include_usage: bool = False


class ChatRequest(_Open):
    model: str = Field(min_length=1)
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    tools: list[Tool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    response_format: dict[str, Any] | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1, le=_MAX_TOKENS)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=_MAX_TOKENS)
    stop: str | list[str] | None = None
    n: int | None = Field(default=None, ge=1, le=128)
    seed: int | None = Field(default=None, ge=-(2**63), lt=2**63)
    user: str | None = None
    metadata: dict[str, Any] | None = None

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)

    @property
    def output_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    def stop_list(self) -> list[str]:
        if self.stop is None:
            return []
        return [self.stop] if isinstance(self.stop, str) else list(self.stop)

    def to_openai_body(self) -> dict[str, Any]:
        """The request as the client meant it: set fields and unknown extras, nothing added."""
        return self.model_dump(exclude_unset=True, exclude_none=False)


def message_text(message: Message) -> str:
    """The text of a message, joining text parts; images and other parts are skipped."""
    content = message.content
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return "".join(part.text or "" for part in content if part.type == "text")


# Plain OpenAI-shaped data inside the gateway (see module docstring).
ChatResponse: TypeAlias = dict[str, Any]
ChatChunk: TypeAlias = dict[str, Any]
Usage: TypeAlias = dict[str, Any]

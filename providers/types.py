"""Canonical OpenAI-format types.

The request is a pydantic model: it is the edge where client input is validated.
Responses and stream chunks are plain dicts in OpenAI's exact JSON shape
(``ChatResponse``, ``ChatChunk``): adapters build them, the gateway serialises
them with orjson, and nothing validates them twice on the hot path.
"""

from __future__ import annotations

from types import NoneType, UnionType
from typing import Any, Literal, TypeAlias, Union, get_args, get_origin

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
    """A chat request. One parsed by ``from_client`` remembers the client's JSON
    object, so that ``to_openai_body`` does not have to dump it back (a dump costs
    about as much as the validation). Treat a parsed request as read-only: a field
    assigned afterwards makes it forget that object, but a change inside a value
    (``messages[0].content = ...``) would not be seen."""

    # Not fields: pydantic neither validates nor dumps them, and copies drop them.
    __slots__ = ("_client_json", "_derived")

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

    @classmethod
    def from_client(cls, data: dict[str, Any]) -> ChatRequest:
        """``data`` (the client's JSON object) validated; ``data`` must not change afterwards."""
        # model_validate without its Python wrapper (~4,000 instructions of argument checks)
        request: ChatRequest = cls.__pydantic_validator__.validate_python(data)
        object.__setattr__(request, "_client_json", data)
        object.__setattr__(request, "_derived", None)
        return request

    @property
    def client_json(self) -> dict[str, Any] | None:
        """The client's JSON object this request was parsed from (``from_client``);
        None for a request built in code or assigned to since. Read it, don't change it."""
        sent: dict[str, Any] | None = getattr(self, "_client_json", None)
        return sent

    @property
    def derived(self) -> dict[Any, Any] | None:
        """Values computed from this request and kept with it (its cache key's
        canonical JSON), once ``keep_derived`` was called: a request parsed once and
        found again for a repeated body (``gateway.repeats``) brings them along.
        None for other requests, which compute them each time."""
        derived: dict[Any, Any] | None = getattr(self, "_derived", None)
        return derived

    def keep_derived(self) -> None:
        """From now on, what is computed from this request may be kept (``derived``)."""
        if getattr(self, "_derived", None) is None:
            object.__setattr__(self, "_derived", {})

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, "_client_json", None)  # no longer what the client sent
        object.__setattr__(self, "_derived", None)  # nor what was computed from it
        super().__setattr__(name, value)

    def to_openai_body(self) -> dict[str, Any]:
        """The request as the client meant it: set fields and unknown extras, nothing
        added. A new dict, whose values are the request's own: read them, don't change them.

        From the client's JSON object when there is one: the same as the dump of the
        set fields, but for the fields validation may have changed (numbers, booleans
        and the objects holding them: ``"max_tokens": "256"`` is 256, ``1`` a float
        temperature), which are taken from the request."""
        sent = self.client_json
        if sent is None:
            return self.model_dump(exclude_unset=True, exclude_none=False)
        body = dict(sent)
        for name in _RETYPED_FIELDS.intersection(sent):
            body[name] = _as_json(getattr(self, name))
        return body


def _retyped_by_validation(annotation: Any) -> bool:
    """Whether a valid JSON value of this type may come out of validation as another
    value: numbers and booleans may (pydantic's lax mode), and what holds them.
    Strings, string literals and free-form values (``dict[str, Any]``) come out as sent."""
    if annotation in (str, Any, NoneType):
        return False
    origin = get_origin(annotation)
    if origin is Literal:
        return not all(isinstance(arg, str) for arg in get_args(annotation))
    if origin in (Union, UnionType, list):
        return any(_retyped_by_validation(arg) for arg in get_args(annotation))
    if origin is dict:
        return get_args(annotation) != (str, Any)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return any(_retyped_by_validation(f.annotation) for f in annotation.model_fields.values())
    return True


def _as_json(value: Any) -> Any:
    """A field's value as the set fields' dump has it."""
    if isinstance(value, (int, float)):  # first: the check against BaseModel (an ABC) costs more
        return value
    if isinstance(value, BaseModel):
        return value.model_dump(exclude_unset=True)
    if isinstance(value, list):
        return [_as_json(item) for item in value]
    return value


# ChatRequest's fields that ``to_openai_body`` takes from the request, not the client's JSON.
_RETYPED_FIELDS = frozenset(
    name
    for name, info in ChatRequest.model_fields.items()
    if _retyped_by_validation(info.annotation)
)


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

"""Reading an OpenAI request for translation into another wire format.

Shared by the adapters whose wire format is not OpenAI's: images (URL or inline
bytes, and never a fetch), tool-call arguments, ``tool_choice`` in one normal
form, and the check that refuses fields a provider cannot honour.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from providers.errors import InvalidRequestError
from providers.types import ChatRequest, ContentPart, Message

__all__ = [
    "DECLARED_FIELDS",
    "Image",
    "ToolChoice",
    "check_supported",
    "drop_unsupported",
    "parse_arguments",
    "parse_image",
    "read_tool_choice",
    "require_inline",
    "system_text",
]

# ChatRequest's declared fields; anything else in ``model_extra`` is an extra.
DECLARED_FIELDS = frozenset(ChatRequest.model_fields)

_DATA_URI = re.compile(
    r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^,;]*)*?);base64,(?P<data>.*)$", re.S
)


@dataclass(frozen=True, slots=True)
class Image:
    """An image part: either a URL the provider fetches, or inline base64 bytes."""

    url: str | None = None  # http(s) URL, when the client gave one
    media_type: str | None = None  # e.g. image/png, for inline data
    data: str | None = None  # base64, for inline data

    @property
    def inline(self) -> bool:
        return self.data is not None

    @property
    def format(self) -> str:
        """The subtype of the media type ('png', 'jpeg'), for formats named that way."""
        return (self.media_type or "").partition("/")[2]


def parse_image(part: ContentPart, *, provider: str) -> Image:
    """An ``image_url`` part as a URL or inline bytes; anything else is a clear 400."""
    if part.image_url is None or not part.image_url.url:
        raise InvalidRequestError("an image_url part needs image_url.url", param="messages")
    url = part.image_url.url.strip()
    lowered = url[:8].lower()
    if lowered.startswith("data:"):
        match = _DATA_URI.match(url)
        if match is None or not match.group("mime"):
            raise InvalidRequestError(
                "image_url.url: a data URI must look like data:image/png;base64,...",
                param="messages",
            )
        data = re.sub(r"\s+", "", match.group("data"))
        try:
            base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequestError(
                "image_url.url: the data URI is not valid base64", param="messages"
            ) from None
        return Image(media_type=match.group("mime").lower(), data=data)
    if lowered.startswith(("https://", "http://")):
        return Image(url=url)
    raise InvalidRequestError(
        f"image_url.url: {provider} accepts https URLs or data: URIs only", param="messages"
    )


def require_inline(image: Image, *, provider: str, formats: Iterable[str] = ()) -> Image:
    """The image as inline bytes, or a 400: Arbiter never fetches a URL for a client."""
    if not image.inline:
        raise InvalidRequestError(
            f"{provider} needs images inline: send a data: URI (base64), not a URL; "
            "the gateway does not fetch URLs",
            param="messages",
        )
    allowed = tuple(formats)
    if allowed and image.format not in allowed:
        raise InvalidRequestError(
            f"{provider} accepts images of type {', '.join(allowed)}, not {image.media_type}",
            param="messages",
        )
    return image


def parse_arguments(arguments: str, *, where: str = "tool_calls") -> Any:
    """The JSON value of a tool call's ``arguments`` string (``{}`` when empty)."""
    if not arguments.strip():
        return {}
    try:
        return orjson.loads(arguments)
    except orjson.JSONDecodeError:
        raise InvalidRequestError(
            f"{where}: function.arguments must be a JSON string", param="messages"
        ) from None


@dataclass(frozen=True, slots=True)
class ToolChoice:
    mode: Literal["auto", "none", "required", "named"]
    name: str | None = None


def read_tool_choice(request: ChatRequest) -> ToolChoice | None:
    """``tool_choice`` in one normal form; None when the client left it out."""
    choice = request.tool_choice
    if choice is None:
        return None
    if isinstance(choice, str):
        if choice in ("auto", "none", "required"):
            return ToolChoice(choice)  # type: ignore[arg-type]
        raise InvalidRequestError(
            "tool_choice must be auto, none, required or a named function", param="tool_choice"
        )
    function = choice.get("function") if isinstance(choice, dict) else None
    name = function.get("name") if isinstance(function, dict) else None
    if not isinstance(name, str) or not name:
        raise InvalidRequestError(
            "tool_choice: a named choice needs function.name", param="tool_choice"
        )
    if request.tools and all(t.function.name != name for t in request.tools):
        raise InvalidRequestError(
            f"tool_choice names {name!r}, which is not in tools", param="tool_choice"
        )
    return ToolChoice("named", name)


def system_text(message: Message) -> str:
    """The text of a system or developer message (text parts only; images are refused)."""
    content = message.content
    if content is None or isinstance(content, str):
        return content or ""
    for part in content:
        if part.type != "text":
            raise InvalidRequestError(
                f"{message.role} messages may hold text parts only", param="messages"
            )
    return "".join(part.text or "" for part in content)


def _set_fields(request: ChatRequest) -> dict[str, Any]:
    """The fields the client set, declared and extra, with their values."""
    fields = {name: getattr(request, name) for name in request.model_fields_set}
    fields.update(request.model_extra or {})
    return fields


def _is_default(name: str, value: Any) -> bool:
    """Values that ask for nothing (n=1, parallel_tool_calls=true, ...) are always fine."""
    if value is None:
        return True
    defaults: Mapping[str, Any] = {
        "n": 1,
        "parallel_tool_calls": True,
        "logprobs": False,
        "stream": False,
        "frequency_penalty": 0,
        "presence_penalty": 0,
        "tool_choice": "auto",
    }
    return name in defaults and value == defaults[name]


def check_supported(
    request: ChatRequest,
    *,
    provider: str,
    unsupported: Iterable[str],
    drop: bool = False,
) -> set[str]:
    """Refuse (400 naming the field) or, with ``drop``, return the fields a provider
    cannot honour. Fields set to a value that asks for nothing pass."""
    fields = _set_fields(request)
    found = {name for name in unsupported if name in fields and not _is_default(name, fields[name])}
    if found and not drop:
        name = sorted(found)[0]
        raise InvalidRequestError(
            f"{name}: {provider} does not support this parameter "
            "(set drop_unsupported: true on the provider to drop it instead)",
            param=name,
        )
    return found


def drop_unsupported(options: Mapping[str, Any]) -> bool:
    """Whether the provider config asks to drop unsupported fields rather than refuse."""
    return bool(options.get("drop_unsupported"))

"""Reading an OpenAI chat request for translation into another wire format.

Shared by the adapters whose wire format is not OpenAI's: text-only content,
images (URL or inline bytes, and never a fetch), tool-call arguments,
``tool_choice`` in one normal form, and the checks that refuse the fields a
provider cannot honour. Each refusal is an ``InvalidRequestError`` (a 400), so a
caller learns what to change instead of getting an upstream 400 it cannot read.

Where a refusal points: the readers that take ``where`` (a path such as
``messages[2]``) name the offending field exactly, e.g. param
``messages[2].content[0].type``; without ``where`` the param is ``messages``.
The Anthropic and Gemini adapters give paths, the Cohere and Bedrock adapters
do not; both are what clients of those adapters see, so both are kept.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import orjson

from providers.errors import InvalidRequestError
from providers.types import ChatRequest, ContentPart, Message, ToolCall

__all__ = [
    "DECLARED_FIELDS",
    "OPENAI_ONLY",
    "Image",
    "ToolChoice",
    "check_supported",
    "check_unsupported",
    "drop_unsupported",
    "image_ref",
    "object_arguments",
    "parse_arguments",
    "parse_image",
    "read_tool_choice",
    "require_inline",
    "require_tool_call_id",
    "text_content",
]

# ChatRequest's declared fields; anything else in ``model_extra`` is an extra.
DECLARED_FIELDS = frozenset(ChatRequest.model_fields)

# OpenAI fields no other provider's chat API has an equivalent for.
OPENAI_ONLY = frozenset(
    {
        "n",
        "logit_bias",
        "top_logprobs",
        "parallel_tool_calls",
        "service_tier",
        "store",
        "modalities",
        "audio",
        "prediction",
        "reasoning_effort",
        "web_search_options",
        "functions",
        "function_call",
    }
)

_DATA_URI = re.compile(
    r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^,;]*)*?);base64,(?P<data>.*)$", re.S
)


# -- images -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Image:
    """An image part: inline bytes (base64 text) or a URL the provider fetches.

    ``media_type`` of a URL image is guessed from its path (image/jpeg if unknown).
    """

    media_type: str
    data: str | None = None  # base64, for data: URIs
    url: str | None = None  # http(s), passed on untouched; Arbiter never fetches it

    @property
    def inline(self) -> bool:
        return self.data is not None

    @property
    def format(self) -> str:
        """The subtype of the media type ('png', 'jpeg'), for formats named that way."""
        return self.media_type.partition("/")[2]


def _url_image(url: str) -> Image:
    guessed, _ = mimetypes.guess_type(urlsplit(url).path)
    media_type = guessed if guessed and guessed.startswith("image/") else "image/jpeg"
    return Image(media_type=media_type, url=url)


def _check_base64(data: str, message: str, param: str) -> None:
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequestError(message, param=param) from None


def image_ref(part: ContentPart, where: str) -> Image:
    """The image of an ``image_url`` part, refused at ``where``: a ``data:`` URI must
    be ``data:image/<type>[;...];base64,<data>``; a URL must have an http(s) scheme."""
    url = part.image_url.url if part.image_url else ""
    if url.startswith("data:"):
        header, sep, payload = url[5:].partition(",")
        fields = header.split(";")  # image/png[;param=value...];base64
        media_type, encoding = fields[0].strip(), fields[-1].strip().lower()
        if not sep or encoding != "base64" or not media_type.lower().startswith("image/"):
            raise InvalidRequestError(
                f"{where}: a data: URI must look like data:image/<type>;base64,<data>",
                param=where,
            )
        _check_base64(payload, f"{where}: the data: URI is not valid base64", where)
        return Image(media_type=media_type.lower(), data=payload)
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        raise InvalidRequestError(
            f"{where}: image URLs must be https:// or data: URIs", param=where
        )
    return _url_image(url)


def parse_image(part: ContentPart, *, provider: str) -> Image:
    """The image of an ``image_url`` part, refused with param ``messages``: a
    ``data:`` URI of any media type, whitespace in its base64 ignored, or a URL
    starting http:// or https://."""
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
        _check_base64(data, "image_url.url: the data URI is not valid base64", "messages")
        return Image(media_type=match.group("mime").lower(), data=data)
    if lowered.startswith(("https://", "http://")):
        return _url_image(url)
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


# -- messages and tool calls --------------------------------------------------


def text_content(message: Message, where: str | None = None) -> str:
    """A message's content as text, for roles that hold text only (system,
    developer, tool): a string, or text parts joined; any other part is refused."""
    content = message.content
    if content is None or isinstance(content, str):
        return content or ""
    for j, part in enumerate(content):
        if part.type == "text":
            continue
        if where is None:
            raise InvalidRequestError(
                f"{message.role} messages may hold text parts only", param="messages"
            )
        raise InvalidRequestError(
            f"{where}.content[{j}].type: only text parts are allowed in a {message.role} message",
            param=f"{where}.content[{j}].type",
        )
    return "".join(part.text or "" for part in content)


def require_tool_call_id(message: Message, where: str | None = None) -> str:
    """The ``tool_call_id`` of a ``tool`` message, which must name the call it answers."""
    if message.tool_call_id:
        return message.tool_call_id
    if where is None:
        raise InvalidRequestError("tool messages need tool_call_id", param="messages")
    raise InvalidRequestError(
        f"{where}.tool_call_id: a tool message needs the id of its call",
        param=f"{where}.tool_call_id",
    )


def parse_arguments(call: ToolCall, where: str | None = None) -> Any:
    """The JSON value of a tool call's ``arguments`` text ("" means {})."""
    text = call.function.arguments
    if not text.strip():
        return {}
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        if where is None:
            raise InvalidRequestError(
                "tool_calls: function.arguments must be a JSON string", param="messages"
            ) from None
        raise InvalidRequestError(
            f"{where}.function.arguments: not valid JSON", param=f"{where}.function.arguments"
        ) from None


def object_arguments(call: ToolCall, where: str) -> dict[str, Any]:
    """A tool call's ``arguments`` as the JSON object most providers want as input."""
    value = parse_arguments(call, where)
    if not isinstance(value, dict):
        raise InvalidRequestError(
            f"{where}.function.arguments: must be a JSON object",
            param=f"{where}.function.arguments",
        )
    return value


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


# -- fields a provider cannot honour ------------------------------------------


def check_unsupported(
    request: ChatRequest, provider: str, *, choices: bool = False, penalties: bool = False
) -> None:
    """Refuse the OpenAI fields that ask for what the provider cannot give, naming the
    field; a field set to a falsy value asks for nothing and passes.

    ``n`` above 1, ``logprobs``/``top_logprobs`` and ``logit_bias`` change what the
    caller gets back, so they are never dropped silently; neither are the legacy
    ``functions``. Penalties are refused unless ``penalties``; ``choices`` says the
    provider can return several choices (``n``).
    """
    extra = request.model_extra or {}

    def refuse(name: str) -> InvalidRequestError:
        return InvalidRequestError(f"{name}: not supported by {provider} deployments", param=name)

    if not choices and request.n is not None and request.n > 1:
        raise refuse("n")
    if extra.get("logprobs") or extra.get("top_logprobs"):
        raise refuse("logprobs" if extra.get("logprobs") else "top_logprobs")
    if extra.get("logit_bias"):
        raise refuse("logit_bias")
    for legacy in ("functions", "function_call"):
        if extra.get(legacy):
            raise InvalidRequestError(
                f"{legacy}: the legacy functions API is not supported; use tools", param=legacy
            )
    if not penalties:
        for name in ("presence_penalty", "frequency_penalty"):
            if extra.get(name):
                raise refuse(name)


def _set_value(request: ChatRequest, name: str) -> Any:
    """The value of the field ``name``, declared or extra, if the client set it, else None."""
    if name not in request.model_fields_set:
        return None
    extra = request.model_extra or {}
    return extra[name] if name in extra else getattr(request, name)


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
    """Refuse (400 naming the field) or, with ``drop``, return the fields of
    ``unsupported`` the client set. Fields set to a value that asks for nothing pass."""
    found = {name for name in unsupported if not _is_default(name, _set_value(request, name))}
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

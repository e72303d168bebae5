"""Reading an OpenAI chat request the way non-OpenAI adapters need it.

Pure functions shared by the adapters whose wire format is not OpenAI's
(Anthropic, Gemini): system text, image URLs and ``data:`` URIs, tool-call
arguments, the OpenAI fields such upstreams cannot honour. Each raises
``InvalidRequestError`` naming the offending field, so a caller learns what to
change instead of getting an upstream 400 it cannot read.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson

from providers.errors import InvalidRequestError
from providers.types import ChatRequest, ContentPart, Message, ToolCall

__all__ = [
    "ImageRef",
    "check_unsupported",
    "image_ref",
    "parse_arguments",
    "part_text",
    "system_text",
    "tool_result_text",
]


@dataclass(frozen=True, slots=True)
class ImageRef:
    """An image part, either inline bytes (base64 text) or a URL the provider fetches."""

    media_type: str
    data: str | None = None  # base64, for data: URIs
    url: str | None = None  # http(s), passed on untouched; Arbiter never fetches it


def image_ref(part: ContentPart, where: str) -> ImageRef:
    """The image of an ``image_url`` part: ``data:`` URIs are decoded to base64 text,
    http(s) URLs are passed on. Anything else is refused (no file:, no fetching)."""
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
        try:
            base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequestError(
                f"{where}: the data: URI is not valid base64", param=where
            ) from None
        return ImageRef(media_type=media_type.lower(), data=payload)
    scheme = urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidRequestError(
            f"{where}: image URLs must be https:// or data: URIs", param=where
        )
    guessed, _ = mimetypes.guess_type(urlsplit(url).path)
    media_type = guessed if guessed and guessed.startswith("image/") else "image/jpeg"
    return ImageRef(media_type=media_type, url=url)


def part_text(part: ContentPart) -> str:
    return part.text or ""


def _content_text(message: Message, where: str) -> str:
    content = message.content
    if content is None or isinstance(content, str):
        return content or ""
    texts = []
    for j, part in enumerate(content):
        if part.type != "text":
            raise InvalidRequestError(
                f"{where}.content[{j}].type: only text parts are allowed in a "
                f"{message.role} message",
                param=f"{where}.content[{j}].type",
            )
        texts.append(part_text(part))
    return "".join(texts)


def system_text(request: ChatRequest) -> list[str]:
    """The text of every system and developer message, in order (empty ones skipped)."""
    texts = []
    for i, message in enumerate(request.messages):
        if message.role in ("system", "developer"):
            text = _content_text(message, f"messages[{i}]")
            if text:
                texts.append(text)
    return texts


def tool_result_text(message: Message, where: str) -> str:
    """A ``tool`` message's content as text (OpenAI allows a string or text parts)."""
    return _content_text(message, where)


def parse_arguments(call: ToolCall, where: str) -> dict[str, Any]:
    """A tool call's ``arguments`` JSON as the object providers want ("" means {})."""
    text = call.function.arguments
    if not text.strip():
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise InvalidRequestError(
            f"{where}.function.arguments: not valid JSON", param=f"{where}.function.arguments"
        ) from None
    if not isinstance(value, dict):
        raise InvalidRequestError(
            f"{where}.function.arguments: must be a JSON object",
            param=f"{where}.function.arguments",
        )
    return value


def check_unsupported(
    request: ChatRequest, provider: str, *, choices: bool = False, penalties: bool = False
) -> None:
    """Refuse OpenAI fields the provider cannot honour, naming the field.

    ``n`` above 1, ``logprobs``/``top_logprobs`` and a non-empty ``logit_bias`` change
    what the caller gets back, so they are never dropped silently. Zero penalties
    (what many SDKs send by default) are accepted; others only when ``penalties``.
    ``choices`` says the provider can return several choices (``n``).
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

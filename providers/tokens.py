"""Token counting with tiktoken, offline: prompts before a call, completions when
an upstream leaves usage out.

Prompt tokens follow OpenAI's cookbook ("How to count tokens with tiktoken"):
every message costs 3 tokens of framing plus its role and content, a name 1
more plus the name, and the reply is primed with 3. Tools add, per function,
7 tokens (o200k_base models; 10 for cl100k_base) plus ``name:description``,
3 for the property list and per property 3 plus ``name:type:description``,
enum values 3 each plus the value (the list itself -3), and 12 at the end;
a trailing period of a description is not counted. Images are counted in
``providers.image_tokens``. These numbers are exact for OpenAI's models on flat
tool schemas; for other providers, nested schemas and tool-call messages they
are estimates, corrected by the upstream's own usage once it answers.

Encodings are picked by model family and loaded once (``providers.encodings``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import orjson
import tiktoken

from providers.encodings import FALLBACK_ENCODING, encoding_name_for_model, load_encoding
from providers.errors import GatewayError
from providers.image_tokens import image_tokens
from providers.stream_chunk import StreamChunk
from providers.types import ChatChunk, ChatRequest, ChatResponse, Message, Tool, Usage

__all__ = [
    "StreamMeter",
    "completion_text",
    "count_message_tokens",
    "count_prompt_tokens",
    "count_text_tokens",
    "count_tool_tokens",
    "encoding_for",
    "encoding_name_for_model",
    "estimate_usage",
]

_TOKENS_PER_MESSAGE = 3
_TOKENS_PER_NAME = 1
_REPLY_PRIMING = 3
# Tool definitions, per the cookbook: (function start, property list start,
# per property, enum list start, per enum value, end of the tool block).
_TOOL_COSTS = {"o200k_base": (7, 3, 3, -3, 3, 12)}
_TOOL_COSTS_DEFAULT = (10, 3, 3, -3, 3, 12)
_DOCUMENTED_PROPERTY_KEYS = frozenset({"type", "description", "enum"})


def encoding_for(name: str = FALLBACK_ENCODING) -> tiktoken.Encoding:
    return load_encoding(name)


def count_text_tokens(text: str, encoding: str = FALLBACK_ENCODING) -> int:
    if not text:
        return 0
    return len(load_encoding(encoding).encode(text, disallowed_special=()))


def _content_tokens(content: Any, encoding: str) -> int:
    if content is None:
        return 0
    if isinstance(content, str):
        return count_text_tokens(content, encoding)
    total = 0
    for part in content:
        if part.type == "text":
            total += count_text_tokens(part.text or "", encoding)
        elif part.type == "image_url" and part.image_url is not None:
            total += image_tokens(part.image_url.url, part.image_url.detail)
    return total


def _message_tokens(message: Message, encoding: str) -> int:
    total = _TOKENS_PER_MESSAGE + count_text_tokens(message.role, encoding)
    total += _content_tokens(message.content, encoding)
    if message.name:
        total += _TOKENS_PER_NAME + count_text_tokens(message.name, encoding)
    for call in message.tool_calls or ():
        total += count_text_tokens(call.function.name, encoding)
        total += count_text_tokens(call.function.arguments, encoding)
    return total


def count_message_tokens(request: ChatRequest, encoding: str = FALLBACK_ENCODING) -> int:
    """Tokens of the messages alone, counted the way OpenAI bills them."""
    total = _REPLY_PRIMING
    for message in request.messages:
        total += _message_tokens(message, encoding)
    return total


def _strip_period(text: str) -> str:
    return text[:-1] if text.endswith(".") else text


def _property_tokens(name: str, schema: Mapping[str, Any], encoding: str) -> int:
    _, _, per_property, enum_start, per_enum, _ = _TOOL_COSTS.get(encoding, _TOOL_COSTS_DEFAULT)
    kind = schema.get("type", "")
    kind = "|".join(map(str, kind)) if isinstance(kind, list) else str(kind)
    description = _strip_period(str(schema.get("description") or ""))
    total = per_property + count_text_tokens(f"{name}:{kind}:{description}", encoding)
    enum = schema.get("enum")
    if isinstance(enum, list):
        total += enum_start
        for item in enum:
            total += per_enum + count_text_tokens(str(item), encoding)
    extra = {k: v for k, v in schema.items() if k not in _DOCUMENTED_PROPERTY_KEYS}
    if extra:  # nested schemas: not documented, counted as their JSON
        total += count_text_tokens(orjson.dumps(extra).decode(), encoding)
    return total


def count_tool_tokens(tools: Iterable[Tool], encoding: str = FALLBACK_ENCODING) -> int:
    """Tokens the tool definitions add to a prompt (0 without tools)."""
    function_start, list_start, _, _, _, end = _TOOL_COSTS.get(encoding, _TOOL_COSTS_DEFAULT)
    total = 0
    for tool in tools:
        function = tool.function
        description = _strip_period(function.description or "")
        total += function_start + count_text_tokens(f"{function.name}:{description}", encoding)
        properties = (function.parameters or {}).get("properties") or {}
        if properties:
            total += list_start
            for name, schema in properties.items():
                schema = schema if isinstance(schema, dict) else {}
                total += _property_tokens(name, schema, encoding)
    return total + end if total else 0


def count_prompt_tokens(request: ChatRequest, model: str | None = None) -> int:
    """Prompt tokens of a chat request (messages and tools) for an upstream model id;
    the model defaults to the one the request names."""
    encoding = encoding_name_for_model(model or request.model)
    total = count_message_tokens(request, encoding)
    if request.tools:
        total += count_tool_tokens(request.tools, encoding)
    return total


def _usage(prompt: int, completion: int) -> Usage:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def completion_text(response: ChatResponse) -> str:
    """The generated text of a response: contents, refusals and tool calls, joined."""
    parts: list[str] = []
    for choice in response.get("choices") or ():
        message = choice.get("message") or {}
        _collect(message, parts)
    return "".join(parts)


def _collect(message: Mapping[str, Any], parts: list[str]) -> None:
    for field in ("content", "refusal", "reasoning_content"):
        value = message.get(field)
        if isinstance(value, str):
            parts.append(value)
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        parts.append(function.get("name") or "")
        parts.append(function.get("arguments") or "")


def estimate_usage(request: ChatRequest, text: str, model: str) -> Usage:
    """Usage counted locally, for a response whose upstream did not report it."""
    encoding = encoding_name_for_model(model)
    return _usage(count_prompt_tokens(request, model), count_text_tokens(text, encoding))


class StreamMeter:
    """Watches a stream's chunks so that, if the upstream never reports usage, the
    gateway can count it: the prompt, and the completion streamed so far.

    Chunks are only held (not read) until a usage arrives; their text is read and
    counted only when asked for a usage the upstream did not send.
    """

    __slots__ = ("_held", "_model", "_request", "usage_seen")

    def __init__(self, request: ChatRequest, model: str) -> None:
        self._request = request
        self._model = model
        self._held: list[StreamChunk] = []
        self.usage_seen = False

    def observe(self, chunk: ChatChunk) -> None:
        self.observe_batch((StreamChunk.of(chunk),))

    def observe_batch(self, batch: Iterable[StreamChunk]) -> None:
        if self.usage_seen:
            return
        for piece in batch:
            if piece.usage is not None:
                self.usage_seen = True
                self._held = []
                return
            self._held.append(piece)

    def _chunks(self) -> Iterator[ChatChunk]:
        for piece in self._held:
            try:
                yield piece.chunk
            except GatewayError:  # a malformed event: nothing of it reached anyone
                continue

    def usage(self) -> Usage:
        parts: list[str] = []
        for chunk in self._chunks():
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta")
                if delta:
                    _collect(delta, parts)
        return estimate_usage(self._request, "".join(parts), self._model)

    def usage_chunk(self) -> ChatChunk:
        """The closing chunk OpenAI sends with ``include_usage``, with counted usage."""
        base: dict[str, Any] = {}
        for chunk in self._chunks():
            if chunk.get("choices"):
                base = {k: chunk[k] for k in ("id", "created", "model") if k in chunk}
                break
        return {
            **base,
            "object": "chat.completion.chunk",
            "choices": [],
            "usage": self.usage(),
        }

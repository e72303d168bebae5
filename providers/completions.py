"""Building OpenAI-shaped answers: ``chat.completion`` objects, stream chunks, usage.

Adapters whose upstream speaks another format translate into these shapes, so
every provider's output is the same JSON the OpenAI SDK parses.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from providers.types import ChatChunk, ChatResponse, Usage

__all__ = ["ChunkMaker", "completion", "make_usage", "tool_call"]


def make_usage(
    prompt: int, completion: int, *, cached: int | None = None, reasoning: int | None = None
) -> Usage:
    usage: Usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if cached is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": cached}
    if reasoning is not None:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return usage


def tool_call(call_id: str, name: str, arguments: Any) -> dict[str, Any]:
    """An OpenAI tool call; ``arguments`` is serialised to JSON text unless it already is."""
    text = arguments if isinstance(arguments, str) else orjson.dumps(arguments).decode()
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": text}}


def completion(
    response_id: str,
    model: str,
    choices: Sequence[tuple[str | None, list[dict[str, Any]], str | None]],
    usage: Usage | None,
) -> ChatResponse:
    """A ``chat.completion``; each choice is (text, tool calls, finish_reason)."""
    out: list[dict[str, Any]] = []
    for index, (text, calls, finish) in enumerate(choices):
        message: dict[str, Any] = {
            "role": "assistant",
            "content": text if text else (None if calls else ""),
            "refusal": None,
        }
        if calls:
            message["tool_calls"] = calls
        out.append({"index": index, "message": message, "logprobs": None, "finish_reason": finish})
    response: ChatResponse = {
        "id": response_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": out,
    }
    if usage is not None:
        response["usage"] = usage
    return response


@dataclass(slots=True)
class ChunkMaker:
    """Makes ``chat.completion.chunk`` dicts that share one id, model and timestamp."""

    id: str = "chatcmpl-arbiter"
    model: str = ""
    created: int = field(default_factory=lambda: int(time.time()))

    def delta(self, delta: dict[str, Any], finish: str | None = None, index: int = 0) -> ChatChunk:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        return self._base([choice])

    def usage(self, usage: Usage) -> ChatChunk:
        chunk = self._base([])
        chunk["usage"] = usage
        return chunk

    def _base(self, choices: list[dict[str, Any]]) -> ChatChunk:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }

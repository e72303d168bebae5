"""Building OpenAI-shaped answers from another provider's parts.

``completion`` makes a ``chat.completion`` object; ``ChunkWriter`` makes the
``chat.completion.chunk`` objects of a stream, in the order the OpenAI SDK
expects: a first chunk with the role, content and tool-call deltas (each tool
call keeps one index for its whole life), a chunk with ``finish_reason``, and
a usage-only chunk with ``choices: []``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

from providers.types import ChatChunk, ChatResponse, Usage

__all__ = ["ChunkWriter", "completion", "make_usage", "new_completion_id", "tool_call"]


def new_completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


def make_usage(prompt: int | None, completion: int | None, *, cached: int | None = None) -> Usage:
    """OpenAI usage from a provider's counts (missing counts are 0)."""
    prompt, completion = int(prompt or 0), int(completion or 0)
    usage: Usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if cached is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": int(cached)}
    return usage


def tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def completion(
    *,
    model: str,
    text: str | None,
    tool_calls: list[dict[str, Any]] | None,
    finish_reason: str,
    usage: Usage | None,
    completion_id: str | None = None,
    created: int | None = None,
) -> ChatResponse:
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    response: ChatResponse = {
        "id": completion_id or new_completion_id(),
        "object": "chat.completion",
        "created": created or int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        ],
    }
    if usage is not None:
        response["usage"] = usage
    return response


class ChunkWriter:
    """Makes the chunks of one streamed choice; tracks what was sent so far."""

    __slots__ = ("_base", "_indexes", "finished", "started", "text", "tool_calls")

    def __init__(self, model: str, completion_id: str | None = None) -> None:
        self._base = {
            "id": completion_id or new_completion_id(),
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }
        self._indexes: dict[Any, int] = {}
        self.started = False
        self.finished = False
        self.text = ""
        self.tool_calls: list[dict[str, Any]] = []  # reassembled, for tests and logs

    def set_id(self, completion_id: str) -> None:
        if not self.started:
            self._base["id"] = completion_id

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> list[ChatChunk]:
        chunks: list[ChatChunk] = []
        if not self.started:
            self.started = True
            first = {"role": "assistant", "content": ""}
            if not delta or delta.keys() == {"content"}:
                delta = {**first, **delta}
            else:
                chunks.append(self._make(first, None))
        chunks.append(self._make(delta, finish))
        return chunks

    def _make(self, delta: dict[str, Any], finish: str | None) -> ChatChunk:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**self._base, "choices": [choice]}

    def start(self) -> list[ChatChunk]:
        """The role chunk, once; nothing if already sent."""
        return [] if self.started else self._chunk({})

    def content(self, text: str) -> list[ChatChunk]:
        if not text:
            return []
        self.text += text
        return self._chunk({"content": text})

    def tool_start(self, key: Any, call_id: str, name: str, arguments: str = "") -> list[ChatChunk]:
        """A new tool call; ``key`` is the provider's own handle for it (block index...)."""
        index = self._indexes.setdefault(key, len(self._indexes))
        self.tool_calls.append(tool_call(call_id, name, arguments))
        head = {
            "index": index,
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": arguments},
        }
        return self._chunk({"tool_calls": [head]})

    def tool_arguments(self, key: Any, fragment: str) -> list[ChatChunk]:
        if not fragment or key not in self._indexes:
            return []
        index = self._indexes[key]
        self.tool_calls[index]["function"]["arguments"] += fragment
        return self._chunk({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})

    def has_tool(self, key: Any) -> bool:
        return key in self._indexes

    def finish(self, reason: str) -> list[ChatChunk]:
        if self.finished:
            return []
        self.finished = True
        return self._chunk({}, reason)

    def usage(self, usage: Mapping[str, Any]) -> list[ChatChunk]:
        return [{**self._base, "choices": [], "usage": dict(usage)}]

"""Building OpenAI-shaped answers: ``chat.completion`` objects, stream chunks, usage.

Adapters whose upstream speaks another format translate into these shapes, so
every provider's output is the same JSON the OpenAI SDK parses.

``completion`` makes a ``chat.completion`` object. ``ChunkMaker`` makes single
``chat.completion.chunk`` objects that share one id, model and timestamp, for
decoders that track choices and tool indexes themselves. ``ChunkWriter`` builds
on it for one streamed choice, in the order the OpenAI SDK expects: a first
chunk with the role, content and tool-call deltas (each tool call keeps one
index for its whole life), a chunk with ``finish_reason``, and a usage-only
chunk with ``choices: []``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import orjson

from providers.types import ChatChunk, ChatResponse, Usage

__all__ = [
    "Choice",
    "ChunkMaker",
    "ChunkWriter",
    "arguments_text",
    "completion",
    "make_usage",
    "new_completion_id",
    "tool_call",
]

# One choice of a completion: (text, tool calls, finish_reason).
Choice: TypeAlias = tuple[str | None, list[dict[str, Any]], str | None]


def new_completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


def make_usage(
    prompt: int | None,
    completion: int | None,
    *,
    cached: int | None = None,
    reasoning: int | None = None,
) -> Usage:
    """OpenAI usage from a provider's counts (missing counts are 0)."""
    prompt, completion = int(prompt or 0), int(completion or 0)
    usage: Usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if cached is not None:
        usage["prompt_tokens_details"] = {"cached_tokens": int(cached)}
    if reasoning is not None:
        usage["completion_tokens_details"] = {"reasoning_tokens": int(reasoning)}
    return usage


def arguments_text(value: Any) -> str:
    """Tool-call input as the JSON text OpenAI's ``arguments`` holds (text stays as it is)."""
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def completion(
    model: str,
    choices: Sequence[Choice],
    usage: Usage | None,
    *,
    completion_id: str | None = None,
    created: int | None = None,
) -> ChatResponse:
    """A ``chat.completion``. A choice without text has ``content`` null when it
    calls tools and ``""`` when it does not."""
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
        "id": completion_id or new_completion_id(),
        "object": "chat.completion",
        "created": created or int(time.time()),
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

    def usage(self, usage: Mapping[str, Any]) -> ChatChunk:
        chunk = self._base([])
        chunk["usage"] = dict(usage)
        return chunk

    def _base(self, choices: list[dict[str, Any]]) -> ChatChunk:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }


class ChunkWriter:
    """Makes the chunks of one streamed choice; tracks what was sent so far."""

    __slots__ = ("_chunks", "_indexes", "finished", "started", "text", "tool_calls")

    def __init__(self, model: str, completion_id: str | None = None) -> None:
        self._chunks = ChunkMaker(id=completion_id or new_completion_id(), model=model)
        self._indexes: dict[Any, int] = {}
        self.started = False
        self.finished = False
        self.text = ""
        self.tool_calls: list[dict[str, Any]] = []  # reassembled, for tests and logs

    def set_id(self, completion_id: str) -> None:
        if not self.started:
            self._chunks.id = completion_id

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> list[ChatChunk]:
        chunks: list[ChatChunk] = []
        if not self.started:
            self.started = True
            first = {"role": "assistant", "content": ""}
            if not delta or delta.keys() == {"content"}:
                delta = {**first, **delta}
            else:
                chunks.append(self._chunks.delta(first))
        chunks.append(self._chunks.delta(delta, finish))
        return chunks

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
        return [self._chunks.usage(usage)]

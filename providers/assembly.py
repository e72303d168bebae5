"""Streams and whole answers, one into the other.

``assemble_chunks`` folds a sequence of OpenAI ``chat.completion.chunk`` objects
back into the ``chat.completion`` they stand for: per choice, the role, the
concatenated content and refusal, tool calls rebuilt from their indexed
fragments, logprobs, the finish reason; and the stream's usage. The response
cache stores streamed answers this way, and anything that compares a streamed
answer with a JSON one can use it.

``replay_response`` goes the other way: a ``chat.completion`` as the chunk
sequence a streaming client expects (role chunk, content chunks, tool-call
chunks, finish chunk, then a usage chunk when asked). The caller adds the SSE
framing and ``[DONE]``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from providers.types import ChatChunk, ChatResponse

__all__ = ["REPLAY_PIECE_CHARS", "assemble_chunks", "is_complete", "replay_response"]

# Content replayed from a whole answer is cut into pieces of this many characters.
REPLAY_PIECE_CHARS = 256
_ARGUMENT_PIECE_CHARS = 512
_HEADER_FIELDS = ("id", "created", "model", "system_fingerprint", "service_tier")


@dataclass(slots=True)
class _ToolCallParts:
    id: str | None = None
    type: str = "function"
    name: str = ""
    arguments: list[str] = field(default_factory=list)

    def build(self) -> dict[str, Any]:
        return {
            "id": self.id or "",
            "type": self.type,
            "function": {"name": self.name, "arguments": "".join(self.arguments)},
        }


@dataclass(slots=True)
class _ChoiceParts:
    role: str = "assistant"
    content: list[str] | None = None
    refusal: list[str] | None = None
    tool_calls: dict[int, _ToolCallParts] = field(default_factory=dict)
    logprobs: dict[str, list[Any]] | None = None
    finish_reason: str | None = None

    def feed(self, choice: dict[str, Any]) -> None:
        delta = choice.get("delta")
        if delta:
            text = delta.get("content")
            if len(delta) == 1 and isinstance(text, str):
                # Nearly every chunk of a stream: one piece of text, nothing else.
                if self.content is None:
                    self.content = [text]
                else:
                    self.content.append(text)
            else:
                self._feed_delta(delta)
        logprobs = choice.get("logprobs")
        if logprobs is not None and isinstance(logprobs, dict):
            self._feed_logprobs(logprobs)
        finish_reason = choice.get("finish_reason")
        if finish_reason:
            self.finish_reason = finish_reason

    def _feed_delta(self, delta: dict[str, Any]) -> None:
        if delta.get("role"):
            self.role = delta["role"]
        if isinstance(delta.get("content"), str):
            self.content = self.content or []
            self.content.append(delta["content"])
        if isinstance(delta.get("refusal"), str):
            self.refusal = self.refusal or []
            self.refusal.append(delta["refusal"])
        for fragment in delta.get("tool_calls") or ():
            self._feed_tool_call(fragment)

    def _feed_logprobs(self, logprobs: dict[str, Any]) -> None:
        self.logprobs = self.logprobs or {}
        for kind, items in logprobs.items():
            if isinstance(items, list):
                self.logprobs.setdefault(kind, []).extend(items)

    def _feed_tool_call(self, fragment: dict[str, Any]) -> None:
        index = int(fragment.get("index") or 0)
        call = self.tool_calls.get(index)
        if call is None:
            call = self.tool_calls[index] = _ToolCallParts()
        if fragment.get("id"):
            call.id = fragment["id"]
        if fragment.get("type"):
            call.type = fragment["type"]
        function = fragment.get("function") or {}
        if function.get("name"):
            call.name += function["name"]
        if function.get("arguments"):
            call.arguments.append(function["arguments"])

    def build(self, index: int) -> dict[str, Any]:
        content = "".join(self.content) if self.content is not None else None
        if not content and self.tool_calls:
            content = None  # a tool-calling answer has no text, as in OpenAI's JSON
        message: dict[str, Any] = {"role": self.role, "content": content}
        if self.refusal is not None:
            message["refusal"] = "".join(self.refusal)
        if self.tool_calls:
            message["tool_calls"] = [self.tool_calls[i].build() for i in sorted(self.tool_calls)]
        return {
            "index": index,
            "message": message,
            "logprobs": self.logprobs,
            "finish_reason": self.finish_reason,
        }


def assemble_chunks(chunks: Iterable[ChatChunk]) -> ChatResponse:
    """The ``chat.completion`` a stream of chunks adds up to.

    Identity fields (id, created, model, system fingerprint) come from the first
    chunk that has them; usage from the last chunk that carries one.

    A response cache assembles every stream it stores, so the loop does per chunk
    only what a chunk can change: header fields are looked for until found, and a
    delta of text alone takes the shortest path (``_ChoiceParts.feed``).
    """
    header: dict[str, Any] = {}
    wanted: tuple[str, ...] = _HEADER_FIELDS  # the header fields no chunk has had yet
    choices: dict[int, _ChoiceParts] = {}
    usage: dict[str, Any] | None = None
    for chunk in chunks:
        if wanted:
            found = False
            for name in wanted:
                value = chunk.get(name)
                if value is not None:
                    header[name], found = value, True
            if found:
                wanted = tuple(name for name in wanted if name not in header)
        for choice in chunk.get("choices") or ():
            index = int(choice.get("index") or 0)
            parts = choices.get(index)
            if parts is None:
                parts = choices[index] = _ChoiceParts()
            parts.feed(choice)
        if chunk.get("usage"):
            usage = chunk["usage"]
    response: ChatResponse = {
        "id": header.get("id", ""),
        "object": "chat.completion",
        "created": header.get("created", 0),
        "model": header.get("model", ""),
        "choices": [choices[i].build(i) for i in sorted(choices)],
    }
    for name in ("system_fingerprint", "service_tier"):
        if name in header:
            response[name] = header[name]
    if usage is not None:
        response["usage"] = usage
    return response


def is_complete(response: ChatResponse) -> bool:
    """True when the answer has choices and every one of them says why it finished:
    a stream cut before its finish chunk is not a whole answer."""
    choices = response.get("choices")
    return (
        isinstance(choices, list) and bool(choices) and all(c.get("finish_reason") for c in choices)
    )


def _pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _choice_chunks(choice: dict[str, Any], base: dict[str, Any]) -> list[ChatChunk]:
    index = choice.get("index", 0)
    message = choice.get("message") or {}

    def chunk(delta: dict[str, Any], finish: str | None = None, logprobs: Any = None) -> ChatChunk:
        entry = {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}
        return {**base, "choices": [entry]}

    content = message.get("content")
    first = "" if isinstance(content, str) else None  # OpenAI: null when there is no text
    out = [chunk({"role": message.get("role") or "assistant", "content": first})]
    logprobs = choice.get("logprobs")
    if isinstance(content, str) and content:
        pieces = _pieces(content, REPLAY_PIECE_CHARS)
        out.extend(
            chunk({"content": piece}, logprobs=logprobs if i == 0 else None)
            for i, piece in enumerate(pieces)
        )
        logprobs = None
    if message.get("refusal"):
        out.append(chunk({"refusal": message["refusal"]}))
    for position, call in enumerate(message.get("tool_calls") or ()):
        function = call.get("function") or {}
        head = {
            "index": position,
            "id": call.get("id"),
            "type": call.get("type", "function"),
            "function": {"name": function.get("name", ""), "arguments": ""},
        }
        out.append(chunk({"tool_calls": [head]}))
        arguments = function.get("arguments") or ""
        if arguments:
            out.extend(
                chunk({"tool_calls": [{"index": position, "function": {"arguments": piece}}]})
                for piece in _pieces(arguments, _ARGUMENT_PIECE_CHARS)
            )
    out.append(chunk({}, choice.get("finish_reason") or "stop", logprobs))
    return out


def replay_response(response: ChatResponse, *, include_usage: bool) -> list[ChatChunk]:
    """The chunks that stream ``response``: per choice a role chunk, its content,
    refusal and tool calls, and a finish chunk; then, if asked, one usage chunk
    with no choices. ``[DONE]`` is the caller's to send."""
    base: dict[str, Any] = {
        "id": response.get("id", ""),
        "object": "chat.completion.chunk",
        "created": response.get("created", 0),
        "model": response.get("model", ""),
    }
    for name in ("system_fingerprint", "service_tier"):
        if response.get(name) is not None:
            base[name] = response[name]
    chunks: list[ChatChunk] = []
    for choice in response.get("choices") or ():
        chunks.extend(_choice_chunks(choice, base))
    if include_usage and response.get("usage"):
        chunks.append({**base, "choices": [], "usage": response["usage"]})
    return chunks

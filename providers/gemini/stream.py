"""Gemini ``streamGenerateContent?alt=sse`` → OpenAI ``chat.completion.chunk`` dicts.

Every SSE ``data:`` is a whole ``GenerateContentResponse``. Per candidate (one
OpenAI choice each): the first chunk carries the role; text parts become
``delta.content``; a ``functionCall`` part arrives complete and becomes one
tool-call delta (index, id, name and all the arguments) with indexes counted
per choice; the ``finishReason`` gives the finish chunk. ``usageMetadata`` (the
last one wins) becomes the usage chunk when the stream closes. A stream that
closes before every started choice has finished was cut short.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from providers.decoding import EventDecoder
from providers.replies import ChunkMaker
from providers.sse import SSEParser
from providers.types import ChatChunk

from .errors import stream_error
from .response import blocked_prompt, candidate_parts, finish_reason, usage_from

__all__ = ["GeminiStreamDecoder"]


@dataclass(slots=True)
class _Choice:
    calls: int = 0
    finished: bool = False


class GeminiStreamDecoder(EventDecoder):
    def __init__(self, provider: str, model: str) -> None:
        super().__init__(provider)
        self._parser = SSEParser()
        self._chunks = ChunkMaker(model=model)
        self._choices: dict[int, _Choice] = {}
        self._usage: dict[str, Any] = {}

    @property
    def done(self) -> bool:
        return bool(self._choices) and all(c.finished for c in self._choices.values())

    def feed(self, data: bytes) -> list[ChatChunk]:
        return self._relay(self._json_objects(self._parser.feed(data)), self._response)

    def close(self) -> list[ChatChunk]:
        chunks = self._relay(self._json_objects(self._parser.close()), self._response)
        if not self.done:
            raise self._ended_early()
        chunks.append(self._chunks.usage(usage_from(self._usage)))
        return chunks

    def _response(self, data: dict[str, Any]) -> list[ChatChunk]:
        if "error" in data:
            raise stream_error(self._provider, data)
        blocked = blocked_prompt(self._provider, data)
        if blocked is not None:
            raise blocked
        if data.get("responseId") and self._chunks.id == "chatcmpl-arbiter":
            self._chunks.id = str(data["responseId"])
        self._chunks.model = str(data.get("modelVersion") or self._chunks.model)
        if isinstance(data.get("usageMetadata"), dict):
            self._usage = data["usageMetadata"]
        chunks: list[ChatChunk] = []
        for candidate in data.get("candidates") or ():
            chunks.extend(self._candidate(candidate))
        return chunks

    def _candidate(self, candidate: dict[str, Any]) -> list[ChatChunk]:
        index = int(candidate.get("index") or 0)
        chunks: list[ChatChunk] = []
        choice = self._choices.get(index)
        if choice is None:
            choice = self._choices[index] = _Choice()
            chunks.append(self._chunks.delta({"role": "assistant", "content": ""}, index=index))
        texts, calls = candidate_parts(candidate, choice.calls)
        for text in texts:
            if text:
                chunks.append(self._chunks.delta({"content": text}, index=index))
        for call in calls:
            call["index"] = choice.calls
            choice.calls += 1
            chunks.append(self._chunks.delta({"tool_calls": [call]}, index=index))
        if candidate.get("finishReason"):
            choice.finished = True
            finish = finish_reason(candidate["finishReason"], choice.calls > 0)
            chunks.append(self._chunks.delta({}, finish, index=index))
        return chunks

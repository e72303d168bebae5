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

import orjson

from providers.completions import ChunkMaker
from providers.errors import GatewayError, UpstreamUnavailableError
from providers.sse import SSEEvent, SSEParser
from providers.types import ChatChunk

from .errors import stream_error
from .response import blocked_prompt, candidate_parts, finish_reason, usage_from

__all__ = ["GeminiStreamDecoder"]


@dataclass(slots=True)
class _Choice:
    calls: int = 0
    finished: bool = False


class GeminiStreamDecoder:
    def __init__(self, provider: str, model: str) -> None:
        self._parser = SSEParser()
        self._provider = provider
        self._chunks = ChunkMaker(model=model)
        self._choices: dict[int, _Choice] = {}
        self._usage: dict[str, Any] = {}
        self._error: GatewayError | None = None

    @property
    def done(self) -> bool:
        return bool(self._choices) and all(c.finished for c in self._choices.values())

    def feed(self, data: bytes) -> list[ChatChunk]:
        return self._decode(self._parser.feed(data))

    def _raise_pending(self) -> None:
        """An error event that followed chunks in the same read is raised on the next
        call, so the chunks before it still reach the caller."""
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def close(self) -> list[ChatChunk]:
        chunks = self._decode(self._parser.close())
        if not self.done:
            raise UpstreamUnavailableError(
                f"{self._provider} ended the stream early", provider=self._provider
            )
        chunks.append(self._chunks.usage(usage_from(self._usage)))
        return chunks

    def _decode(self, events: list[SSEEvent]) -> list[ChatChunk]:
        self._raise_pending()
        chunks: list[ChatChunk] = []
        for event in events:
            try:
                payload = orjson.loads(event.data)
            except orjson.JSONDecodeError:
                raise UpstreamUnavailableError(
                    f"{self._provider} sent a malformed stream event",
                    provider=self._provider,
                    debug=event.data,
                ) from None
            if not isinstance(payload, dict):
                continue
            try:
                chunks.extend(self._response(payload))
            except GatewayError as exc:
                if not chunks:
                    raise
                self._error = exc
                break
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

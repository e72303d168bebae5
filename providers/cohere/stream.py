"""Cohere v2 stream events → OpenAI chunks, and the tables both directions share.

Event by event: ``content-delta`` text is content; ``tool-plan-delta`` is content
too (the plan the model states before calling tools, as in the JSON answer);
``tool-call-start`` opens a tool call at a stable OpenAI index and
``tool-call-delta`` adds argument fragments to it; ``message-end`` gives the
finish reason and usage. A stream that stops before ``message-end`` is an
upstream failure.
"""

from __future__ import annotations

from typing import Any

from providers.decoding import EventDecoder
from providers.errors import UpstreamTimeoutError, UpstreamUnavailableError
from providers.replies import ChunkWriter, make_usage
from providers.sse import SSEParser
from providers.types import ChatChunk, Usage

__all__ = ["FINISH_REASONS", "CohereStreamDecoder", "finish_reason", "openai_usage"]

FINISH_REASONS = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
    "ERROR_TOXIC": "content_filter",  # v1 name, still documented for some models
    "ERROR_LIMIT": "length",
}


def finish_reason(reason: Any, provider: str) -> str:
    if reason == "ERROR":
        raise UpstreamUnavailableError(f"{provider} failed while generating", provider=provider)
    if reason == "TIMEOUT":
        raise UpstreamTimeoutError(f"{provider} timed out while generating", provider=provider)
    return FINISH_REASONS.get(str(reason), "stop")


def openai_usage(usage: Any) -> Usage | None:
    """Token counts (``tokens``, else ``billed_units``) as OpenAI usage."""
    if not isinstance(usage, dict):
        return None
    counts = usage.get("tokens") or usage.get("billed_units") or {}
    cached = usage.get("cached_tokens")
    return make_usage(
        counts.get("input_tokens"),
        counts.get("output_tokens"),
        cached=int(cached) if cached is not None else None,
    )


def _message_delta(event: dict[str, Any]) -> dict[str, Any]:
    delta = event.get("delta") or {}
    message = delta.get("message") if isinstance(delta, dict) else None
    return message if isinstance(message, dict) else {}


class CohereStreamDecoder(EventDecoder):
    def __init__(self, model: str, provider: str) -> None:
        super().__init__(provider)
        self._parser = SSEParser()
        self._writer = ChunkWriter(model)
        self._ended = False

    def feed(self, data: bytes) -> list[ChatChunk]:
        self._raise_pending()  # before the parser takes in more
        return self._relay(self._parser.feed(data), lambda event: self._event(event.data))

    def close(self) -> list[ChatChunk]:
        self._raise_pending()
        chunks: list[ChatChunk] = []
        for event in self._parser.close():
            chunks.extend(self._event(event.data))
        if not self._ended:
            raise self._ended_early()
        return chunks

    def _event(self, data: str) -> list[ChatChunk]:
        if not data or data == "[DONE]":
            return []
        event = self._loads(data)
        if not isinstance(event, dict):
            return []
        kind = event.get("type")
        writer = self._writer
        message = _message_delta(event)
        if kind == "message-start":
            if event.get("id"):
                writer.set_id(str(event["id"]))
            return writer.start()
        if kind == "content-delta":
            content = message.get("content") or {}
            return writer.content(content.get("text") or "")
        if kind == "tool-plan-delta":
            return writer.content(message.get("tool_plan") or "")
        if kind == "tool-call-start":
            call = message.get("tool_calls") or {}
            function = call.get("function") or {}
            return writer.tool_start(
                event.get("index", 0),
                str(call.get("id") or ""),
                str(function.get("name") or ""),
                function.get("arguments") or "",
            )
        if kind == "tool-call-delta":
            call = message.get("tool_calls") or {}
            fragment = (call.get("function") or {}).get("arguments") or ""
            return writer.tool_arguments(event.get("index", 0), fragment)
        if kind == "message-end":
            return self._end(event.get("delta") or {})
        if kind is None and "message" in event:
            raise UpstreamUnavailableError(
                f"{self._provider} reported an error mid-stream",
                provider=self._provider,
                debug=data,
            )
        return []  # content-start/end, tool-call-end, citations: nothing to relay

    def _end(self, delta: dict[str, Any]) -> list[ChatChunk]:
        self._ended = True
        writer = self._writer
        chunks = writer.start()
        chunks += writer.finish(finish_reason(delta.get("finish_reason"), self._provider))
        usage = openai_usage(delta.get("usage"))
        if usage is not None:
            chunks += writer.usage(usage)
        return chunks

"""ConverseStream events → OpenAI chunks, and the tables shared with JSON answers.

``contentBlockStart`` with ``toolUse`` opens a tool call at a stable OpenAI
index (the block index is the key); ``contentBlockDelta`` carries text or
argument fragments; ``messageStop`` gives the finish reason and ``metadata`` the
usage. An exception event is mapped into the taxonomy and raised.
"""

from __future__ import annotations

from typing import Any

import orjson

from providers.bedrock.eventstream import EventMessage, EventStreamDecoder
from providers.errors import GatewayError, UpstreamUnavailableError
from providers.replies import ChunkWriter, make_usage
from providers.types import ChatChunk, Usage

__all__ = ["STOP_REASONS", "ConverseStreamDecoder", "finish_reason", "openai_usage"]

STOP_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}
_MALFORMED = frozenset({"malformed_model_output", "malformed_tool_use"})


def finish_reason(reason: Any, provider: str) -> str:
    if reason in _MALFORMED:
        raise UpstreamUnavailableError(
            f"{provider}: the model produced malformed output ({reason})", provider=provider
        )
    return STOP_REASONS.get(str(reason), "stop")


def openai_usage(usage: Any) -> Usage | None:
    """Bedrock counts cache reads and writes apart from ``inputTokens``; OpenAI's
    ``prompt_tokens`` includes them, with reads as ``cached_tokens``."""
    if not isinstance(usage, dict):
        return None
    read = int(usage.get("cacheReadInputTokens") or 0)
    written = int(usage.get("cacheWriteInputTokens") or 0)
    prompt = int(usage.get("inputTokens") or 0) + read + written
    cached = read if "cacheReadInputTokens" in usage else None
    return make_usage(prompt, usage.get("outputTokens"), cached=cached)


class ConverseStreamDecoder:
    def __init__(self, model: str, provider: str, map_exception: Any) -> None:
        self._frames = EventStreamDecoder(provider)
        self._writer = ChunkWriter(model)
        self._provider = provider
        self._map_exception = map_exception  # (type, message bytes) -> GatewayError
        self._stopped = False
        self._pending: GatewayError | None = None

    def feed(self, data: bytes) -> list[ChatChunk]:
        self._raise_pending()
        chunks: list[ChatChunk] = []
        for message in self._frames.feed(data):
            try:
                chunks.extend(self._message(message))
            except GatewayError as exc:
                if not chunks:
                    raise
                self._pending = exc  # deliver what came before it first
                break
        return chunks

    def _raise_pending(self) -> None:
        if self._pending is not None:
            error, self._pending = self._pending, None
            raise error

    def close(self) -> list[ChatChunk]:
        self._raise_pending()
        self._frames.close()
        if not self._stopped:
            raise UpstreamUnavailableError(
                f"{self._provider} ended the stream early", provider=self._provider
            )
        return []

    def _message(self, message: EventMessage) -> list[ChatChunk]:
        if message.message_type in ("exception", "error"):
            kind = message.event_type or str(message.headers.get(":error-code") or "")
            error: GatewayError = self._map_exception(kind, message.payload)
            raise error
        try:
            payload = orjson.loads(message.payload or b"{}")
        except orjson.JSONDecodeError:
            raise UpstreamUnavailableError(
                f"{self._provider} sent a malformed stream event",
                provider=self._provider,
                debug=message.payload,
            ) from None
        return self._event(message.event_type, payload if isinstance(payload, dict) else {})

    def _event(self, kind: str, payload: dict[str, Any]) -> list[ChatChunk]:
        writer = self._writer
        index = payload.get("contentBlockIndex", 0)
        if kind == "messageStart":
            return writer.start()
        if kind == "contentBlockStart":
            tool = (payload.get("start") or {}).get("toolUse")
            if isinstance(tool, dict):
                return writer.tool_start(index, str(tool.get("toolUseId")), str(tool.get("name")))
            return []
        if kind == "contentBlockDelta":
            delta = payload.get("delta") or {}
            if "text" in delta:
                return writer.content(str(delta["text"]))
            tool = delta.get("toolUse")
            if isinstance(tool, dict) and writer.has_tool(index):
                return writer.tool_arguments(index, str(tool.get("input") or ""))
            return []  # reasoning, citations: no OpenAI place
        if kind == "messageStop":
            self._stopped = True
            return writer.start() + writer.finish(
                finish_reason(payload.get("stopReason"), self._provider)
            )
        if kind == "metadata":
            usage = openai_usage(payload.get("usage"))
            return writer.usage(usage) if usage else []
        return []

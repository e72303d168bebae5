"""ConverseStream events → OpenAI chunks, and the tables shared with JSON answers.

``contentBlockStart`` with ``toolUse`` opens a tool call at a stable OpenAI
index (the block index is the key); ``contentBlockDelta`` carries text or
argument fragments; ``messageStop`` gives the finish reason and ``metadata`` the
usage. An exception event is mapped into the taxonomy and raised.
"""

from __future__ import annotations

from typing import Any

from providers.bedrock.eventstream import EventMessage, EventStreamDecoder
from providers.decoding import EventDecoder
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


class ConverseStreamDecoder(EventDecoder):
    def __init__(self, model: str, provider: str, map_exception: Any) -> None:
        super().__init__(provider)
        self._frames = EventStreamDecoder(provider)
        self._writer = ChunkWriter(model)
        self._map_exception = map_exception  # (type, message bytes) -> GatewayError
        self._stopped = False

    def feed(self, data: bytes) -> list[ChatChunk]:
        self._raise_pending()  # before the frame decoder takes in more
        return self._relay(self._frames.feed(data), self._message)

    def close(self) -> list[ChatChunk]:
        self._raise_pending()
        self._frames.close()
        if not self._stopped:
            raise self._ended_early()
        return []

    def _message(self, message: EventMessage) -> list[ChatChunk]:
        if message.message_type in ("exception", "error"):
            kind = message.event_type or str(message.headers.get(":error-code") or "")
            error: GatewayError = self._map_exception(kind, message.payload)
            raise error
        payload = self._loads(message.payload or b"{}")
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

"""Anthropic streaming events → OpenAI ``chat.completion.chunk`` dicts.

Event by event:
- ``message_start``: the first chunk, ``{"role": "assistant", "content": ""}``;
  input usage is remembered;
- ``content_block_start`` of a ``tool_use`` block: a tool-call head (index, id,
  name, empty arguments). OpenAI indexes count tool blocks only, so text or
  thinking blocks in between do not shift them;
- ``content_block_delta``: ``text_delta`` → ``delta.content``;
  ``input_json_delta`` → ``delta.tool_calls[i].function.arguments`` fragments;
  ``thinking_delta``, ``signature_delta`` and ``citations_delta`` are dropped;
- ``content_block_stop`` of a tool that streamed no arguments: ``"{}"``, so the
  reassembled arguments are always valid JSON;
- ``message_delta``: stop reason and (cumulative) usage are remembered;
- ``message_stop``: the finish chunk, then a usage chunk (``choices: []``);
- ``ping`` is ignored; ``error`` raises the taxonomy error it names.

The forced tool that carries ``response_format`` streams its JSON as content.
"""

from __future__ import annotations

from typing import Any

from providers.decoding import EventDecoder
from providers.replies import ChunkMaker
from providers.sse import SSEParser
from providers.types import ChatChunk

from .errors import stream_error
from .response import finish_reason, usage_from

__all__ = ["AnthropicStreamDecoder"]


class AnthropicStreamDecoder(EventDecoder):
    def __init__(self, provider: str, model: str, json_tool: str | None) -> None:
        super().__init__(provider)
        self._parser = SSEParser()
        self._json_tool = json_tool
        self._chunks = ChunkMaker(model=model)
        self._tools: dict[int, int] = {}  # Anthropic block index -> OpenAI tool index
        self._json_blocks: set[int] = set()
        self._streamed_args: set[int] = set()
        self._usage: dict[str, Any] = {}
        self._stop_reason: str | None = None
        self.done = False

    def feed(self, data: bytes) -> list[ChatChunk]:
        return self._relay(self._json_objects(self._parser.feed(data)), self._event)

    def close(self) -> list[ChatChunk]:
        chunks = self._relay(self._json_objects(self._parser.close()), self._event)
        if not self.done:
            raise self._ended_early()
        return chunks

    def _event(self, event: dict[str, Any]) -> list[ChatChunk]:
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            self._chunks.id = message.get("id") or self._chunks.id
            self._chunks.model = message.get("model") or self._chunks.model
            self._usage.update(message.get("usage") or {})
            return [self._chunks.delta({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            return self._block_start(event.get("index", 0), event.get("content_block") or {})
        if kind == "content_block_delta":
            return self._block_delta(event.get("index", 0), event.get("delta") or {})
        if kind == "content_block_stop":
            return self._block_stop(event.get("index", 0))
        if kind == "message_delta":
            self._stop_reason = (event.get("delta") or {}).get("stop_reason") or self._stop_reason
            usage = event.get("usage") or {}
            self._usage.update({k: v for k, v in usage.items() if v is not None})
            return []
        if kind == "message_stop":
            self.done = True
            finish = finish_reason(self._stop_reason, bool(self._tools))
            return [self._chunks.delta({}, finish), self._chunks.usage(usage_from(self._usage))]
        if kind == "error":
            raise stream_error(self._provider, event)
        return []  # ping, and event types added after this was written

    def _block_start(self, index: int, block: dict[str, Any]) -> list[ChatChunk]:
        if block.get("type") == "text" and block.get("text"):
            return [self._chunks.delta({"content": block["text"]})]
        if block.get("type") != "tool_use":
            return []
        if block.get("name") == self._json_tool:
            self._json_blocks.add(index)
            return []
        position = len(self._tools)
        self._tools[index] = position
        head = {
            "index": position,
            "id": block.get("id", ""),
            "type": "function",
            "function": {"name": block.get("name", ""), "arguments": ""},
        }
        return [self._chunks.delta({"tool_calls": [head]})]

    def _block_delta(self, index: int, delta: dict[str, Any]) -> list[ChatChunk]:
        kind = delta.get("type")
        if kind == "text_delta" and delta.get("text"):
            return [self._chunks.delta({"content": delta["text"]})]
        if kind != "input_json_delta" or not delta.get("partial_json"):
            return []
        fragment = delta["partial_json"]
        self._streamed_args.add(index)
        if index in self._json_blocks:
            return [self._chunks.delta({"content": fragment})]
        if index not in self._tools:
            return []
        piece = {"index": self._tools[index], "function": {"arguments": fragment}}
        return [self._chunks.delta({"tool_calls": [piece]})]

    def _block_stop(self, index: int) -> list[ChatChunk]:
        if index in self._streamed_args:
            return []
        if index in self._json_blocks:
            return [self._chunks.delta({"content": "{}"})]
        if index in self._tools:
            piece = {"index": self._tools[index], "function": {"arguments": "{}"}}
            return [self._chunks.delta({"tool_calls": [piece]})]
        return []

"""Anthropic ``message`` response → OpenAI ``chat.completion``.

Text blocks are joined into ``content``; ``tool_use`` blocks become
``tool_calls`` (id kept, ``input`` serialised to ``arguments``); thinking and
server-tool blocks are not part of an OpenAI answer and are dropped. The forced
``response_format`` tool's input becomes the content, as JSON text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from providers.errors import UpstreamUnavailableError
from providers.replies import arguments_text, completion, make_usage, tool_call
from providers.types import ChatResponse, Usage

__all__ = ["FINISH_REASONS", "finish_reason", "parse_message", "usage_from"]

# Anthropic stop_reason -> OpenAI finish_reason.
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",  # a server-tool loop paused; Arbiter defines no server tools
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def finish_reason(stop_reason: str | None, has_tool_calls: bool) -> str:
    finish = FINISH_REASONS.get(stop_reason or "", "stop")
    if finish == "tool_calls" and not has_tool_calls:
        return "stop"  # only the response_format tool was called
    return finish


def usage_from(usage: Mapping[str, Any]) -> Usage:
    """Prompt tokens include cache reads and writes, as OpenAI's prompt_tokens do."""
    read = int(usage.get("cache_read_input_tokens") or 0)
    written = int(usage.get("cache_creation_input_tokens") or 0)
    prompt = int(usage.get("input_tokens") or 0) + read + written
    return make_usage(prompt, int(usage.get("output_tokens") or 0), cached=read)


def parse_message(body: bytes, provider: str, model: str, json_tool: str | None) -> ChatResponse:
    data = orjson.loads(body)
    if not isinstance(data, dict) or not isinstance(data.get("content"), list):
        raise UpstreamUnavailableError(f"{provider} sent a malformed response", debug=body)
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in data["content"]:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(str(block.get("text", "")))
        elif kind == "tool_use" and block.get("name") == json_tool:
            texts.append(orjson.dumps(block.get("input") or {}).decode())
        elif kind == "tool_use":
            input_text = arguments_text(block.get("input") or {})
            calls.append(tool_call(str(block["id"]), str(block["name"]), input_text))
    finish = finish_reason(data.get("stop_reason"), bool(calls))
    return completion(
        str(data.get("model") or model),
        [("".join(texts), calls, finish)],
        usage_from(data.get("usage") or {}),
        completion_id=str(data.get("id") or "chatcmpl-arbiter"),
    )

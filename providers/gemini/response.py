"""Gemini ``GenerateContentResponse`` → OpenAI ``chat.completion``.

Each candidate becomes a choice: its text parts (thought summaries skipped) are
joined into ``content``, its ``functionCall`` parts become ``tool_calls`` with ids
from ``call_ids.py``. A prompt blocked by ``promptFeedback.blockReason`` (no
candidates) raises ``ContentFilteredError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from providers.errors import ContentFilteredError, UpstreamUnavailableError
from providers.replies import arguments_text, completion, make_usage, tool_call
from providers.types import ChatResponse, Usage

from .call_ids import make_call_id

__all__ = [
    "FINISH_REASONS",
    "blocked_prompt",
    "candidate_parts",
    "finish_reason",
    "parse_generate_response",
    "usage_from",
]

# Gemini finishReason -> OpenAI finish_reason; anything not listed (OTHER,
# LANGUAGE, MALFORMED_FUNCTION_CALL, ...) ends the choice as "stop".
FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
}


def finish_reason(reason: str | None, has_tool_calls: bool) -> str:
    finish = FINISH_REASONS.get(reason or "", "stop")
    return "tool_calls" if finish == "stop" and has_tool_calls else finish


def usage_from(meta: Mapping[str, Any]) -> Usage:
    """Prompt counts tool-use prompt tokens too; completion counts thinking tokens,
    which Gemini bills as output (also reported as reasoning_tokens)."""
    prompt = int(meta.get("promptTokenCount") or 0) + int(meta.get("toolUsePromptTokenCount") or 0)
    thoughts = int(meta.get("thoughtsTokenCount") or 0)
    output = int(meta.get("candidatesTokenCount") or 0) + thoughts
    usage = make_usage(
        prompt,
        output,
        cached=int(meta.get("cachedContentTokenCount") or 0),
        reasoning=thoughts or None,
    )
    if meta.get("totalTokenCount"):
        usage["total_tokens"] = int(meta["totalTokenCount"])
    return usage


def blocked_prompt(provider: str, data: Mapping[str, Any]) -> ContentFilteredError | None:
    reason = (data.get("promptFeedback") or {}).get("blockReason")
    if data.get("candidates") or not reason:
        return None
    return ContentFilteredError(
        f"{provider} blocked the prompt ({reason})", provider=provider, debug=orjson.dumps(data)
    )


def candidate_parts(
    candidate: Mapping[str, Any], position: int = 0
) -> tuple[list[str], list[dict[str, Any]]]:
    """(texts, OpenAI tool calls) of a candidate; ``position`` counts earlier calls
    of the same candidate (streams deliver them over several chunks)."""
    index = int(candidate.get("index") or 0)
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in (candidate.get("content") or {}).get("parts") or ():
        if part.get("thought"):
            continue
        if isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif isinstance(part.get("functionCall"), dict):
            call = part["functionCall"]
            call_id = make_call_id(call, index, position, part.get("thoughtSignature"))
            args = arguments_text(call.get("args") or {})
            calls.append(tool_call(call_id, str(call.get("name", "")), args))
            position += 1
    return texts, calls


def parse_generate_response(body: bytes, provider: str, model: str) -> ChatResponse:
    data = orjson.loads(body)
    if not isinstance(data, dict):
        raise UpstreamUnavailableError(f"{provider} sent a malformed response", debug=body)
    blocked = blocked_prompt(provider, data)
    if blocked is not None:
        raise blocked
    candidates = data.get("candidates")
    if not isinstance(candidates, list) or not candidates:
        raise UpstreamUnavailableError(f"{provider} sent no candidates", debug=body)
    choices = []
    for candidate in sorted(candidates, key=lambda c: int(c.get("index") or 0)):
        texts, calls = candidate_parts(candidate)
        finish = finish_reason(candidate.get("finishReason"), bool(calls))
        choices.append(("".join(texts), calls, finish))
    return completion(
        str(data.get("modelVersion") or model),
        choices,
        usage_from(data.get("usageMetadata") or {}),
        completion_id=str(data.get("responseId") or "chatcmpl-arbiter"),
    )

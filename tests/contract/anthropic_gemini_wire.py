"""Conformance-kit pieces for the Anthropic and Gemini wire formats.

``tests/contract/kits.py`` builds a ``Kit`` from four functions per wire format:
a canned JSON answer and stream (text, or tool calls as (id, name, arguments JSON
text)), and the tool calls and tool-result ids found in an upstream request body.
These are those functions; the streams come from the fake servers, so they are
the documented event sequences.
"""

from __future__ import annotations

import json
from typing import Any

from tests.fakes import anthropic_server, gemini_server

__all__ = [
    "anthropic_reply",
    "anthropic_sent_calls",
    "anthropic_sent_results",
    "anthropic_stream",
    "gemini_reply",
    "gemini_sent_calls",
    "gemini_sent_results",
    "gemini_stream",
]

Calls = list[tuple[str, str, str]]
PROMPT, COMPLETION = 11, 7  # tests/contract/kits.py USAGE


def anthropic_reply(text: str, calls: Calls) -> dict[str, Any]:
    content: list[dict[str, Any]] = [
        {"type": "tool_use", "id": i, "name": n, "input": json.loads(a)} for i, n, a in calls
    ] or [{"type": "text", "text": text}]
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "model-1",
        "content": content,
        "stop_reason": "tool_use" if calls else "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": PROMPT, "output_tokens": COMPLETION},
    }


def anthropic_stream(text: str, calls: Calls) -> bytes:
    message = anthropic_reply(text, calls)
    return anthropic_server.sse(anthropic_server.stream_events({"model": "model-1"}, message))


def _anthropic_blocks(body: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [
        block
        for message in body["messages"]
        if isinstance(message["content"], list)
        for block in message["content"]
        if block["type"] == kind
    ]


def anthropic_sent_calls(body: dict[str, Any]) -> Calls:
    return [
        (b["id"], b["name"], json.dumps(b["input"])) for b in _anthropic_blocks(body, "tool_use")
    ]


def anthropic_sent_results(body: dict[str, Any]) -> list[str]:
    return [b["tool_use_id"] for b in _anthropic_blocks(body, "tool_result")]


def gemini_reply(text: str, calls: Calls) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [
        {"functionCall": {"id": i, "name": n, "args": json.loads(a)}} for i, n, a in calls
    ] or [{"text": text}]
    return {
        "candidates": [
            {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": {
            "promptTokenCount": PROMPT,
            "candidatesTokenCount": COMPLETION,
            "totalTokenCount": PROMPT + COMPLETION,
        },
        "modelVersion": "model-1",
        "responseId": "resp-1",
    }


def gemini_stream(text: str, calls: Calls) -> bytes:
    chunks = gemini_server.stream_chunks(gemini_reply(text, calls), "model-1")
    return b"".join(b"data: " + json.dumps(c).encode() + b"\r\n\r\n" for c in chunks)


def _gemini_parts(body: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [part[kind] for content in body["contents"] for part in content["parts"] if kind in part]


def gemini_sent_calls(body: dict[str, Any]) -> Calls:
    return [
        (c.get("id", ""), c["name"], json.dumps(c["args"]))
        for c in _gemini_parts(body, "functionCall")
    ]


def gemini_sent_results(body: dict[str, Any]) -> list[str]:
    return [r.get("id", "") for r in _gemini_parts(body, "functionResponse")]

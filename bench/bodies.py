"""The fixed payloads of the benchmark: request bodies wrk posts and the answers
the fake upstream (nginx) returns. Deterministic, so every run sends the same bytes."""

from __future__ import annotations

import json

__all__ = [
    "COUNTER",
    "STREAM_CHUNKS",
    "completion",
    "large_request",
    "small_request",
    "stream_events",
]

# wrk replaces this marker with a per-request counter, so that no request is a
# cache hit unless a scenario asks for hits (it then sends the body as is).
COUNTER = "@N@"
STREAM_CHUNKS = 20

_SYSTEM = "You are a concise assistant. Answer in plain English, no lists."
_QUESTION = "Summarise the plot of Hamlet in two sentences, then name its author."
_PARAGRAPH = (
    "The quarterly report covers revenue, churn, hiring and the roadmap for the next "
    "two releases; each section lists what changed since the last review, the owners, "
    "the risks they see and the dates they commit to. "
)


def small_request(model: str = "bench", *, stream: bool = False) -> dict:
    """About 300 bytes: a system prompt, one question, common sampling fields."""
    body = {
        "model": model,
        "messages": [
            {"role": "system", "content": _SYSTEM},
            {"role": "user", "content": f"{_QUESTION} (request {COUNTER})"},
        ],
        "temperature": 0.2,
        "max_tokens": 256,
        "user": "bench-user-0001",
    }
    if stream:
        body["stream"] = True
    return body


def large_request(model: str = "bench", size: int = 50_000) -> dict:
    """About ``size`` bytes: a long conversation, as an agent or RAG client sends."""
    messages = [{"role": "system", "content": _SYSTEM}]
    turn = 0
    while len(json.dumps(messages)) < size - 600:
        turn += 1
        messages.append({"role": "user", "content": f"Part {turn}: " + _PARAGRAPH * 6})
        messages.append({"role": "assistant", "content": f"Noted part {turn}."})
    messages.append({"role": "user", "content": f"{_QUESTION} (request {COUNTER})"})
    return {"model": model, "messages": messages, "temperature": 0.2, "max_tokens": 256}


def completion() -> dict:
    """A realistic OpenAI chat completion, as the fake upstream answers every request."""
    return {
        "id": "chatcmpl-bench0000000000000000000001",
        "object": "chat.completion",
        "created": 1760000000,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_bench",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": (
                        "Prince Hamlet feigns madness to avenge his father's murder by his "
                        "uncle Claudius, and the revenge ends in the deaths of nearly the "
                        "whole court. The play was written by William Shakespeare."
                    ),
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 42,
            "completion_tokens": 44,
            "total_tokens": 86,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        },
        "service_tier": "default",
    }


def stream_events() -> list[bytes]:
    """Twenty ``data:`` events (role, 17 content deltas, finish, usage), then [DONE]."""
    base = {
        "id": "chatcmpl-bench0000000000000000000002",
        "object": "chat.completion.chunk",
        "created": 1760000000,
        "model": "gpt-4o-mini-2024-07-18",
        "system_fingerprint": "fp_bench",
    }
    words = (
        "Prince Hamlet feigns madness to avenge his father, and the revenge ends in "
        "the deaths of the court."
    ).split(" ")[:17]

    def chunk(delta: dict, finish: str | None = None) -> dict:
        return {
            **base,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            "usage": None,
        }

    chunks = [chunk({"role": "assistant", "content": "", "refusal": None})]
    chunks += [chunk({"content": w + " "}) for w in words]
    chunks.append(chunk({}, "stop"))
    chunks.append(
        {
            **base,
            "choices": [],
            "usage": {"prompt_tokens": 42, "completion_tokens": 17, "total_tokens": 59},
        }
    )
    assert len(chunks) == STREAM_CHUNKS
    events = [b"data: " + json.dumps(c, separators=(",", ":")).encode() + b"\n\n" for c in chunks]
    return [*events, b"data: [DONE]\n\n"]

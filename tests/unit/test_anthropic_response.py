"""Golden: Anthropic messages and event streams become exactly these OpenAI objects."""

from __future__ import annotations

import json

import httpx
import pytest

from providers.anthropic import AnthropicAdapter
from providers.errors import RateLimitedError, UpstreamUnavailableError
from providers.sse import encode_event
from providers.types import ChatRequest
from tests.unit.test_anthropic_request import target

PLAIN = ChatRequest.model_validate(
    {"model": "claude", "messages": [{"role": "user", "content": "x"}]}
)
JSON_MODE = ChatRequest.model_validate(
    {
        "model": "claude",
        "messages": [{"role": "user", "content": "x"}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "person", "schema": {"type": "object"}},
        },
    }
)


def parse(message: dict, request: ChatRequest = PLAIN) -> dict:
    response = httpx.Response(200, json=message)
    out = AnthropicAdapter().parse_response(response, request, target())
    assert isinstance(out.pop("created"), int)
    return out


def message(content: list, stop_reason: str = "end_turn", **usage) -> dict:
    return {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5, **usage},
    }


def test_text_answer():
    assert parse(
        message([{"type": "text", "text": "Hello "}, {"type": "text", "text": "there"}])
    ) == {
        "id": "msg_01",
        "object": "chat.completion",
        "model": "claude-sonnet-4",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello there", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 0},
        },
    }


def test_tool_use_keeps_ids_and_serialises_input():
    out = parse(
        message(
            [
                {"type": "thinking", "thinking": "hmm", "signature": "x"},
                {"type": "text", "text": "Let me look."},
                {
                    "type": "tool_use",
                    "id": "toolu_01A",
                    "name": "weather",
                    "input": {"city": "Paris", "days": [1, 2]},
                },
                {"type": "tool_use", "id": "toolu_01B", "name": "clock", "input": {}},
            ],
            stop_reason="tool_use",
        )
    )
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "Let me look."
    assert choice["message"]["tool_calls"] == [
        {
            "id": "toolu_01A",
            "type": "function",
            "function": {"name": "weather", "arguments": '{"city":"Paris","days":[1,2]}'},
        },
        {"id": "toolu_01B", "type": "function", "function": {"name": "clock", "arguments": "{}"}},
    ]


def test_only_tool_calls_means_null_content():
    out = parse(
        message([{"type": "tool_use", "id": "t", "name": "f", "input": {}}], stop_reason="tool_use")
    )
    assert out["choices"][0]["message"]["content"] is None


@pytest.mark.parametrize(
    ("stop_reason", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("refusal", "content_filter"),
        ("pause_turn", "stop"),
        (None, "stop"),
    ],
)
def test_stop_reason_table(stop_reason, finish):
    out = parse(message([{"type": "text", "text": "t"}], stop_reason=stop_reason))
    assert out["choices"][0]["finish_reason"] == finish


def test_cache_tokens_count_as_prompt_and_reads_as_cached():
    out = parse(
        message(
            [{"type": "text", "text": "t"}],
            cache_read_input_tokens=100,
            cache_creation_input_tokens=20,
        )
    )
    assert out["usage"] == {
        "prompt_tokens": 130,
        "completion_tokens": 5,
        "total_tokens": 135,
        "prompt_tokens_details": {"cached_tokens": 100},
    }


def test_the_response_format_tool_comes_back_as_content():
    out = parse(
        message(
            [{"type": "tool_use", "id": "t", "name": "person", "input": {"name": "Ada"}}],
            stop_reason="tool_use",
        ),
        JSON_MODE,
    )
    choice = out["choices"][0]
    assert json.loads(choice["message"]["content"]) == {"name": "Ada"}
    assert "tool_calls" not in choice["message"] and choice["finish_reason"] == "stop"


def test_a_malformed_body_is_an_upstream_failure():
    with pytest.raises(UpstreamUnavailableError):
        parse({"type": "message", "content": "nope"})


# Streams ------------------------------------------------------------------------------

TEXT_AND_TOOLS = [
    (
        "message_start",
        {
            "type": "message_start",
            "message": {
                **message([], None),
                "usage": {"input_tokens": 25, "output_tokens": 1, "cache_read_input_tokens": 5},
            },
        },
    ),
    (
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": ""},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "thinking_delta", "thinking": "plan"},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "signature_delta", "signature": "sig"},
        },
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    (
        "content_block_start",
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
    ),
    ("ping", {"type": "ping"}),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "text_delta", "text": "Héllo"},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 1,
            "delta": {"type": "text_delta", "text": " wörld"},
        },
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 1}),
    (
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 2,
            "content_block": {"type": "tool_use", "id": "toolu_A", "name": "weather", "input": {}},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {"type": "input_json_delta", "partial_json": ""},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {"type": "input_json_delta", "partial_json": '{"city": "Pa'},
        },
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {"type": "input_json_delta", "partial_json": 'ris"}'},
        },
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 2}),
    (
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 3,
            "content_block": {"type": "tool_use", "id": "toolu_B", "name": "clock", "input": {}},
        },
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 3}),
    (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 42},
        },
    ),
    ("message_stop", {"type": "message_stop"}),
]


def wire(events: list) -> bytes:
    return b"".join(encode_event(name, data) for name, data in events)


def decode(raw: bytes, request: ChatRequest = PLAIN, step: int | None = None) -> list[dict]:
    """Feed the bytes in pieces of ``step`` (every byte boundary when 1), then close."""
    decoder = AnthropicAdapter().new_stream_decoder(request, target())
    chunks = []
    pieces = [raw] if step is None else [raw[i : i + step] for i in range(0, len(raw), step)]
    for piece in pieces:
        chunks.extend(decoder.feed(piece))
    chunks.extend(decoder.close())
    return chunks


def deltas(chunks: list[dict]) -> list:
    return [
        (c["choices"][0]["delta"], c["choices"][0]["finish_reason"]) if c["choices"] else c["usage"]
        for c in chunks
    ]


@pytest.mark.parametrize("step", [None, 1, 7, 64])
def test_stream_with_thinking_text_and_tools(step):
    chunks = decode(wire(TEXT_AND_TOOLS), step=step)
    assert {(c["id"], c["model"], c["object"]) for c in chunks} == {
        ("msg_01", "claude-sonnet-4", "chat.completion.chunk")
    }
    assert deltas(chunks) == [
        ({"role": "assistant", "content": ""}, None),
        ({"content": "Héllo"}, None),
        ({"content": " wörld"}, None),
        (
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "toolu_A",
                        "type": "function",
                        "function": {"name": "weather", "arguments": ""},
                    }
                ]
            },
            None,
        ),
        ({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Pa'}}]}, None),
        ({"tool_calls": [{"index": 0, "function": {"arguments": 'ris"}'}}]}, None),
        (
            {
                "tool_calls": [
                    {
                        "index": 1,
                        "id": "toolu_B",
                        "type": "function",
                        "function": {"name": "clock", "arguments": ""},
                    }
                ]
            },
            None,
        ),
        ({"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}, None),
        ({}, "tool_calls"),
        {
            "prompt_tokens": 30,
            "completion_tokens": 42,
            "total_tokens": 72,
            "prompt_tokens_details": {"cached_tokens": 5},
        },
    ]


def test_crlf_line_endings_decode_the_same():
    raw = wire(TEXT_AND_TOOLS).replace(b"\n", b"\r\n")
    assert deltas(decode(raw, step=3)) == deltas(decode(wire(TEXT_AND_TOOLS)))


def test_streamed_response_format_tool_is_content():
    events = [
        TEXT_AND_TOOLS[0],
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "tool_use", "id": "t", "name": "person", "input": {}},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": '{"name"'},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": ': "Ada"}'},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use"},
                "usage": {"output_tokens": 9},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    got = deltas(decode(wire(events), JSON_MODE, step=5))
    assert got[:-1] == [
        ({"role": "assistant", "content": ""}, None),
        ({"content": '{"name"'}, None),
        ({"content": ': "Ada"}'}, None),
        ({}, "stop"),
    ]


def test_an_error_event_mid_stream_raises_a_retryable_error():
    events = [
        *TEXT_AND_TOOLS[:8],
        (
            "error",
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        ),
    ]
    decoder = AnthropicAdapter().new_stream_decoder(PLAIN, target())
    received = decoder.feed(wire(events))
    assert [c["choices"][0]["delta"] for c in received] == [
        {"role": "assistant", "content": ""},
        {"content": "Héllo"},
    ]
    with pytest.raises(UpstreamUnavailableError) as caught:
        decoder.close()
    assert caught.value.retryable and caught.value.upstream_status == 529


def test_an_error_event_first_raises_at_once():
    decoder = AnthropicAdapter().new_stream_decoder(PLAIN, target())
    error = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
    with pytest.raises(RateLimitedError):
        decoder.feed(wire([("error", error)]))


def test_a_stream_cut_before_message_stop_is_an_upstream_failure():
    with pytest.raises(UpstreamUnavailableError, match="ended the stream early"):
        decode(wire(TEXT_AND_TOOLS[:10]))


def test_a_garbled_event_is_an_upstream_failure():
    with pytest.raises(UpstreamUnavailableError, match="malformed"):
        decode(b"event: message_start\ndata: {not json\n\n")

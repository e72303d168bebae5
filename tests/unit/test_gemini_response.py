"""Golden: Gemini responses and SSE streams become exactly these OpenAI objects."""

from __future__ import annotations

import json

import httpx
import pytest

from providers.errors import ContentFilteredError, RateLimitedError, UpstreamUnavailableError
from providers.gemini import GeminiAdapter
from providers.gemini.call_ids import make_call_id, read_call_id
from providers.types import ChatRequest
from tests.unit.test_gemini_request import target

PLAIN = ChatRequest.model_validate({"model": "gem", "messages": [{"role": "user", "content": "x"}]})
USAGE = {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15}


def parse(data: dict) -> dict:
    out = GeminiAdapter().parse_response(httpx.Response(200, json=data), PLAIN, target())
    assert isinstance(out.pop("created"), int)
    return out


def candidate(parts: list, finish: str = "STOP", index: int = 0) -> dict:
    return {"content": {"role": "model", "parts": parts}, "finishReason": finish, "index": index}


def test_text_answer():
    data = {
        "candidates": [
            candidate(
                [{"text": "thinking...", "thought": True}, {"text": "Hello "}, {"text": "there"}]
            )
        ],
        "usageMetadata": USAGE,
        "modelVersion": "gemini-2.5-flash-001",
        "responseId": "resp-1",
    }
    assert parse(data) == {
        "id": "resp-1",
        "object": "chat.completion",
        "model": "gemini-2.5-flash-001",
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


def test_function_calls_get_stable_ids_and_keep_upstream_ones():
    parts = [
        {
            "functionCall": {"name": "weather", "args": {"city": "Paris"}},
            "thoughtSignature": "c2ln+/w=",
        },
        {"functionCall": {"name": "weather", "args": {"city": "Oslo"}}},
        {"functionCall": {"id": "fc-9", "name": "clock", "args": {}}},
    ]
    out = parse({"candidates": [candidate(parts)], "usageMetadata": USAGE})
    choice = out["choices"][0]
    calls = choice["message"]["tool_calls"]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    assert [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls] == [
        ("weather", {"city": "Paris"}),
        ("weather", {"city": "Oslo"}),
        ("clock", {}),
    ]
    first, second, third = (c["id"] for c in calls)
    assert first.startswith("call_") and first.endswith("__sig__c2ln-_w")
    assert second.startswith("call_") and second != first.split("__sig__")[0]
    assert third == "fc-9"
    assert parse({"candidates": [candidate(parts)]})["choices"][0]["message"]["tool_calls"] == calls


def test_call_ids_carry_what_gemini_needs_back():
    generated = make_call_id({"name": "f", "args": {"a": 1}}, 0, 0, "c2ln+/w=")
    assert (read_call_id(generated).id, read_call_id(generated).signature) == (None, "c2ln+/w=")
    assert (read_call_id("fc-1").id, read_call_id("fc-1").signature) == ("fc-1", None)
    assert read_call_id("toolu_01__sig__!!").id == "toolu_01__sig__!!"  # not ours: kept whole


def test_several_candidates_are_several_choices():
    data = {"candidates": [candidate([{"text": "b"}], "MAX_TOKENS", 1), candidate([{"text": "a"}])]}
    choices = parse(data)["choices"]
    assert [(c["index"], c["message"]["content"], c["finish_reason"]) for c in choices] == [
        (0, "a", "stop"),
        (1, "b", "length"),
    ]


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("OTHER", "stop"),
        ("MALFORMED_FUNCTION_CALL", "stop"),
    ],
)
def test_finish_reason_table(reason, finish):
    assert (
        parse({"candidates": [candidate([{"text": "t"}], reason)]})["choices"][0]["finish_reason"]
        == finish
    )


def test_usage_counts_thoughts_tool_prompts_and_cache():
    meta = {
        "promptTokenCount": 100,
        "cachedContentTokenCount": 60,
        "toolUsePromptTokenCount": 10,
        "candidatesTokenCount": 20,
        "thoughtsTokenCount": 30,
        "totalTokenCount": 160,
    }
    assert parse({"candidates": [candidate([{"text": "t"}])], "usageMetadata": meta})["usage"] == {
        "prompt_tokens": 110,
        "completion_tokens": 50,
        "total_tokens": 160,
        "prompt_tokens_details": {"cached_tokens": 60},
        "completion_tokens_details": {"reasoning_tokens": 30},
    }


def test_a_blocked_prompt_is_content_filtered():
    with pytest.raises(ContentFilteredError, match="SAFETY"):
        parse({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": USAGE})


def test_no_candidates_is_an_upstream_failure():
    with pytest.raises(UpstreamUnavailableError):
        parse({"usageMetadata": USAGE})


# Streams ------------------------------------------------------------------------------


def sse(chunks: list[dict]) -> bytes:
    return b"".join(b"data: " + json.dumps(c).encode() + b"\r\n\r\n" for c in chunks)


def decode(raw: bytes, step: int | None = None) -> list[dict]:
    decoder = GeminiAdapter().new_stream_decoder(PLAIN, target())
    pieces = [raw] if step is None else [raw[i : i + step] for i in range(0, len(raw), step)]
    chunks = [c for piece in pieces for c in decoder.feed(piece)]
    return chunks + decoder.close()


def deltas(chunks: list[dict]) -> list:
    return [
        (c["choices"][0]["index"], c["choices"][0]["delta"], c["choices"][0]["finish_reason"])
        if c["choices"]
        else c["usage"]
        for c in chunks
    ]


BASE = {"modelVersion": "gemini-2.5-flash", "responseId": "r1"}
STREAM = [
    {
        **BASE,
        "candidates": [{"content": {"role": "model", "parts": [{"text": "Grüß "}]}, "index": 0}],
        "usageMetadata": {"promptTokenCount": 10},
    },
    {
        **BASE,
        "candidates": [{"content": {"role": "model", "parts": [{"text": "dich"}]}, "index": 0}],
    },
    {
        **BASE,
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"functionCall": {"name": "weather", "args": {"city": "Graz"}}},
                        {"functionCall": {"id": "fc-2", "name": "clock", "args": {}}},
                    ],
                },
                "index": 0,
            }
        ],
    },
    {
        **BASE,
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": ""}]},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": USAGE,
    },
]


@pytest.mark.parametrize("step", [None, 1, 5, 50])
def test_stream_with_text_and_function_calls(step):
    chunks = decode(sse(STREAM), step)
    assert {(c["id"], c["model"]) for c in chunks} == {("r1", "gemini-2.5-flash")}
    got = deltas(chunks)
    first_call = got[3][1]["tool_calls"][0]
    assert got == [
        (0, {"role": "assistant", "content": ""}, None),
        (0, {"content": "Grüß "}, None),
        (0, {"content": "dich"}, None),
        (0, {"tool_calls": [{**first_call, "index": 0}]}, None),
        (
            0,
            {
                "tool_calls": [
                    {
                        "id": "fc-2",
                        "type": "function",
                        "function": {"name": "clock", "arguments": "{}"},
                        "index": 1,
                    }
                ]
            },
            None,
        ),
        (0, {}, "tool_calls"),
        {
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 0},
        },
    ]
    assert first_call["function"] == {"name": "weather", "arguments": '{"city":"Graz"}'}
    assert first_call["id"].startswith("call_")


def test_streamed_ids_match_the_json_answer():
    whole = parse({"candidates": [candidate(STREAM[2]["candidates"][0]["content"]["parts"])]})
    streamed = [
        d[1]["tool_calls"][0]["id"]
        for d in deltas(decode(sse(STREAM)))
        if isinstance(d, tuple) and "tool_calls" in d[1]
    ]
    assert streamed == [c["id"] for c in whole["choices"][0]["message"]["tool_calls"]]


def test_two_candidates_stream_as_two_choices():
    chunks = [
        {
            **BASE,
            "candidates": [
                {"content": {"parts": [{"text": "a"}]}, "index": 0},
                {"content": {"parts": [{"text": "b"}]}, "index": 1},
            ],
        },
        {
            **BASE,
            "candidates": [
                {"content": {"parts": [{"text": "!"}]}, "finishReason": "STOP", "index": 0}
            ],
        },
        {
            **BASE,
            "candidates": [
                {"content": {"parts": [{"text": "?"}]}, "finishReason": "MAX_TOKENS", "index": 1}
            ],
            "usageMetadata": USAGE,
        },
    ]
    got = [d for d in deltas(decode(sse(chunks), 3)) if isinstance(d, tuple)]
    text = {i: "".join(d.get("content", "") for j, d, _ in got if j == i) for i in (0, 1)}
    assert text == {0: "a!", 1: "b?"}
    assert [(i, f) for i, _, f in got if f] == [(0, "stop"), (1, "length")]


def test_an_error_object_mid_stream_raises_its_class():
    raw = sse(
        [STREAM[0], {"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}]
    )
    decoder = GeminiAdapter().new_stream_decoder(PLAIN, target())
    received = decoder.feed(raw)
    assert [c["choices"][0]["delta"] for c in received] == [
        {"role": "assistant", "content": ""},
        {"content": "Grüß "},
    ]
    with pytest.raises(RateLimitedError):
        decoder.feed(b"")


def test_a_stream_without_finish_reason_was_cut_short():
    with pytest.raises(UpstreamUnavailableError, match="ended the stream early"):
        decode(sse(STREAM[:2]))


def test_a_blocked_prompt_in_a_stream_is_content_filtered():
    with pytest.raises(ContentFilteredError):
        decode(
            sse([{"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": USAGE}])
        )

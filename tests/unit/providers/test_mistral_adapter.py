"""Mistral, golden: the OpenAI-like request with Mistral's differences translated,
answers and streams mapped back, and Mistral's error shapes classified."""

from __future__ import annotations

import json

import httpx
import pytest

from providers.errors import (
    ContextWindowExceededError,
    InvalidRequestError,
    RateLimitedError,
    UpstreamAuthError,
    UpstreamUnavailableError,
)
from providers.mistral import mistral_tool_id
from tests.unit.providers.golden import (
    KEY,
    PNG_URI,
    TOOL,
    adapter,
    body_of,
    chat,
    feed_all,
    response,
    target,
)

MODEL = "mistral-large-latest"
T = target("mistral", MODEL)

REQUESTS = [
    pytest.param(
        {
            "messages": [
                {"role": "developer", "content": "Be brief."},
                {"role": "user", "content": "hi", "name": "ann"},
            ],
            "seed": 11,
            "max_completion_tokens": 64,
            "temperature": 0.3,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
        {
            "model": MODEL,
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "hi"},
            ],
            "random_seed": 11,
            "max_tokens": 64,
            "temperature": 0.3,
            "stream": True,
        },
        id="seed-max-completion-developer-name-stream-options",
    ),
    pytest.param(
        {"tools": [TOOL], "tool_choice": "required", "parallel_tool_calls": False},
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [TOOL],
            "tool_choice": "any",
            "parallel_tool_calls": False,
        },
        id="required-is-any",
    ),
    pytest.param(
        {
            "messages": [
                {"role": "user", "content": "weather?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_Xk9vQ2mLp0aZ7bYc",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        },
                        {
                            "id": "abcDEF123",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "call_Xk9vQ2mLp0aZ7bYc", "content": "sunny"},
                {"role": "tool", "tool_call_id": "abcDEF123", "content": "rain"},
            ],
        },
        {
            "model": MODEL,
            "messages": [
                {"role": "user", "content": "weather?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": mistral_tool_id("call_Xk9vQ2mLp0aZ7bYc"),
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        },
                        {
                            "id": "abcDEF123",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
                        },
                    ],
                },
                {
                    "role": "tool",
                    "tool_call_id": mistral_tool_id("call_Xk9vQ2mLp0aZ7bYc"),
                    "content": "sunny",
                    "name": "get_weather",
                },
                {
                    "role": "tool",
                    "tool_call_id": "abcDEF123",
                    "content": "rain",
                    "name": "get_weather",
                },
            ],
        },
        id="tool-ids-mapped-consistently-names-filled",
    ),
    pytest.param(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "see"},
                        {"type": "image_url", "image_url": {"url": PNG_URI}},
                    ],
                }
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "w", "schema": {"type": "object"}, "strict": True},
            },
            "n": 2,
            "presence_penalty": 0.5,
            "safe_prompt": True,
        },
        {
            "model": MODEL,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "see"},
                        {"type": "image_url", "image_url": {"url": PNG_URI}},
                    ],
                }
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "w", "schema": {"type": "object"}, "strict": True},
            },
            "n": 2,
            "presence_penalty": 0.5,
            "safe_prompt": True,
        },
        id="images-json-schema-n-and-native-extras-pass",
    ),
]


@pytest.mark.parametrize(("openai", "expected"), REQUESTS)
def test_request_becomes_the_exact_mistral_body(openai, expected):
    request = adapter("mistral").build_request(chat(**openai), T)
    assert str(request.url) == "https://api.mistral.ai/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert body_of(request) == expected


def test_mapped_ids_are_nine_alphanumerics_and_stable():
    mapped = mistral_tool_id("call_Xk9vQ2mLp0aZ7bYc")
    assert len(mapped) == 9 and mapped.isalnum()
    assert mapped == mistral_tool_id("call_Xk9vQ2mLp0aZ7bYc")
    assert mapped != mistral_tool_id("call_other")


@pytest.mark.parametrize("field", [{"user": "u1"}, {"logit_bias": {"1": 1}}, {"store": True}])
def test_fields_mistral_rejects_are_a_clear_400(field):
    with pytest.raises(InvalidRequestError) as caught:
        adapter("mistral").build_request(chat(**field), T)
    assert caught.value.param == next(iter(field))


def test_drop_unsupported_drops_them():
    request = adapter("mistral", drop_unsupported=True).build_request(chat(user="u1"), T)
    assert "user" not in body_of(request)


def test_answer_maps_model_length_and_content_chunks():
    data = {
        "id": "cmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": [{"type": "text", "text": "hmm"}]},
                        {"type": "text", "text": "Answer."},
                    ],
                    "tool_calls": None,
                },
                "finish_reason": "model_length",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }
    out = adapter("mistral").parse_response(response(data), chat(), T)
    assert out["choices"][0]["finish_reason"] == "length"
    assert out["choices"][0]["message"]["content"] == "Answer."
    assert out["usage"] == {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}


def test_error_finish_is_an_upstream_failure():
    data = {
        "id": "c",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": ""},
                     "finish_reason": "error"}],
    }  # fmt: skip
    with pytest.raises(UpstreamUnavailableError):
        adapter("mistral").parse_response(response(data), chat(), T)


def _sse(chunks):
    return b"".join(f"data: {json.dumps(c)}\n\n".encode() for c in chunks) + b"data: [DONE]\n\n"


def test_stream_usage_on_the_last_chunk_moves_to_a_usage_chunk():
    base = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": MODEL}
    upstream = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                              "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "stop"}],
         "usage": {"prompt_tokens": 4, "completion_tokens": 1, "total_tokens": 5}},
    ]  # fmt: skip
    decoder = adapter("mistral").new_stream_decoder(chat(stream=True), T)
    chunks = feed_all(decoder, _sse(upstream), step=5)
    assert [c["choices"] for c in chunks] == [
        upstream[0]["choices"],
        upstream[1]["choices"],
        upstream[2]["choices"],
        [],
    ]
    assert "usage" not in chunks[2]
    assert chunks[3]["usage"] == {"prompt_tokens": 4, "completion_tokens": 1, "total_tokens": 5}


ERRORS = [
    (400, {"object": "error", "message": "Prompt contains 40000 tokens and 0 draft tokens, too "
           "large for model with 32768 maximum context length", "type": "invalid_request_error",
           "param": None, "code": "3051"}, {}, ContextWindowExceededError, False, None),
    (400, {"object": "error", "message": "Expected last role User or Tool",
           "type": "invalid_request_message_order", "param": None, "code": "3230"}, {},
     InvalidRequestError, False, None),
    (422, {"object": "error", "message": {"detail": [{"type": "extra_forbidden",
           "loc": ["body", "seed"], "msg": "Extra inputs are not permitted"}]},
           "type": "invalid_request_error", "param": None, "code": None}, {},
     InvalidRequestError, False, None),
    (401, {"message": "Unauthorized", "request_id": "r"}, {}, UpstreamAuthError, False, None),
    (429, {"message": "Requests rate limit exceeded"}, {"retry-after": "3"}, RateLimitedError,
     True, 3.0),
    (500, {"object": "error", "message": "Service unavailable.", "type": "internal_server_error",
           "param": None, "code": "1000"}, {}, UpstreamUnavailableError, True, None),
    (503, {"message": "no healthy upstream"}, {}, UpstreamUnavailableError, True, None),
]  # fmt: skip


@pytest.mark.parametrize(("status", "body", "headers", "cls", "retryable", "retry_after"), ERRORS)
def test_error_table(status, body, headers, cls, retryable, retry_after):
    error = adapter("mistral").map_error(status, httpx.Headers(headers), json.dumps(body).encode())
    assert type(error) is cls
    assert error.retryable is retryable
    assert error.retry_after == retry_after


def test_validation_detail_reaches_the_message():
    body = {
        "object": "error",
        "message": {"detail": [{"loc": ["body", "foo"], "msg": "Extra inputs are not permitted"}]},
        "type": "invalid_request_error",
    }
    error = adapter("mistral").map_error(422, httpx.Headers(), json.dumps(body).encode())
    assert "Extra inputs are not permitted" in error.message

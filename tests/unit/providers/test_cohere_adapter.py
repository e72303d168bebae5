"""Cohere Chat v2, golden: OpenAI requests → exact /v2/chat bodies; Cohere answers,
streams and errors → exact OpenAI objects and taxonomy classes."""

from __future__ import annotations

import json

import httpx
import pytest

from providers.errors import (
    ContextWindowExceededError,
    InvalidRequestError,
    RateLimitedError,
    UpstreamAuthError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from tests.fakes.cohere_server import stream_events
from tests.unit.providers.golden import (
    KEY,
    PNG_URI,
    TOOL,
    adapter,
    body_of,
    chat,
    delta,
    feed_all,
    response,
    stable,
    target,
    usage_chunk,
)

MODEL = "command-a-03-2025"
T = target("cohere", MODEL)

REQUESTS = [
    pytest.param(
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "hi", "name": "ann"},
            ],
            "temperature": 0.2,
            "top_p": 0.9,
            "max_tokens": 50,
            "stop": "END",
            "seed": 7,
        },
        {
            "model": MODEL,
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "hi"},
            ],
            "temperature": 0.2,
            "p": 0.9,
            "max_tokens": 50,
            "stop_sequences": ["END"],
            "seed": 7,
        },
        id="system-sampling-name-dropped",
    ),
    pytest.param(
        {
            "messages": [
                {"role": "developer", "content": [{"type": "text", "text": "Rules."}]},
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": "b"},
                {"role": "user", "content": "c"},
            ],
            "max_completion_tokens": 9,
            "frequency_penalty": 0.5,
            "presence_penalty": 0.1,
            "k": 40,
            "stream": True,
        },
        {
            "model": MODEL,
            "messages": [
                {"role": "system", "content": "Rules."},
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": "b"},
                {"role": "user", "content": "c"},
            ],
            "stream": True,
            "max_tokens": 9,
            "frequency_penalty": 0.5,
            "presence_penalty": 0.1,
            "k": 40,
        },
        id="developer-multiturn-penalties-native-extra",
    ),
    pytest.param(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is this?"},
                        {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}},
                        {"type": "image_url", "image_url": {"url": PNG_URI, "detail": "low"}},
                    ],
                }
            ]
        },
        {
            "model": MODEL,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is this?"},
                        {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}},
                        {"type": "image_url", "image_url": {"url": PNG_URI, "detail": "low"}},
                    ],
                }
            ],
        },
        id="images-by-url-and-data-uri",
    ),
    pytest.param(
        {
            "tools": [TOOL, {**TOOL, "function": {**TOOL["function"], "name": "other"}}],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        },
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [TOOL],
            "tool_choice": "REQUIRED",
        },
        id="named-tool-choice-is-that-tool-required",
    ),
    pytest.param(
        {"tools": [TOOL], "tool_choice": "none"},
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [TOOL],
            "tool_choice": "NONE",
        },
        id="tool-choice-none",
    ),
    pytest.param(
        {
            "messages": [
                {"role": "user", "content": "weather in Paris?"},
                {
                    "role": "assistant",
                    "content": "I will look it up.",
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        },
                        {
                            "id": "call_2",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
                {"role": "tool", "tool_call_id": "call_2", "content": "rain"},
            ],
            "tools": [TOOL],
            "tool_choice": "auto",
        },
        {
            "model": MODEL,
            "messages": [
                {"role": "user", "content": "weather in Paris?"},
                {
                    "role": "assistant",
                    "tool_plan": "I will look it up.",
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        },
                        {
                            "id": "call_2",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
                {"role": "tool", "tool_call_id": "call_2", "content": "rain"},
            ],
            "tools": [TOOL],
        },
        id="parallel-tool-calls-in-history-and-results",
    ),
    pytest.param(
        {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "w", "schema": {"type": "object"}, "strict": True},
            }
        },
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "hi"}],
            "response_format": {"type": "json_object", "json_schema": {"type": "object"}},
        },
        id="json-schema",
    ),
    pytest.param(
        {"response_format": {"type": "json_object"}, "n": 1, "parallel_tool_calls": True},
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": "hi"}],
            "response_format": {"type": "json_object"},
        },
        id="json-object-and-defaults-that-ask-nothing",
    ),
]


@pytest.mark.parametrize(("openai", "expected"), REQUESTS)
def test_request_becomes_the_exact_cohere_body(openai, expected):
    request = adapter("cohere").build_request(chat(**openai), T)
    assert request.method == "POST"
    assert str(request.url) == "https://api.cohere.com/v2/chat"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert body_of(request) == expected


@pytest.mark.parametrize(
    ("openai", "param"),
    [
        ({"n": 2}, "n"),
        ({"logit_bias": {"1": 2}}, "logit_bias"),
        ({"parallel_tool_calls": False, "tools": [TOOL]}, "parallel_tool_calls"),
        ({"user": "u-1"}, "user"),
        ({"response_format": {"type": "xml"}}, "response_format"),
        ({"tool_choice": "sometimes", "tools": [TOOL]}, "tool_choice"),
    ],
)
def test_what_cohere_cannot_honour_is_a_clear_400(openai, param):
    with pytest.raises(InvalidRequestError) as caught:
        adapter("cohere").build_request(chat(**openai), T)
    assert caught.value.param == param
    assert param in caught.value.message


def test_drop_unsupported_drops_instead():
    request = adapter("cohere", drop_unsupported=True).build_request(
        chat(n=2, user="u-1", logit_bias={"1": 2}), T
    )
    assert body_of(request) == {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


def test_default_max_tokens_from_the_provider_config():
    request = adapter("cohere").build_request(
        chat(), target("cohere", MODEL, default_max_tokens=77)
    )
    assert body_of(request)["max_tokens"] == 77


def test_text_answer_becomes_an_openai_completion():
    data = {
        "id": "c1",
        "finish_reason": "COMPLETE",
        "message": {"role": "assistant", "content": [{"type": "text", "text": "Hello!"}]},
        "usage": {
            "billed_units": {"input_tokens": 5, "output_tokens": 2},
            "tokens": {"input_tokens": 71, "output_tokens": 2},
            "cached_tokens": 64,
        },
    }
    out = adapter("cohere").parse_response(response(data), chat(), T)
    assert out["id"] == "c1" and out["object"] == "chat.completion" and out["model"] == MODEL
    assert out["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello!", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    assert out["usage"] == {
        "prompt_tokens": 71,
        "completion_tokens": 2,
        "total_tokens": 73,
        "prompt_tokens_details": {"cached_tokens": 64},
    }


def test_tool_call_answer_keeps_ids_and_arguments():
    data = {
        "id": "c2",
        "finish_reason": "TOOL_CALL",
        "message": {
            "role": "assistant",
            "tool_plan": "I will check the weather.",
            "tool_calls": [
                {
                    "id": "get_weather_abc123",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        "usage": {"billed_units": {"input_tokens": 10, "output_tokens": 8}},
    }
    out = adapter("cohere").parse_response(response(data), chat(), T)
    assert out["choices"][0]["finish_reason"] == "tool_calls"
    assert out["choices"][0]["message"] == {
        "role": "assistant",
        "content": "I will check the weather.",
        "refusal": None,
        "tool_calls": [
            {
                "id": "get_weather_abc123",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            }
        ],
    }
    assert out["usage"] == {"prompt_tokens": 10, "completion_tokens": 8, "total_tokens": 18}


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("COMPLETE", "stop"),
        ("STOP_SEQUENCE", "stop"),
        ("MAX_TOKENS", "length"),
        ("TOOL_CALL", "tool_calls"),
        ("ERROR_TOXIC", "content_filter"),
    ],
)
def test_finish_reason_table(reason, expected):
    data = {"id": "c", "finish_reason": reason, "message": {"role": "assistant", "content": []}}
    out = adapter("cohere").parse_response(response(data), chat(), T)
    assert out["choices"][0]["finish_reason"] == expected


@pytest.mark.parametrize(
    ("reason", "error"), [("ERROR", UpstreamUnavailableError), ("TIMEOUT", UpstreamTimeoutError)]
)
def test_failed_generations_raise(reason, error):
    data = {"id": "c", "finish_reason": reason, "message": {"role": "assistant", "content": []}}
    with pytest.raises(error):
        adapter("cohere").parse_response(response(data), chat(), T)


def test_malformed_answer_is_an_upstream_failure():
    with pytest.raises(UpstreamUnavailableError):
        adapter("cohere").parse_response(response({"unexpected": True}), chat(), T)


def _sse(events):
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()


TOOL_ANSWER = {
    "id": "s1",
    "finish_reason": "TOOL_CALL",
    "message": {
        "role": "assistant",
        "tool_plan": "Checking.",
        "tool_calls": [
            {
                "id": "w_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
            },
            {
                "id": "w_2",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
            },
        ],
    },
    "usage": {"tokens": {"input_tokens": 12, "output_tokens": 30}, "cached_tokens": 0},
}


@pytest.mark.parametrize("step", [0, 1, 7])
def test_stream_of_parallel_tool_calls_becomes_openai_chunks(step):
    decoder = adapter("cohere").new_stream_decoder(chat(stream=True), T)
    chunks = feed_all(decoder, _sse(stream_events(TOOL_ANSWER)), step)
    assert {c["id"] for c in chunks} == {"s1"}
    pieces = stable(chunks)
    assert pieces[0] == delta({"role": "assistant", "content": ""}, model=MODEL)
    assert (
        "".join(c["choices"][0]["delta"].get("content") or "" for c in pieces if c["choices"])
        == "Checking."
    )
    heads = [
        tc
        for c in pieces
        if c["choices"]
        for tc in c["choices"][0]["delta"].get("tool_calls", [])
        if "id" in tc
    ]
    assert heads == [
        {"index": 0, "id": "w_1", "type": "function",
         "function": {"name": "get_weather", "arguments": ""}},
        {"index": 1, "id": "w_2", "type": "function",
         "function": {"name": "get_weather", "arguments": ""}},
    ]  # fmt: skip
    for index, city in ((0, "Paris"), (1, "Rome")):
        args = "".join(
            tc["function"]["arguments"]
            for c in pieces
            if c["choices"]
            for tc in c["choices"][0]["delta"].get("tool_calls", [])
            if tc["index"] == index
        )
        assert json.loads(args) == {"city": city}
    assert pieces[-2] == delta({}, "tool_calls", model=MODEL)
    assert pieces[-1] == usage_chunk(
        {
            "prompt_tokens": 12,
            "completion_tokens": 30,
            "total_tokens": 42,
            "prompt_tokens_details": {"cached_tokens": 0},
        },
        model=MODEL,
    )


def test_stream_of_text_is_exact():
    answer = {
        "id": "s2",
        "finish_reason": "MAX_TOKENS",
        "message": {"role": "assistant", "content": [{"type": "text", "text": "Hi there"}]},
        "usage": {"billed_units": {"input_tokens": 3, "output_tokens": 2}},
    }
    decoder = adapter("cohere").new_stream_decoder(chat(stream=True), T)
    assert stable(feed_all(decoder, _sse(stream_events(answer)))) == [
        delta({"role": "assistant", "content": ""}, model=MODEL),
        delta({"content": "Hi "}, model=MODEL),
        delta({"content": "there"}, model=MODEL),
        delta({}, "length", model=MODEL),
        usage_chunk({"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}, model=MODEL),
    ]


def test_stream_that_stops_before_message_end_is_a_failure():
    events = stream_events(TOOL_ANSWER)[:-1]
    decoder = adapter("cohere").new_stream_decoder(chat(stream=True), T)
    decoder.feed(_sse(events))
    with pytest.raises(UpstreamUnavailableError, match="early"):
        decoder.close()


def test_stream_error_finish_raises():
    end = {"type": "message-end", "delta": {"finish_reason": "ERROR"}}
    decoder = adapter("cohere").new_stream_decoder(chat(stream=True), T)
    with pytest.raises(UpstreamUnavailableError):
        decoder.feed(_sse([end]))


ERRORS = [
    (400, {"message": "invalid request: temperature"}, {}, InvalidRequestError, False, None),
    (400, {"message": "too many tokens: size limit exceeded"}, {}, ContextWindowExceededError,
     False, None),
    (401, {"message": "invalid api token"}, {}, UpstreamAuthError, False, None),
    (402, {"message": "Please add a payment method"}, {}, UpstreamAuthError, False, None),
    (404, {"message": "model 'x' not found"}, {}, UpstreamUnavailableError, False, None),
    (422, {"message": "invalid request"}, {}, InvalidRequestError, False, None),
    (429, {"message": "trial key limited"}, {"retry-after": "7"}, RateLimitedError, True, 7.0),
    (498, {"message": "invalid token"}, {}, UpstreamAuthError, False, None),
    (500, {"message": "internal server error"}, {}, UpstreamUnavailableError, True, None),
    (503, {"message": "service unavailable"}, {}, UpstreamUnavailableError, True, None),
    (504, {"message": "gateway timeout"}, {}, UpstreamTimeoutError, True, None),
]  # fmt: skip


@pytest.mark.parametrize(("status", "body", "headers", "cls", "retryable", "retry_after"), ERRORS)
def test_error_table(status, body, headers, cls, retryable, retry_after):
    error = adapter("cohere").map_error(status, httpx.Headers(headers), json.dumps(body).encode())
    assert type(error) is cls
    assert error.retryable is retryable
    assert error.retry_after == retry_after
    assert KEY not in error.message

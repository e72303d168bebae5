"""Bedrock Converse, golden: OpenAI requests → exact Converse bodies, URL and SigV4
headers; Converse answers, event streams and errors → exact OpenAI objects and
taxonomy classes."""

from __future__ import annotations

import json

import httpx
import pytest
from pydantic import SecretStr

from providers.errors import (
    ContextWindowExceededError,
    InvalidRequestError,
    RateLimitedError,
    UpstreamAuthError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from tests.fakes.bedrock_server import event_frame, exception_frame, stream_events
from tests.unit.providers.golden import (
    IMAGE_B64,
    PNG_URI,
    TOOL,
    body_of,
    chat,
    delta,
    feed_all,
    response,
    stable,
    target,
    usage_chunk,
)

BMP_URI = "data:image/bmp;base64,AA=="
MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
T = target("bedrock", MODEL)
CREDENTIALS = {
    "region": "eu-central-1",
    "aws_access_key_id": SecretStr("AKIDGOLDEN"),
    "aws_secret_access_key": SecretStr("golden-secret"),
}


def bedrock(**options):
    from providers.registry import create_adapter

    return create_adapter("bedrock", {**CREDENTIALS, **options})


WEATHER_SPEC = {
    "toolSpec": {
        "name": "get_weather",
        "description": "Weather for a city",
        "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}},
    }
}

REQUESTS = [
    pytest.param(
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": "Use metric units."},
                {"role": "user", "content": "hi", "name": "ann"},
            ],
            "temperature": 0.2,
            "top_p": 0.9,
            "max_tokens": 50,
            "stop": ["END", "STOP"],
            "user": "user-42",
        },
        {
            "system": [{"text": "Be brief."}, {"text": "Use metric units."}],
            "messages": [{"role": "user", "content": [{"text": "hi"}]}],
            "inferenceConfig": {
                "maxTokens": 50,
                "temperature": 0.2,
                "topP": 0.9,
                "stopSequences": ["END", "STOP"],
            },
            "requestMetadata": {"user": "user-42"},
        },
        id="system-lifted-sampling-user-metadata",
    ),
    pytest.param(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is this?"},
                        {"type": "image_url", "image_url": {"url": PNG_URI}},
                    ],
                },
                {"role": "user", "content": "and be quick"},
            ],
            "max_completion_tokens": 9,
        },
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"text": "what is this?"},
                        {"image": {"format": "png", "source": {"bytes": IMAGE_B64}}},
                        {"text": "and be quick"},
                    ],
                }
            ],
            "inferenceConfig": {"maxTokens": 9},
        },
        id="inline-image-and-same-role-turns-merged",
    ),
    pytest.param(
        {
            "messages": [
                {"role": "user", "content": "weather in Paris and Rome?"},
                {
                    "role": "assistant",
                    "content": "Checking.",
                    "tool_calls": [
                        {
                            "id": "tooluse_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        },
                        {
                            "id": "tooluse_2",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "tooluse_1", "content": "sunny"},
                {"role": "tool", "tool_call_id": "tooluse_2", "content": "rain"},
            ],
            "tools": [TOOL],
            "tool_choice": "auto",
        },
        {
            "messages": [
                {"role": "user", "content": [{"text": "weather in Paris and Rome?"}]},
                {
                    "role": "assistant",
                    "content": [
                        {"text": "Checking."},
                        {
                            "toolUse": {
                                "toolUseId": "tooluse_1",
                                "name": "get_weather",
                                "input": {"city": "Paris"},
                            }
                        },
                        {
                            "toolUse": {
                                "toolUseId": "tooluse_2",
                                "name": "get_weather",
                                "input": {"city": "Rome"},
                            }
                        },
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"toolResult": {"toolUseId": "tooluse_1", "content": [{"text": "sunny"}]}},
                        {"toolResult": {"toolUseId": "tooluse_2", "content": [{"text": "rain"}]}},
                    ],
                },
            ],
            "toolConfig": {"tools": [WEATHER_SPEC], "toolChoice": {"auto": {}}},
        },
        id="parallel-tool-calls-and-results",
    ),
    pytest.param(
        {"tools": [TOOL], "tool_choice": "required"},
        {
            "messages": [{"role": "user", "content": [{"text": "hi"}]}],
            "toolConfig": {"tools": [WEATHER_SPEC], "toolChoice": {"any": {}}},
        },
        id="required-is-any",
    ),
    pytest.param(
        {"tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
        {
            "messages": [{"role": "user", "content": [{"text": "hi"}]}],
            "toolConfig": {
                "tools": [WEATHER_SPEC],
                "toolChoice": {"tool": {"name": "get_weather"}},
            },
        },
        id="named-is-tool",
    ),
    pytest.param(
        {"tools": [TOOL], "tool_choice": "none"},
        {"messages": [{"role": "user", "content": [{"text": "hi"}]}]},
        id="none-without-tool-history-drops-tools",
    ),
    pytest.param(
        {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "w", "schema": {"type": "object"}},
            },
            "top_k": 40,
            "guardrailConfig": {"guardrailIdentifier": "g1", "guardrailVersion": "1"},
        },
        {
            "messages": [{"role": "user", "content": [{"text": "hi"}]}],
            "outputConfig": {
                "textFormat": {
                    "type": "json_schema",
                    "structure": {"jsonSchema": {"schema": '{"type":"object"}', "name": "w"}},
                }
            },
            "guardrailConfig": {"guardrailIdentifier": "g1", "guardrailVersion": "1"},
            "additionalModelRequestFields": {"top_k": 40},
        },
        id="json-schema-native-and-model-extras",
    ),
]


@pytest.mark.parametrize(("openai", "expected"), REQUESTS)
def test_request_becomes_the_exact_converse_body(openai, expected):
    request = bedrock().build_request(chat(**openai), T)
    assert body_of(request) == expected


def test_url_and_signature_headers():
    request = bedrock(aws_session_token=SecretStr("session-tok")).build_request(
        chat(stream=True), T
    )
    assert str(request.url) == (
        "https://bedrock-runtime.eu-central-1.amazonaws.com/model/"
        "anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream"
    )
    auth = request.headers["authorization"]
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=AKIDGOLDEN/")
    assert "/eu-central-1/bedrock/aws4_request" in auth
    assert request.headers["x-amz-security-token"] == "session-tok"
    assert request.headers["accept"] == "application/vnd.amazon.eventstream"
    assert "golden-secret" not in str(request.headers)


def test_configured_base_url_wins():
    custom = target("bedrock", "m1", base_url="https://vpce-1.bedrock-runtime.example/")
    request = bedrock().build_request(chat(), custom)
    assert str(request.url) == "https://vpce-1.bedrock-runtime.example/model/m1/converse"


@pytest.mark.parametrize(
    ("openai", "param"),
    [
        ({"n": 2}, "n"),
        ({"seed": 1}, "seed"),
        ({"logprobs": True}, "logprobs"),
        ({"parallel_tool_calls": False, "tools": [TOOL]}, "parallel_tool_calls"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}
                        ],
                    }
                ]
            },
            "messages",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": {"url": BMP_URI}}
                        ],
                    }
                ]
            },
            "messages",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": "x"},
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {"id": "a", "type": "function",
                             "function": {"name": "get_weather", "arguments": "{}"}}
                        ],
                    },
                    {"role": "tool", "tool_call_id": "a", "content": "y"},
                ],
                "tools": [TOOL],
                "tool_choice": "none",
            },
            "tool_choice",
        ),
    ],
)  # fmt: skip
def test_what_bedrock_cannot_honour_is_a_clear_400(openai, param):
    with pytest.raises(InvalidRequestError) as caught:
        bedrock().build_request(chat(**openai), T)
    assert caught.value.param == param


def test_an_image_url_is_refused_not_fetched():
    image = {"type": "image_url", "image_url": {"url": "http://169.254.169.254/latest"}}
    with pytest.raises(InvalidRequestError, match="does not fetch"):
        bedrock().build_request(chat(messages=[{"role": "user", "content": [image]}]), T)


def test_drop_unsupported_drops_instead():
    request = bedrock(drop_unsupported=True).build_request(chat(n=3, seed=1, logprobs=True), T)
    assert body_of(request) == {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}


def test_text_answer_with_cache_usage():
    data = {
        "output": {"message": {"role": "assistant", "content": [{"text": "Hello!"}]}},
        "stopReason": "end_turn",
        "usage": {
            "inputTokens": 10,
            "outputTokens": 3,
            "totalTokens": 113,
            "cacheReadInputTokens": 100,
            "cacheWriteInputTokens": 0,
        },
        "metrics": {"latencyMs": 300},
    }
    out = bedrock().parse_response(response(data, **{"x-amzn-requestid": "req-1"}), chat(), T)
    assert out["id"] == "req-1" and out["model"] == MODEL
    assert out["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello!", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    assert out["usage"] == {
        "prompt_tokens": 110,
        "completion_tokens": 3,
        "total_tokens": 113,
        "prompt_tokens_details": {"cached_tokens": 100},
    }


def test_tool_use_answer_keeps_ids_and_arguments():
    data = {
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {"toolUse": {"toolUseId": "tooluse_A", "name": "get_weather",
                                 "input": {"city": "Paris", "days": [1, 2]}}},
                ],
            }
        },
        "stopReason": "tool_use",
        "usage": {"inputTokens": 20, "outputTokens": 9, "totalTokens": 29},
    }  # fmt: skip
    out = bedrock().parse_response(response(data), chat(), T)
    message = out["choices"][0]["message"]
    assert out["choices"][0]["finish_reason"] == "tool_calls"
    assert message["content"] is None
    assert message["tool_calls"] == [
        {
            "id": "tooluse_A",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris","days":[1,2]}'},
        }
    ]
    assert out["usage"] == {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29}


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
    ],
)
def test_stop_reason_table(reason, expected):
    data = {"output": {"message": {"role": "assistant", "content": []}}, "stopReason": reason}
    out = bedrock().parse_response(response(data), chat(), T)
    assert out["choices"][0]["finish_reason"] == expected


def test_malformed_model_output_is_an_upstream_failure():
    data = {
        "output": {"message": {"role": "assistant", "content": []}},
        "stopReason": "malformed_tool_use",
    }
    with pytest.raises(UpstreamUnavailableError):
        bedrock().parse_response(response(data), chat(), T)


STREAM_ANSWER = {
    "output": {
        "message": {
            "role": "assistant",
            "content": [
                {"text": "Let me check."},
                {"toolUse": {"toolUseId": "tu_1", "name": "get_weather",
                             "input": {"city": "Paris"}}},
                {"toolUse": {"toolUseId": "tu_2", "name": "get_weather",
                             "input": {"city": "Rome"}}},
            ],
        }
    },
    "stopReason": "tool_use",
    "usage": {"inputTokens": 30, "outputTokens": 40, "totalTokens": 70},
}  # fmt: skip


def _frames(answer):
    return b"".join(event_frame(kind, payload) for kind, payload in stream_events(answer))


@pytest.mark.parametrize("step", [0, 1, 13])
def test_event_stream_becomes_openai_chunks(step):
    decoder = bedrock().new_stream_decoder(chat(stream=True), T)
    pieces = stable(feed_all(decoder, _frames(STREAM_ANSWER), step))
    assert pieces[0] == delta({"role": "assistant", "content": ""}, model=MODEL)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in pieces if c["choices"])
    assert text == "Let me check."
    calls = [
        tc for c in pieces if c["choices"] for tc in c["choices"][0]["delta"].get("tool_calls", [])
    ]
    assert [(c["index"], c["id"]) for c in calls if "id" in c] == [(0, "tu_1"), (1, "tu_2")]
    for index, city in ((0, "Paris"), (1, "Rome")):
        args = "".join(c["function"]["arguments"] for c in calls if c["index"] == index)
        assert json.loads(args) == {"city": city}
    assert pieces[-2] == delta({}, "tool_calls", model=MODEL)
    assert pieces[-1] == usage_chunk(
        {"prompt_tokens": 30, "completion_tokens": 40, "total_tokens": 70}, model=MODEL
    )


def test_exception_event_mid_stream_raises_its_class():
    decoder = bedrock().new_stream_decoder(chat(stream=True), T)
    frames = event_frame("messageStart", {"role": "assistant"})
    frames += exception_frame("throttlingException", "Too many tokens, please wait.")
    chunks = decoder.feed(frames)  # what came before the exception is delivered first
    assert stable(chunks) == [delta({"role": "assistant", "content": ""}, model=MODEL)]
    with pytest.raises(RateLimitedError):
        decoder.close()


def test_exception_as_the_first_event_raises_at_once():
    decoder = bedrock().new_stream_decoder(chat(stream=True), T)
    with pytest.raises(UpstreamUnavailableError):
        decoder.feed(exception_frame("modelStreamErrorException", "The model failed"))


def test_stream_cut_inside_a_frame_is_a_failure():
    decoder = bedrock().new_stream_decoder(chat(stream=True), T)
    data = _frames(STREAM_ANSWER)
    decoder.feed(data[:-3])
    with pytest.raises(UpstreamUnavailableError):
        decoder.close()


def test_corrupt_frame_is_a_failure():
    frame = bytearray(event_frame("messageStart", {"role": "assistant"}))
    frame[-6] ^= 0xFF
    decoder = bedrock().new_stream_decoder(chat(stream=True), T)
    with pytest.raises(UpstreamUnavailableError, match="corrupt"):
        decoder.feed(bytes(frame))


def _kind(name):
    return {"x-amzn-errortype": f"{name}:http://internal.amazon.com/coral/com.amazon.bedrock/"}


ERRORS = [
    (400, "ValidationException", "Malformed input request", InvalidRequestError, False, None),
    (400, "ValidationException", "Input is too long for requested model.",
     ContextWindowExceededError, False, None),
    (400, "ValidationException", "prompt is too long: 210000 tokens > 200000 maximum",
     ContextWindowExceededError, False, None),
    (403, "AccessDeniedException", "You don't have access", UpstreamAuthError, False, None),
    (403, "UnrecognizedClientException", "The security token is invalid", UpstreamAuthError,
     False, None),
    (404, "ResourceNotFoundException", "Model not found", UpstreamUnavailableError, False, None),
    (408, "ModelTimeoutException", "Model timed out", UpstreamTimeoutError, True, None),
    (424, "ModelErrorException", "The model failed", UpstreamUnavailableError, True, None),
    (429, "ThrottlingException", "Too many requests", RateLimitedError, True, None),
    (429, "ModelNotReadyException", "Model is not ready", RateLimitedError, True, None),
    (500, "InternalServerException", "Internal error", UpstreamUnavailableError, True, None),
    (503, "ServiceUnavailableException", "Unavailable", UpstreamUnavailableError, True, None),
]  # fmt: skip


@pytest.mark.parametrize(("status", "kind", "message", "cls", "retryable", "retry_after"), ERRORS)
def test_error_table(status, kind, message, cls, retryable, retry_after):
    body = json.dumps({"message": message}).encode()
    error = bedrock().map_error(status, httpx.Headers(_kind(kind)), body)
    assert type(error) is cls
    assert error.retryable is retryable
    assert error.retry_after == retry_after


def test_throttling_retry_after_header_is_kept():
    headers = httpx.Headers({**_kind("ThrottlingException"), "retry-after": "4"})
    error = bedrock().map_error(429, headers, b'{"message": "slow down"}')
    assert isinstance(error, RateLimitedError) and error.retry_after == 4.0

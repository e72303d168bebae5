"""Golden: OpenAI chat requests become exactly these Anthropic Messages requests."""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr

from providers.anthropic import AnthropicAdapter
from providers.base import Target
from providers.errors import InvalidRequestError
from providers.types import ChatRequest

PNG = "iVBORw0KGgo="


def target(**overrides) -> Target:
    fields = dict(
        id="claude/anthropic/claude-sonnet#0",
        model_name="claude",
        provider="anthropic",
        provider_type="anthropic",
        model="claude-sonnet",
        base_url="",
        api_key=SecretStr("sk-ant-test"),
    )
    fields.update(overrides)
    return Target(**fields)


def build(body: dict, **target_overrides) -> dict:
    request = ChatRequest.model_validate({"model": "claude", **body})
    upstream = AnthropicAdapter().build_request(request, target(**target_overrides))
    return json.loads(upstream.content)


def test_url_and_headers():
    request = ChatRequest.model_validate(
        {"model": "claude", "messages": [{"role": "user", "content": "hi"}]}
    )
    upstream = AnthropicAdapter().build_request(request, target(headers={"anthropic-beta": "b1"}))
    assert upstream.method == "POST"
    assert str(upstream.url) == "https://api.anthropic.com/v1/messages"
    assert upstream.headers["x-api-key"] == "sk-ant-test"
    assert upstream.headers["anthropic-version"] == "2023-06-01"
    assert upstream.headers["content-type"] == "application/json"
    assert upstream.headers["anthropic-beta"] == "b1"
    assert "authorization" not in upstream.headers


def test_base_url_and_version_come_from_the_provider():
    request = ChatRequest.model_validate(
        {"model": "claude", "messages": [{"role": "user", "content": "hi"}]}
    )
    upstream = AnthropicAdapter().build_request(
        request, target(base_url="http://127.0.0.1:9/v1/", options={"api_version": "2024-01-01"})
    )
    assert str(upstream.url) == "http://127.0.0.1:9/v1/messages"
    assert upstream.headers["anthropic-version"] == "2024-01-01"


GOLDEN = [
    pytest.param(
        {"messages": [{"role": "user", "content": "hi"}]},
        {
            "model": "claude-sonnet",
            "max_tokens": 4096,
            "messages": [{"role": "user", "content": "hi"}],
        },
        id="minimal: default max_tokens",
    ),
    pytest.param(
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Use metric."}]},
                {"role": "user", "content": "one"},
                {"role": "user", "content": "two"},
            ],
            "max_completion_tokens": 50,
            "max_tokens": 999,
            "temperature": 0.3,
            "top_p": 0.9,
            "stop": "END",
            "user": "user-42",
            "seed": 7,
            "stream": True,
        },
        {
            "model": "claude-sonnet",
            "max_tokens": 50,
            "system": "Be brief.\n\nUse metric.",
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}],
                }
            ],
            "stop_sequences": ["END"],
            "temperature": 0.3,
            "top_p": 0.9,
            "metadata": {"user_id": "user-42"},
            "stream": True,
        },
        id="system lifted, same-role turns merged, sampling, seed dropped",
    ),
    pytest.param(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "text",
                            "text": "What is this?",
                            "cache_control": {"type": "ephemeral"},
                        },
                        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                        {
                            "type": "image_url",
                            "image_url": {"url": "https://example.com/cat.jpg", "detail": "low"},
                        },
                    ],
                }
            ]
        },
        {
            "model": "claude-sonnet",
            "max_tokens": 4096,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "text",
                            "text": "What is this?",
                            "cache_control": {"type": "ephemeral"},
                        },
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                        },
                        {
                            "type": "image",
                            "source": {"type": "url", "url": "https://example.com/cat.jpg"},
                        },
                    ],
                }
            ],
        },
        id="images: data URI to base64, https to url source",
    ),
    pytest.param(
        {
            "messages": [
                {"role": "user", "content": "weather in Paris and Oslo?"},
                {
                    "role": "assistant",
                    "content": "Checking.",
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
                        },
                        {
                            "id": "call.2",
                            "type": "function",
                            "function": {"name": "weather", "arguments": ""},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
                {
                    "role": "tool",
                    "tool_call_id": "call.2",
                    "content": [{"type": "text", "text": "rain"}],
                },
                {"role": "user", "content": "thanks"},
            ],
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "weather",
                        "description": "Weather now",
                        "parameters": {
                            "type": "object",
                            "properties": {"city": {"type": "string"}},
                        },
                    },
                },
                {"type": "function", "function": {"name": "clock"}},
            ],
            "tool_choice": {"type": "function", "function": {"name": "weather"}},
            "parallel_tool_calls": False,
        },
        {
            "model": "claude-sonnet",
            "max_tokens": 4096,
            "messages": [
                {"role": "user", "content": "weather in Paris and Oslo?"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": "Checking."},
                        {
                            "type": "tool_use",
                            "id": "call_1",
                            "name": "weather",
                            "input": {"city": "Paris"},
                        },
                        {"type": "tool_use", "id": "call_2", "name": "weather", "input": {}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "call_1", "content": "sunny"},
                        {"type": "tool_result", "tool_use_id": "call_2", "content": "rain"},
                        {"type": "text", "text": "thanks"},
                    ],
                },
            ],
            "tools": [
                {
                    "name": "weather",
                    "description": "Weather now",
                    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
                {"name": "clock", "input_schema": {"type": "object", "properties": {}}},
            ],
            "tool_choice": {"type": "tool", "name": "weather", "disable_parallel_tool_use": True},
        },
        id="tools: history, results merged into one user turn, named choice, no parallel",
    ),
    pytest.param(
        {
            "messages": [{"role": "user", "content": "x"}],
            "tools": [
                {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
            ],
            "tool_choice": "required",
        },
        {
            "model": "claude-sonnet",
            "max_tokens": 4096,
            "messages": [{"role": "user", "content": "x"}],
            "tools": [{"name": "f", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "any"},
        },
        id="tool_choice required is any",
    ),
    pytest.param(
        {
            "messages": [{"role": "user", "content": "x"}],
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "tool_choice": "none",
            "parallel_tool_calls": False,
        },
        {
            "model": "claude-sonnet",
            "max_tokens": 4096,
            "messages": [{"role": "user", "content": "x"}],
            "tools": [{"name": "f", "input_schema": {"type": "object", "properties": {}}}],
            "tool_choice": {"type": "none"},
        },
        id="tool_choice none",
    ),
    pytest.param(
        {
            "messages": [{"role": "user", "content": "a person"}],
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": "person",
                    "schema": {"type": "object", "properties": {"name": {"type": "string"}}},
                },
            },
        },
        {
            "model": "claude-sonnet",
            "max_tokens": 4096,
            "messages": [{"role": "user", "content": "a person"}],
            "tools": [
                {
                    "name": "person",
                    "description": "Respond with JSON matching this schema.",
                    "input_schema": {"type": "object", "properties": {"name": {"type": "string"}}},
                }
            ],
            "tool_choice": {"type": "tool", "name": "person"},
        },
        id="response_format json_schema is a forced tool",
    ),
    pytest.param(
        {
            "messages": [{"role": "user", "content": "json"}],
            "response_format": {"type": "json_object"},
        },
        {
            "model": "claude-sonnet",
            "max_tokens": 4096,
            "messages": [{"role": "user", "content": "json"}],
            "tools": [
                {
                    "name": "json_response",
                    "description": "Respond with a JSON object.",
                    "input_schema": {"type": "object"},
                }
            ],
            "tool_choice": {"type": "tool", "name": "json_response"},
        },
        id="response_format json_object",
    ),
]


@pytest.mark.parametrize(("openai", "anthropic"), GOLDEN)
def test_golden_bodies(openai, anthropic):
    assert build(openai) == anthropic


def test_tool_history_without_tools_declares_the_called_tools_unusable():
    body = build(
        {
            "messages": [
                {"role": "user", "content": "x"},
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": "{}"}}],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "r"},
            ]
        }
    )
    assert body["tools"] == [{"name": "f", "input_schema": {"type": "object"}}]
    assert body["tool_choice"] == {"type": "none"}


def test_default_max_tokens_comes_from_the_provider():
    body = build(
        {"messages": [{"role": "user", "content": "x"}]}, options={"default_max_tokens": 123}
    )
    assert body["max_tokens"] == 123


def test_cache_control_on_a_system_part_keeps_system_as_blocks():
    body = build(
        {
            "messages": [
                {
                    "role": "system",
                    "content": [
                        {"type": "text", "text": "long", "cache_control": {"type": "ephemeral"}}
                    ],
                },
                {"role": "user", "content": "x"},
            ]
        }
    )
    assert body["system"] == [
        {"type": "text", "text": "long", "cache_control": {"type": "ephemeral"}}
    ]


REFUSED = [
    pytest.param({"n": 2}, "n", id="n>1"),
    pytest.param({"logprobs": True}, "logprobs", id="logprobs"),
    pytest.param({"logit_bias": {"1": 5}}, "logit_bias", id="logit_bias"),
    pytest.param({"presence_penalty": 0.5}, "presence_penalty", id="presence_penalty"),
    pytest.param({"temperature": 1.5}, "temperature", id="temperature above 1"),
    pytest.param({"functions": [{"name": "f"}]}, "functions", id="legacy functions"),
    pytest.param(
        {"response_format": {"type": "yaml"}}, "response_format.type", id="unknown format"
    ),
    pytest.param(
        {
            "response_format": {"type": "json_object"},
            "tools": [{"type": "function", "function": {"name": "f"}}],
        },
        "response_format",
        id="response_format with tools",
    ),
    pytest.param(
        {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "a", "schema": {"type": "array"}},
            }
        },
        "response_format.json_schema.schema",
        id="non-object schema",
    ),
    pytest.param(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "file:///etc/passwd"}}],
                }
            ]
        },
        "messages[0].content[0].image_url",
        id="file URL",
    ),
    pytest.param(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "data:image/tiff;base64,AAAA"}}
                    ],
                }
            ]
        },
        "messages[0].content[0].image_url",
        id="unsupported image type",
    ),
    pytest.param(
        {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
        "messages[0].content[0].type",
        id="audio part",
    ),
    pytest.param(
        {
            "messages": [
                {"role": "user", "content": "x"},
                {
                    "role": "assistant",
                    "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{oops"}}],
                },
            ]
        },
        "messages[1].tool_calls[0].function.arguments",
        id="arguments not JSON",
    ),
    pytest.param(
        {"messages": [{"role": "user", "content": "x"}, {"role": "tool", "content": "r"}]},
        "messages[1].tool_call_id",
        id="tool message without id",
    ),
    pytest.param({"messages": [{"role": "system", "content": "only"}]}, None, id="no conversation"),
]


@pytest.mark.parametrize(("extra", "param"), REFUSED)
def test_what_anthropic_cannot_honour_is_a_clear_400(extra, param):
    body = {"messages": [{"role": "user", "content": "x"}], **extra}
    with pytest.raises(InvalidRequestError) as caught:
        build(body)
    assert caught.value.param == param
    assert caught.value.http_status == 400

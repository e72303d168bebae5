"""Golden: OpenAI chat requests become exactly these Gemini generateContent requests."""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr

from providers.base import Target
from providers.errors import InvalidRequestError
from providers.gemini import GeminiAdapter
from providers.types import ChatRequest

PNG = "iVBORw0KGgo="


def target(**overrides) -> Target:
    fields = dict(
        id="gem/gemini/gemini-2.5-flash#0",
        model_name="gem",
        provider="gemini",
        provider_type="gemini",
        model="gemini-2.5-flash",
        base_url="",
        api_key=SecretStr("AIza-test"),
    )
    fields.update(overrides)
    return Target(**fields)


def build(body: dict, **target_overrides) -> dict:
    request = ChatRequest.model_validate({"model": "gem", **body})
    return json.loads(GeminiAdapter().build_request(request, target(**target_overrides)).content)


def test_url_and_headers():
    request = ChatRequest.model_validate(
        {"model": "gem", "messages": [{"role": "user", "content": "hi"}]}
    )
    upstream = GeminiAdapter().build_request(request, target(headers={"x-extra": "1"}))
    assert upstream.method == "POST"
    assert str(upstream.url) == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    )
    assert upstream.headers["x-goog-api-key"] == "AIza-test"
    assert upstream.headers["content-type"] == "application/json"
    assert upstream.headers["x-extra"] == "1"
    assert "key=" not in str(upstream.url)  # the key never travels in the URL


def test_streaming_url_asks_for_sse():
    request = ChatRequest.model_validate(
        {"model": "gem", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    )
    upstream = GeminiAdapter().build_request(
        request,
        target(
            base_url="http://127.0.0.1:9/", model="models/gemini-pro", options={"api_version": "v1"}
        ),
    )
    assert (
        str(upstream.url) == "http://127.0.0.1:9/v1/models/gemini-pro:streamGenerateContent?alt=sse"
    )
    assert "stream" not in json.loads(upstream.content)


GOLDEN = [
    pytest.param(
        {"messages": [{"role": "user", "content": "hi"}]},
        {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        id="minimal",
    ),
    pytest.param(
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": "Use metric."},
                {"role": "user", "content": "one"},
                {"role": "user", "content": [{"type": "text", "text": "two"}]},
                {"role": "assistant", "content": "ok"},
            ],
            "temperature": 1.5,
            "top_p": 0.5,
            "top_k": 40,
            "max_tokens": 100,
            "stop": ["END", "STOP"],
            "n": 2,
            "seed": 7,
            "presence_penalty": 0.5,
            "frequency_penalty": 0,
            "user": "dropped",
        },
        {
            "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Use metric."}]},
            "contents": [
                {"role": "user", "parts": [{"text": "one"}, {"text": "two"}]},
                {"role": "model", "parts": [{"text": "ok"}]},
            ],
            "generationConfig": {
                "temperature": 1.5,
                "topP": 0.5,
                "topK": 40,
                "maxOutputTokens": 100,
                "stopSequences": ["END", "STOP"],
                "candidateCount": 2,
                "seed": 7,
                "presencePenalty": 0.5,
            },
        },
        id="system instruction, merged turns, generation config",
    ),
    pytest.param(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Compare"},
                        {
                            "type": "image_url",
                            "image_url": {"url": f"data:image/webp;name=a.webp;BASE64,{PNG}"},
                        },
                        {
                            "type": "image_url",
                            "image_url": {"url": "https://example.com/a/cat.png?x=1"},
                        },
                        {"type": "image_url", "image_url": {"url": "https://example.com/photo"}},
                    ],
                }
            ]
        },
        {
            "contents": [
                {
                    "role": "user",
                    "parts": [
                        {"text": "Compare"},
                        {"inlineData": {"mimeType": "image/webp", "data": PNG}},
                        {
                            "fileData": {
                                "mimeType": "image/png",
                                "fileUri": "https://example.com/a/cat.png?x=1",
                            }
                        },
                        {
                            "fileData": {
                                "mimeType": "image/jpeg",
                                "fileUri": "https://example.com/photo",
                            }
                        },
                    ],
                }
            ]
        },
        id="images: inlineData and fileData",
    ),
    pytest.param(
        {
            "messages": [
                {"role": "user", "content": "weather?"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "call_0123456789abcdef01234567",
                            "type": "function",
                            "function": {"name": "weather", "arguments": '{"city":"Oslo"}'},
                        },
                        {
                            "id": "fc-7",
                            "type": "function",
                            "function": {"name": "clock", "arguments": ""},
                        },
                        {
                            "id": "call_0123456789abcdef01234568__sig__c2ln-_w",
                            "type": "function",
                            "function": {"name": "weather", "arguments": "{}"},
                        },
                    ],
                },
                {
                    "role": "tool",
                    "tool_call_id": "call_0123456789abcdef01234567",
                    "content": "sunny",
                },
                {"role": "tool", "tool_call_id": "fc-7", "content": '{"time": "noon"}'},
                {
                    "role": "tool",
                    "tool_call_id": "call_0123456789abcdef01234568__sig__c2ln-_w",
                    "content": [{"type": "text", "text": "[1]"}],
                },
            ],
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "weather",
                        "description": "Weather now",
                        "parameters": {
                            "type": "object",
                            "properties": {"city": {"type": "string", "format": "email"}},
                            "required": ["city"],
                            "additionalProperties": False,
                        },
                        "strict": True,
                    },
                },
                {
                    "type": "function",
                    "function": {
                        "name": "clock",
                        "parameters": {"type": "object", "properties": {}},
                    },
                },
            ],
            "tool_choice": "required",
        },
        {
            "contents": [
                {"role": "user", "parts": [{"text": "weather?"}]},
                {
                    "role": "model",
                    "parts": [
                        {"functionCall": {"name": "weather", "args": {"city": "Oslo"}}},
                        {"functionCall": {"name": "clock", "args": {}, "id": "fc-7"}},
                        {
                            "functionCall": {"name": "weather", "args": {}},
                            "thoughtSignature": "c2ln+/w=",
                        },
                    ],
                },
                {
                    "role": "user",
                    "parts": [
                        {"functionResponse": {"name": "weather", "response": {"output": "sunny"}}},
                        {
                            "functionResponse": {
                                "name": "clock",
                                "response": {"time": "noon"},
                                "id": "fc-7",
                            }
                        },
                        {"functionResponse": {"name": "weather", "response": {"output": "[1]"}}},
                    ],
                },
            ],
            "tools": [
                {
                    "functionDeclarations": [
                        {
                            "name": "weather",
                            "description": "Weather now",
                            "parameters": {
                                "type": "OBJECT",
                                "properties": {"city": {"type": "STRING"}},
                                "required": ["city"],
                            },
                        },
                        {"name": "clock"},
                    ]
                }
            ],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY"}},
        },
        id="tools: calls, signatures and responses in history, schema translated",
    ),
    pytest.param(
        {
            "messages": [{"role": "user", "content": "x"}],
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
            "parallel_tool_calls": False,
        },
        {
            "contents": [{"role": "user", "parts": [{"text": "x"}]}],
            "tools": [{"functionDeclarations": [{"name": "f"}]}],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}},
        },
        id="named tool choice",
    ),
    pytest.param(
        {
            "messages": [{"role": "user", "content": "x"}],
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "tool_choice": "none",
        },
        {
            "contents": [{"role": "user", "parts": [{"text": "x"}]}],
            "tools": [{"functionDeclarations": [{"name": "f"}]}],
            "toolConfig": {"functionCallingConfig": {"mode": "NONE"}},
        },
        id="tool choice none",
    ),
    pytest.param(
        {
            "messages": [{"role": "user", "content": "a person"}],
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": "person",
                    "strict": True,
                    "schema": {
                        "$schema": "https://json-schema.org/draft/2020-12/schema",
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "age": {"type": ["integer", "null"]},
                            "pet": {"$ref": "#/$defs/pet"},
                            "tags": {"type": "array", "items": {"const": "a"}},
                            "id": {
                                "anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]
                            },
                        },
                        "required": ["name", "age", "pet", "ghost"],
                        "additionalProperties": False,
                        "$defs": {
                            "pet": {
                                "type": "object",
                                "properties": {"kind": {"enum": ["cat", "dog"]}},
                            }
                        },
                    },
                },
            },
        },
        {
            "contents": [{"role": "user", "parts": [{"text": "a person"}]}],
            "generationConfig": {
                "responseMimeType": "application/json",
                "responseSchema": {
                    "type": "OBJECT",
                    "properties": {
                        "name": {"type": "STRING"},
                        "age": {"type": "INTEGER", "nullable": True},
                        "pet": {
                            "type": "OBJECT",
                            "properties": {"kind": {"type": "STRING", "enum": ["cat", "dog"]}},
                        },
                        "tags": {"type": "ARRAY", "items": {"type": "STRING", "enum": ["a"]}},
                        "id": {
                            "nullable": True,
                            "anyOf": [{"type": "STRING"}, {"type": "INTEGER"}],
                        },
                    },
                    "required": ["name", "age", "pet"],
                },
            },
        },
        id="response_format json_schema: refs inlined, null types nullable",
    ),
    pytest.param(
        {
            "messages": [{"role": "user", "content": "json"}],
            "response_format": {"type": "json_object"},
        },
        {
            "contents": [{"role": "user", "parts": [{"text": "json"}]}],
            "generationConfig": {"responseMimeType": "application/json"},
        },
        id="response_format json_object",
    ),
]


@pytest.mark.parametrize(("openai", "gemini"), GOLDEN)
def test_golden_bodies(openai, gemini):
    assert build(openai) == gemini


def test_default_max_tokens_comes_from_the_provider():
    body = build(
        {"messages": [{"role": "user", "content": "x"}]}, options={"default_max_tokens": 64}
    )
    assert body["generationConfig"] == {"maxOutputTokens": 64}


def test_all_of_and_type_lists_translate():
    schema = {
        "allOf": [
            {
                "type": "object",
                "properties": {"a": {"type": ["string", "number"]}},
                "required": ["a"],
            },
            {"properties": {"b": {"oneOf": [{"type": "boolean"}]}}, "required": ["b"]},
        ]
    }
    body = build(
        {
            "messages": [{"role": "user", "content": "x"}],
            "tools": [{"type": "function", "function": {"name": "f", "parameters": schema}}],
        }
    )
    assert body["tools"][0]["functionDeclarations"][0]["parameters"] == {
        "type": "OBJECT",
        "properties": {
            "a": {"anyOf": [{"type": "STRING"}, {"type": "NUMBER"}]},
            "b": {"type": "BOOLEAN"},
        },
        "required": ["a", "b"],
    }


REFUSED = [
    pytest.param({"logprobs": True}, "logprobs", id="logprobs"),
    pytest.param({"logit_bias": {"1": 5}}, "logit_bias", id="logit_bias"),
    pytest.param(
        {"response_format": {"type": "yaml"}}, "response_format.type", id="unknown format"
    ),
    pytest.param(
        {"tool_choice": "sometimes", "tools": [{"type": "function", "function": {"name": "f"}}]},
        "tool_choice",
        id="bad tool_choice",
    ),
    pytest.param(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [{"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}],
                }
            ]
        },
        "messages[0].content[0].image_url",
        id="ftp URL",
    ),
    pytest.param(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "data:image/png,notbase64"}}
                    ],
                }
            ]
        },
        "messages[0].content[0].image_url",
        id="data URI not base64",
    ),
    pytest.param(
        {
            "messages": [
                {"role": "user", "content": "x"},
                {"role": "tool", "tool_call_id": "nope", "content": "r"},
            ]
        },
        "messages[1].tool_call_id",
        id="tool result with unknown call id",
    ),
    pytest.param(
        {
            "messages": [{"role": "user", "content": "x"}],
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "tree",
                        "parameters": {
                            "type": "object",
                            "properties": {"child": {"$ref": "#/$defs/node"}},
                            "$defs": {
                                "node": {
                                    "type": "object",
                                    "properties": {"next": {"$ref": "#/$defs/node"}},
                                }
                            },
                        },
                    },
                }
            ],
        },
        "tools[0].function.parameters.properties.child.properties.next",
        id="recursive schema",
    ),
]


@pytest.mark.parametrize(("extra", "param"), REFUSED)
def test_what_gemini_cannot_honour_is_a_clear_400(extra, param):
    body = {"messages": [{"role": "user", "content": "x"}], **extra}
    with pytest.raises(InvalidRequestError) as caught:
        build(body)
    assert caught.value.param == param


def test_a_named_tool_message_without_history_uses_its_name():
    body = build(
        {
            "messages": [
                {"role": "user", "content": "x"},
                {"role": "tool", "tool_call_id": "elsewhere", "name": "lookup", "content": "r"},
            ]
        }
    )
    assert body["contents"] == [
        {
            "role": "user",
            "parts": [
                {"text": "x"},
                {
                    "functionResponse": {
                        "name": "lookup",
                        "response": {"output": "r"},
                        "id": "elsewhere",
                    }
                },
            ],
        }
    ]

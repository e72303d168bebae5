"""A user points the official OpenAI SDK at Arbiter, which routes to a Gemini upstream
(the fake, on 127.0.0.1). Nothing Gemini-specific appears on the user's side."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from gateway.app import create_app
from tests.conftest import MASTER_KEY, UPSTREAM_KEY, make_settings
from tests.fakes.serving import ServerThread
from tests.integration.test_anthropic_e2e import PNG, TOOLS, reassemble

MODELS = (
    "gemini-flash",
    "rate-limited",
    "too-long",
    "blocked",
    "stream-error",
    "thinking-3",
    "with-ids",
)


@pytest.fixture(scope="module")
def api(fake_gemini_server) -> Iterator[openai.OpenAI]:
    """One Arbiter for the module (tests reset the fake upstream, not the gateway)."""
    fake_gemini, _ = fake_gemini_server
    config = {
        "providers": {
            "google": {
                "type": "gemini",
                "base_url": fake_gemini.url,
                "api_key": UPSTREAM_KEY,
                "timeout_s": 5,
            }
        },
        "models": {
            name: {"deployments": [{"provider": "google", "model": name}]} for name in MODELS
        },
        "routing": {"retries": 0},
        "cache": {"enabled": False},
    }
    server = ServerThread(create_app(make_settings(config))).start()
    yield openai.OpenAI(base_url=server.url + "/v1", api_key=MASTER_KEY, max_retries=0)
    server.stop()


def test_a_chat_with_a_system_prompt(api, fake_gemini):
    reply = api.chat.completions.with_raw_response.create(
        model="gemini-flash",
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "hello gemini"},
        ],
        temperature=0.2,
        max_tokens=50,
    )
    completion = reply.parse()
    assert completion.choices[0].message.content == "hello gemini"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.completion_tokens == 2
    assert reply.headers["x-arbiter-provider"] == "google"
    assert fake_gemini.count() == 1
    call = fake_gemini.calls[0]
    assert call.path == "/v1beta/models/gemini-flash:generateContent"
    assert call.headers["x-goog-api-key"] == UPSTREAM_KEY
    assert call.body == {
        "systemInstruction": {"parts": [{"text": "You are terse."}]},
        "contents": [{"role": "user", "parts": [{"text": "hello gemini"}]}],
        "generationConfig": {"temperature": 0.2, "maxOutputTokens": 50},
    }


def test_a_stream_reassembles_to_the_json_answer(api, fake_gemini):
    request = dict(
        model="gemini-flash", messages=[{"role": "user", "content": "one two three four"}]
    )
    whole = api.chat.completions.create(**request)
    chunks = list(
        api.chat.completions.create(**request, stream=True, stream_options={"include_usage": True})
    )
    streamed = reassemble(chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert streamed["text"] == whole.choices[0].message.content == "one two three four"
    assert streamed["finish"] == whole.choices[0].finish_reason == "stop"
    assert streamed["usage"] == whole.usage.model_dump()
    assert fake_gemini.count() == 2
    assert fake_gemini.calls[1].path.endswith(":streamGenerateContent")
    assert fake_gemini.calls[1].query == "alt=sse"


@pytest.mark.parametrize("model", ["gemini-flash", "with-ids", "thinking-3"])
def test_a_tool_round_trip(api, fake_gemini, model):
    """Gemini 3 refuses history whose function calls lost their thoughtSignature; the
    signature rides in the OpenAI tool-call id and comes back with it."""
    messages = [{"role": "user", "content": "find cats"}]
    first = api.chat.completions.create(
        model=model, messages=messages, tools=TOOLS, tool_choice="required"
    )
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert (call.function.name, json.loads(call.function.arguments)) == (
        "lookup",
        {"text": "find cats"},
    )
    streamed = reassemble(
        list(
            api.chat.completions.create(
                model=model, messages=messages, tools=TOOLS, tool_choice="required", stream=True
            )
        )
    )
    assert streamed["calls"] == [
        {"id": call.id, "name": "lookup", "arguments": call.function.arguments}
    ]
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "cats purr"},
    ]
    answer = api.chat.completions.create(model=model, messages=messages, tools=TOOLS)
    assert answer.choices[0].message.content == 'Tool results: {"output": "cats purr"}'
    assert fake_gemini.count() == 3
    history = fake_gemini.calls[2].body["contents"]
    assert history[1]["role"] == "model"
    assert history[1]["parts"][0]["functionCall"]["args"] == {"text": "find cats"}
    assert history[2]["parts"][0]["functionResponse"]["name"] == "lookup"


def test_several_choices_come_from_candidate_count(api, fake_gemini):
    completion = api.chat.completions.create(
        model="gemini-flash", n=2, messages=[{"role": "user", "content": "pick"}]
    )
    assert [c.message.content for c in completion.choices] == ["pick", "pick #1"]
    assert fake_gemini.calls[0].body["generationConfig"] == {"candidateCount": 2}


def test_image_parts_reach_gemini_without_being_fetched(api, fake_gemini):
    completion = api.chat.completions.create(
        model="gemini-flash",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "describe"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                    {"type": "image_url", "image_url": {"url": "https://images.example/cat.jpg"}},
                ],
            }
        ],
    )
    assert completion.choices[0].message.content == "describe"
    assert fake_gemini.count() == 1
    assert fake_gemini.calls[0].body["contents"][0]["parts"][1:] == [
        {"inlineData": {"mimeType": "image/png", "data": PNG}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://images.example/cat.jpg"}},
    ]


def test_json_schema_becomes_a_response_schema(api, fake_gemini):
    api.chat.completions.create(
        model="gemini-flash",
        messages=[{"role": "user", "content": "{}"}],
        response_format={
            "type": "json_schema",
            "json_schema": {
                "name": "thing",
                "schema": {
                    "type": "object",
                    "properties": {"a": {"type": "string"}},
                    "additionalProperties": False,
                },
            },
        },
    )
    assert fake_gemini.calls[0].body["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseSchema": {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}},
    }


@pytest.mark.parametrize(
    ("model", "status", "code"),
    [
        ("rate-limited", 502, "upstream_error"),
        ("too-long", 400, "context_length_exceeded"),
        ("blocked", 400, "content_filter"),
    ],
)
def test_upstream_errors_reach_the_caller_as_openai_errors(api, fake_gemini, model, status, code):
    with pytest.raises(openai.APIStatusError) as caught:
        api.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
    assert (caught.value.status_code, caught.value.code) == (status, code)
    assert fake_gemini.count() == 1


def test_an_error_mid_stream_ends_with_an_error_event(api, fake_gemini):
    stream = api.chat.completions.create(
        model="stream-error", stream=True, messages=[{"role": "user", "content": "x y"}]
    )
    received = []
    with pytest.raises(openai.APIError):
        for chunk in stream:
            received.append(chunk)
    assert [c.choices[0].delta.content for c in received] == ["", "x "]
    assert fake_gemini.count() == 1

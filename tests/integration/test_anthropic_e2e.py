"""A user points the official OpenAI SDK at Arbiter, which routes to an Anthropic upstream
(the fake, on 127.0.0.1). Nothing Anthropic-specific appears on the user's side."""

from __future__ import annotations

import json
from collections.abc import Iterator

import openai
import pytest

from gateway.app import create_app
from tests.conftest import MASTER_KEY, UPSTREAM_KEY, make_settings
from tests.fakes.serving import ServerThread

PNG = "iVBORw0KGgo="
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look a word up",
            "parameters": {"type": "object", "properties": {"text": {"type": "string"}}},
        },
    }
]
MODELS = ("claude", "overloaded", "too-long", "stream-overload", "thinker", "cached")


@pytest.fixture(scope="module")
def api(fake_anthropic_server) -> Iterator[openai.OpenAI]:
    """One Arbiter for the module (tests reset the fake upstream, not the gateway)."""
    fake_anthropic, _ = fake_anthropic_server
    config = {
        "providers": {
            "claude-provider": {
                "type": "anthropic",
                "base_url": fake_anthropic.url,
                "api_key": UPSTREAM_KEY,
                "timeout_s": 5,
                "default_max_tokens": 256,
            }
        },
        "models": {
            name: {"deployments": [{"provider": "claude-provider", "model": name}]}
            for name in MODELS
        },
        "routing": {"retries": 0},
        "cache": {"enabled": False},
    }
    server = ServerThread(create_app(make_settings(config))).start()
    yield openai.OpenAI(base_url=server.url + "/v1", api_key=MASTER_KEY, max_retries=0)
    server.stop()


def reassemble(chunks: list) -> dict:
    """What a streaming client ends up with: text, tool calls, finish reason, usage."""
    text, calls, finish, usage = "", {}, None, None
    for chunk in chunks:
        if chunk.usage:
            usage = chunk.usage.model_dump()
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
            for call in choice.delta.tool_calls or ():
                slot = calls.setdefault(call.index, {"id": None, "name": "", "arguments": ""})
                slot["id"] = call.id or slot["id"]
                slot["name"] += call.function.name or ""
                slot["arguments"] += call.function.arguments or ""
    return {
        "text": text,
        "calls": [calls[i] for i in sorted(calls)],
        "finish": finish,
        "usage": usage,
    }


def test_a_chat_with_a_system_prompt(api, fake_anthropic):
    reply = api.chat.completions.with_raw_response.create(
        model="claude",
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "hello claude"},
        ],
    )
    completion = reply.parse()
    assert completion.choices[0].message.content == "hello claude"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.completion_tokens == 2
    assert reply.headers["x-arbiter-provider"] == "claude-provider"
    assert fake_anthropic.count() == 1
    call = fake_anthropic.calls[0]
    assert call.path == "/v1/messages"
    assert call.headers["x-api-key"] == UPSTREAM_KEY
    assert call.body == {
        "model": "claude",
        "max_tokens": 256,
        "system": "You are terse.",
        "messages": [{"role": "user", "content": "hello claude"}],
    }


def test_a_stream_reassembles_to_the_json_answer(api, fake_anthropic):
    request = dict(model="claude", messages=[{"role": "user", "content": "one two three four"}])
    whole = api.chat.completions.create(**request)
    chunks = list(
        api.chat.completions.create(**request, stream=True, stream_options={"include_usage": True})
    )
    streamed = reassemble(chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert streamed["text"] == whole.choices[0].message.content == "one two three four"
    assert streamed["finish"] == whole.choices[0].finish_reason == "stop"
    assert streamed["usage"] == whole.usage.model_dump()
    assert fake_anthropic.count() == 2
    assert fake_anthropic.calls[1].body["stream"] is True


def test_a_tool_round_trip(api, fake_anthropic):
    messages = [{"role": "user", "content": "find cats"}]
    first = api.chat.completions.create(
        model="claude", messages=messages, tools=TOOLS, tool_choice="required"
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
                model="claude", messages=messages, tools=TOOLS, tool_choice="required", stream=True
            )
        )
    )
    assert streamed["calls"] == [
        {"id": call.id, "name": "lookup", "arguments": json.dumps({"text": "find cats"})}
    ]
    assert streamed["finish"] == "tool_calls"
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "cats purr"},
    ]
    answer = api.chat.completions.create(model="claude", messages=messages, tools=TOOLS)
    assert answer.choices[0].message.content == "Tool results: cats purr"
    assert fake_anthropic.count() == 3
    sent = fake_anthropic.calls[2].body["messages"]
    assert sent[1]["content"] == [
        {"type": "tool_use", "id": call.id, "name": "lookup", "input": {"text": "find cats"}}
    ]
    assert sent[2]["content"] == [
        {"type": "tool_result", "tool_use_id": call.id, "content": "cats purr"}
    ]


def test_image_parts_reach_anthropic_without_being_fetched(api, fake_anthropic):
    completion = api.chat.completions.create(
        model="claude",
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
    assert fake_anthropic.count() == 1
    assert fake_anthropic.calls[0].body["messages"][0]["content"][1:] == [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
        {"type": "image", "source": {"type": "url", "url": "https://images.example/cat.jpg"}},
    ]


def test_json_mode_answers_with_json_content(api, fake_anthropic):
    completion = api.chat.completions.create(
        model="claude",
        messages=[{"role": "user", "content": "hi"}],
        response_format={"type": "json_object"},
    )
    assert json.loads(completion.choices[0].message.content) == {"text": "hi"}
    assert completion.choices[0].finish_reason == "stop"
    assert fake_anthropic.count() == 1


def test_thinking_is_not_part_of_the_answer_and_cache_reads_are_cached_tokens(api, fake_anthropic):
    thought = api.chat.completions.create(
        model="thinker", messages=[{"role": "user", "content": "why"}]
    )
    cached = api.chat.completions.create(
        model="cached", messages=[{"role": "user", "content": "a b"}]
    )
    assert thought.choices[0].message.content == "why"
    assert cached.usage.prompt_tokens_details.cached_tokens == 100
    assert cached.usage.prompt_tokens == cached.usage.total_tokens - cached.usage.completion_tokens
    assert fake_anthropic.count() == 2


def test_an_overloaded_upstream_is_a_502(api, fake_anthropic):
    with pytest.raises(openai.APIStatusError) as caught:
        api.chat.completions.create(model="overloaded", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 502
    assert fake_anthropic.count() == 1


def test_a_prompt_too_long_is_context_length_exceeded(api, fake_anthropic):
    with pytest.raises(openai.BadRequestError) as caught:
        api.chat.completions.create(model="too-long", messages=[{"role": "user", "content": "x"}])
    assert caught.value.code == "context_length_exceeded"
    assert fake_anthropic.count() == 1


def test_an_unsupported_field_is_refused_before_any_upstream_call(api, fake_anthropic):
    with pytest.raises(openai.BadRequestError) as caught:
        api.chat.completions.create(
            model="claude", n=2, messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.body["param"] == "n"
    assert fake_anthropic.count() == 0


def test_an_overload_mid_stream_ends_with_an_error_event(api, fake_anthropic):
    stream = api.chat.completions.create(
        model="stream-overload", stream=True, messages=[{"role": "user", "content": "x y"}]
    )
    received = []
    with pytest.raises(openai.APIError, match="Overloaded|failed"):
        for chunk in stream:
            received.append(chunk)
    assert received and received[0].choices[0].delta.role == "assistant"
    assert fake_anthropic.count() == 1

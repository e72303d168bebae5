"""A user points the official OpenAI SDK at Arbiter, in front of an OpenAI upstream."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import openai
import pytest

from tests.conftest import MASTER_KEY, UPSTREAM_KEY, openai_config


@pytest.fixture
def arbiter(gateway, fake_openai):
    config = openai_config(fake_openai.url, "gpt-4o-mini")
    config["keys"] = [
        {"name": "team-a", "key": "sk-team-a-123456", "models": ["gpt-4o-mini"]},
        {"name": "team-b", "key": "sk-team-b-123456", "models": ["demo"]},
    ]
    config["providers"]["local"] = {"type": "mock"}
    config["models"]["demo"] = {"deployments": [{"provider": "local", "model": "mock-1"}]}
    return gateway(config)


@pytest.fixture
def client() -> Iterator[Callable[..., openai.OpenAI]]:
    """SDK clients for a gateway, each closed (with its pooled connections) after the test."""
    made: list[openai.OpenAI] = []

    def make(arbiter, key=MASTER_KEY) -> openai.OpenAI:
        made.append(openai.OpenAI(base_url=arbiter.url + "/v1", api_key=key, max_retries=0))
        return made[-1]

    yield make
    for sdk in made:
        sdk.close()


def test_sync_create_answers_through_the_upstream(arbiter, fake_openai, client):
    reply = client(arbiter).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello upstream"}]
    )
    completion = reply.parse()
    assert completion.choices[0].message.content == "hello upstream"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.total_tokens > 0
    assert reply.headers["x-arbiter-model"] == "gpt-4o-mini"
    assert reply.headers["x-arbiter-provider"] == "openai"
    assert reply.headers["x-arbiter-attempts"] == "1"
    assert fake_openai.count() == 1
    call = fake_openai.calls[0]
    assert call.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert call.body["model"] == "gpt-4o-mini"


async def test_async_create(arbiter, fake_openai):
    async with openai.AsyncOpenAI(
        base_url=arbiter.url + "/v1", api_key=MASTER_KEY, max_retries=0
    ) as aclient:
        completion = await aclient.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "async hello"}]
        )
    assert completion.choices[0].message.content == "async hello"
    assert fake_openai.count() == 1


def test_streaming_reassembles_text_with_usage(arbiter, fake_openai, client):
    stream = client(arbiter).chat.completions.create(
        model="gpt-4o-mini",
        stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "one two three four"}],
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four"
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 4
    assert fake_openai.count() == 1


def test_stream_without_include_usage_sends_no_usage_chunk(arbiter, fake_openai, client):
    chunks = list(
        client(arbiter).chat.completions.create(
            model="gpt-4o-mini", stream=True, messages=[{"role": "user", "content": "hi you"}]
        )
    )
    assert all(c.choices for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "hi you"
    # Arbiter still asked the upstream for usage, to account for cost.
    assert fake_openai.calls[0].body["stream_options"] == {"include_usage": True}


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


def test_tool_call_round_trip(arbiter, fake_openai, client):
    api = client(arbiter)
    messages = [{"role": "user", "content": "find cats"}]
    first = api.chat.completions.create(
        model="gpt-4o-mini", messages=messages, tools=TOOLS, tool_choice="required"
    )
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "lookup"
    assert json.loads(call.function.arguments) == {"text": "find cats"}
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "cats are great"},
    ]
    second = api.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=TOOLS)
    assert second.choices[0].message.content == "find cats"
    sent = fake_openai.calls[1].body["messages"]
    assert sent[1]["tool_calls"][0]["id"] == call.id
    assert sent[2] == {"role": "tool", "tool_call_id": call.id, "content": "cats are great"}


def test_streamed_tool_call_arguments_reassemble(arbiter, fake_openai, client):
    chunks = list(
        client(arbiter).chat.completions.create(
            model="gpt-4o-mini",
            stream=True,
            messages=[{"role": "user", "content": "dogs"}],
            tools=TOOLS,
            tool_choice={"type": "function", "function": {"name": "lookup"}},
        )
    )
    args = "".join(
        tc.function.arguments or ""
        for c in chunks
        if c.choices
        for tc in (c.choices[0].delta.tool_calls or [])
    )
    assert json.loads(args) == {"text": "dogs"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"


def test_models_list_is_filtered_by_key(arbiter, client):
    assert [m.id for m in client(arbiter, "sk-team-a-123456").models.list()] == ["gpt-4o-mini"]
    assert [m.id for m in client(arbiter, "sk-team-b-123456").models.list()] == ["demo"]
    assert sorted(m.id for m in client(arbiter).models.list()) == ["demo", "gpt-4o-mini"]


def test_unknown_fields_reach_the_upstream_untouched(arbiter, fake_openai, client):
    client(arbiter).chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "x"}],
        extra_body={"logit_bias": {"50256": -100}, "vendor_flag": {"deep": [1, 2]}},
        seed=7,
        temperature=0.2,
    )
    body = fake_openai.calls[0].body
    assert body["logit_bias"] == {"50256": -100}
    assert body["vendor_flag"] == {"deep": [1, 2]}
    assert body["seed"] == 7 and body["temperature"] == 0.2


def test_request_id_is_echoed(arbiter, client):
    reply = client(arbiter).chat.completions.with_raw_response.create(
        model="demo",
        messages=[{"role": "user", "content": "x"}],
        extra_headers={"x-request-id": "my-trace-42"},
    )
    assert reply.headers["x-request-id"] == "my-trace-42"

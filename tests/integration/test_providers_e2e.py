"""A user puts Azure, Mistral, Cohere, Bedrock or a Groq-style OpenAI-compatible
upstream behind Arbiter and uses the official OpenAI SDK unchanged: JSON,
streaming, tools and errors come back exactly as OpenAI's would."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest

from gateway.app import create_app
from tests.conftest import MASTER_KEY, UPSTREAM_KEY, make_settings
from tests.fakes.bedrock_server import ACCESS_KEY, SECRET_KEY
from tests.fakes.serving import ServerThread

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


@dataclass
class Case:
    provider: dict[str, Any]
    fake: Any
    model: str
    deployment: dict[str, Any]


FAKES = {
    "azure": "_azure_server",
    "mistral": "_mistral_server",
    "cohere": "_cohere_server",
    "bedrock": "_bedrock_server",
    "groq": "fake_openai_server",
}


def make_case(name: str, fake: Any) -> Case:
    if name == "azure":
        provider = {"type": "azure", "base_url": fake.url, "api_key": UPSTREAM_KEY}
        return Case(provider, fake, "gpt-4o", {"deployment": "prod-gpt4o"})
    if name == "mistral":
        provider = {"type": "mistral", "base_url": fake.url, "api_key": UPSTREAM_KEY}
        return Case(provider, fake, "mistral-small-latest", {})
    if name == "cohere":
        provider = {"type": "cohere", "base_url": fake.url, "api_key": UPSTREAM_KEY}
        return Case(provider, fake, "command-a-03-2025", {})
    if name == "bedrock":
        provider = {**make_case_for_bedrock(fake), "region": "us-east-1"}
        return Case(provider, fake, "anthropic.claude-3-haiku-20240307-v1:0", {})
    provider = {
        "type": "openai-compatible",
        "preset": "groq",
        "base_url": fake.url,
        "api_key": UPSTREAM_KEY,
    }
    return Case(provider, fake, "llama-3.3-70b-versatile", {})


def _fake(name: str, request: pytest.FixtureRequest) -> Any:
    fake = request.getfixturevalue(FAKES[name])
    if name == "groq":  # the shared fake OpenAI fixture yields (fake, server)
        fake, server = fake
        fake.url = server.url + "/v1"
    return fake


@pytest.fixture(scope="module", params=sorted(FAKES))
def served(request: pytest.FixtureRequest):
    """One Arbiter per provider for the whole module, in front of that provider's fake."""
    case = make_case(request.param, _fake(request.param, request))

    def deployment(model: str) -> dict[str, Any]:
        return {"provider": "up", "model": model, **case.deployment}

    config = {
        "providers": {"up": {**case.provider, "timeout_s": 5}},
        "models": {
            "chat": {"deployments": [deployment(case.model)]},
            "limited": {"deployments": [deployment("rate-limited")]},
            "too-long": {"deployments": [deployment("context-too-long")]},
        },
        "routing": {"retries": 0},
        "cache": {"enabled": False},
    }
    server = ServerThread(create_app(make_settings(config))).start()
    with httpx.Client(timeout=10) as http:
        api = openai.OpenAI(
            base_url=server.url + "/v1", api_key=MASTER_KEY, max_retries=0, http_client=http
        )
        yield case, api
    server.stop()


@pytest.fixture
def case(served) -> Any:
    fake = served[0].fake
    fake.reset()
    yield served[0]
    fake.reset()


@pytest.fixture
def api(served, case) -> Any:
    return served[1]


def test_json_answer(api, case):
    reply = api.chat.completions.with_raw_response.create(
        model="chat",
        messages=[
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "hello from the sdk"},
        ],
        temperature=0.3,
        max_tokens=40,
    )
    completion = reply.parse()
    assert completion.choices[0].message.content == "hello from the sdk"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.completion_tokens == 4
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )
    assert reply.headers["x-arbiter-provider"] == "up"
    assert case.fake.count() == 1


def test_stream_reassembles_to_the_json_answer(api, case):
    messages = [{"role": "user", "content": "one two three four five"}]
    whole = api.chat.completions.create(model="chat", messages=messages)
    chunks = list(
        api.chat.completions.create(
            model="chat", messages=messages, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == whole.choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert case.fake.count() == 2


def _streamed_calls(chunks: list[Any]) -> list[dict[str, Any]]:
    calls: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for delta in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            call = calls.setdefault(delta.index, {"id": None, "name": None, "arguments": ""})
            if delta.id:
                call["id"] = delta.id
            if delta.function and delta.function.name:
                call["name"] = delta.function.name
            if delta.function and delta.function.arguments:
                call["arguments"] += delta.function.arguments
    return [calls[i] for i in sorted(calls)]


def test_forced_tool_call_json_and_stream_agree(api, case):
    messages = [{"role": "user", "content": "find cats"}]
    whole = api.chat.completions.create(
        model="chat", messages=messages, tools=TOOLS, tool_choice="required"
    )
    call = whole.choices[0].message.tool_calls[0]
    assert whole.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "lookup"
    assert json.loads(call.function.arguments) == {"text": "find cats"}
    chunks = list(
        api.chat.completions.create(
            model="chat", messages=messages, tools=TOOLS, tool_choice="required", stream=True
        )
    )
    streamed = _streamed_calls(chunks)
    assert [(c["id"], c["name"]) for c in streamed] == [(call.id, "lookup")]
    assert json.loads(streamed[0]["arguments"]) == json.loads(call.function.arguments)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"
    assert case.fake.count() == 2


def test_tool_result_round_trip(api, case):
    messages: list[dict[str, Any]] = [{"role": "user", "content": "find dogs"}]
    first = api.chat.completions.create(
        model="chat",
        messages=messages,
        tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "lookup"}},
    )
    call = first.choices[0].message.tool_calls[0]
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "dogs are loyal"},
        {"role": "user", "content": "thanks"},
    ]
    second = api.chat.completions.create(model="chat", messages=messages, tools=TOOLS)
    assert second.choices[0].message.content == "thanks"
    assert second.choices[0].finish_reason == "stop"
    assert case.fake.count() == 2


def test_openai_style_history_ids_are_accepted(api, case):
    """Ids minted by OpenAI (call_...) reach upstreams with rules of their own (Mistral)."""
    messages = [
        {"role": "user", "content": "find owls"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_Xk9vQ2mLp0aZ7bYc",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": '{"text": "owls"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_Xk9vQ2mLp0aZ7bYc", "content": "owls hoot"},
        {"role": "user", "content": "summarise"},
    ]
    reply = api.chat.completions.create(model="chat", messages=messages, tools=TOOLS)
    assert reply.choices[0].message.content == "summarise"
    assert case.fake.count() == 1


def test_context_window_error_is_a_400_with_its_code(api, case):
    with pytest.raises(openai.BadRequestError) as caught:
        api.chat.completions.create(model="too-long", messages=[{"role": "user", "content": "x"}])
    assert caught.value.code == "context_length_exceeded"
    assert case.fake.count() == 1


def test_upstream_rate_limit_is_not_retried_past_the_config(api, case):
    with pytest.raises(openai.APIStatusError) as caught:
        api.chat.completions.create(model="limited", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 502
    assert case.fake.count() == 1


def test_bedrock_exception_mid_stream_ends_with_one_error_event(gateway, fake_bedrock):
    """After the first bytes went out, an upstream exception event cannot fail over:
    the client gets the chunks so far, one error event and [DONE]."""
    case = make_case_for_bedrock(fake_bedrock)
    config = {
        "providers": {"up": case},
        "models": {"chat": {"deployments": [{"provider": "up", "model": "stream-throttled"}]}},
        "routing": {"retries": 0},
    }
    server = gateway(config)
    body = {"model": "chat", "stream": True, "messages": [{"role": "user", "content": "a b c"}]}
    with httpx.Client(timeout=10) as http:
        reply = http.post(
            server.url + "/v1/chat/completions",
            json=body,
            headers={"authorization": f"Bearer {MASTER_KEY}"},
        )
    assert reply.status_code == 200
    events = [line[6:] for line in reply.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    payloads = [json.loads(e) for e in events[:-1]]
    errors = [p for p in payloads if "error" in p]
    assert len(errors) == 1 and payloads[-1] is errors[0]
    assert payloads[0]["choices"][0]["delta"]["role"] == "assistant"
    assert fake_bedrock.count() == 1


def make_case_for_bedrock(fake: Any) -> dict[str, Any]:
    return {
        "type": "bedrock",
        "base_url": fake.url,
        "aws_access_key_id": ACCESS_KEY,
        "aws_secret_access_key": SECRET_KEY,
        "timeout_s": 5,
    }

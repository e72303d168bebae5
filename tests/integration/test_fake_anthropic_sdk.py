"""The fake Anthropic server is faithful: the official ``anthropic`` SDK talks to it
unchanged, JSON and streaming, tools and errors included."""

from __future__ import annotations

import anthropic
import pytest

from tests.conftest import UPSTREAM_KEY
from tests.fakes.anthropic_server import anthropic_error

WEATHER = {
    "name": "get_weather",
    "description": "Weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.fixture
def sdk(fake_anthropic) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=fake_anthropic.url, api_key=UPSTREAM_KEY, max_retries=0)


def test_create_parses_into_a_message(sdk, fake_anthropic):
    message = sdk.messages.create(
        model="claude-test",
        max_tokens=100,
        system="be brief",
        messages=[{"role": "user", "content": "hello there"}],
    )
    assert message.content[0].type == "text" and message.content[0].text == "hello there"
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == 2 and message.usage.input_tokens > 0
    assert fake_anthropic.count() == 1
    assert fake_anthropic.calls[0].body["system"] == "be brief"


def test_stream_accumulates_to_the_same_message(sdk, fake_anthropic):
    kwargs = dict(
        model="claude-test", max_tokens=100, messages=[{"role": "user", "content": "a b c d"}]
    )
    created = sdk.messages.create(**kwargs)
    with sdk.messages.stream(**kwargs) as stream:
        texts = list(stream.text_stream)
        final = stream.get_final_message()
    assert "".join(texts) == "a b c d"
    assert final.model_dump() == created.model_dump()
    assert fake_anthropic.count() == 2


def test_tool_use_streams_and_parses(sdk, fake_anthropic):
    kwargs = dict(
        model="claude-test",
        max_tokens=100,
        tools=[WEATHER],
        tool_choice={"type": "tool", "name": "get_weather"},
        messages=[{"role": "user", "content": "Paris"}],
    )
    created = sdk.messages.create(**kwargs)
    with sdk.messages.stream(**kwargs) as stream:
        final = stream.get_final_message()
    assert created.stop_reason == "tool_use"
    assert created.content[0].type == "tool_use"
    assert created.content[0].input == {"text": "Paris"}
    assert final.model_dump() == created.model_dump()
    assert fake_anthropic.count() == 2


def test_thinking_blocks_stream_like_the_api(sdk, fake_anthropic):
    with sdk.messages.stream(
        model="thinker", max_tokens=100, messages=[{"role": "user", "content": "why"}]
    ) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].signature == "c2ln"


@pytest.mark.parametrize(
    ("model", "error_class", "status", "kind"),
    [
        ("overloaded", anthropic.InternalServerError, 529, "overloaded_error"),
        ("rate-limited", anthropic.RateLimitError, 429, "rate_limit_error"),
        ("too-long", anthropic.BadRequestError, 400, "invalid_request_error"),
        ("server-error", anthropic.InternalServerError, 500, "api_error"),
    ],
)
def test_error_bodies_parse_as_sdk_errors(sdk, fake_anthropic, model, error_class, status, kind):
    with pytest.raises(error_class) as caught:
        sdk.messages.create(model=model, max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == status
    assert caught.value.body["error"]["type"] == kind
    assert fake_anthropic.count() == 1


def test_a_bad_key_is_an_authentication_error(fake_anthropic):
    sdk = anthropic.Anthropic(base_url=fake_anthropic.url, api_key="wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError):
        sdk.messages.create(model="m", max_tokens=10, messages=[{"role": "user", "content": "x"}])


def test_an_error_event_mid_stream_raises(sdk, fake_anthropic):
    with pytest.raises(anthropic.APIStatusError) as caught:
        with sdk.messages.stream(
            model="stream-overload", max_tokens=10, messages=[{"role": "user", "content": "x y"}]
        ) as stream:
            stream.get_final_message()
    assert "Overloaded" in str(caught.value)


def test_the_fake_refuses_what_the_api_refuses(sdk, fake_anthropic):
    with pytest.raises(anthropic.BadRequestError, match="tool_use_id"):
        sdk.messages.create(
            model="m",
            max_tokens=10,
            messages=[
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_x"}]}
            ],
        )
    fake_anthropic.script.append(anthropic_error(400, "invalid_request_error", "scripted"))
    with pytest.raises(anthropic.BadRequestError, match="scripted"):
        sdk.messages.create(model="m", max_tokens=10, messages=[{"role": "user", "content": "x"}])

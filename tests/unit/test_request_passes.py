"""A chat request is read once and reused: the upstream body comes from the
client's own JSON object, and the cache key from the fields the client set.
Both must say exactly what a full dump of the validated request says."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cache.keys import EXCLUDED_FIELDS, KEY_VERSION, cache_key, canonical_fields
from gateway.api.chat import ClientHeaders, FinishingAnswer, parse_chat_request, task_label
from gateway.auth import Caller
from gateway.context import RequestContext
from providers.types import ChatRequest
from tests.unit.providers.golden import adapter, body_of, target

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def as_bytes(value: Any) -> bytes:
    """JSON with sorted keys: tells 1, 1.0 and true apart, as the upstream does."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def dumped_body(request: ChatRequest) -> dict[str, Any]:
    return request.model_dump(exclude_unset=True)


def dumped_key(request: ChatRequest, *, model: str, scope: str) -> str:
    body = request.model_dump(exclude=set(EXCLUDED_FIELDS), exclude_none=True)
    data = {"v": KEY_VERSION, "scope": scope, "model": model, "request": body}
    return hashlib.blake2b(as_bytes(data), digest_size=32).hexdigest()


json_scalars = (
    st.none() | st.booleans() | st.integers(-5, 300) | st.floats(0, 2) | st.text(max_size=4)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)
# What pydantic's lax mode turns into a number or a boolean, beside the real thing.
numbers = st.none() | st.integers(1, 300) | st.floats(0, 1) | st.sampled_from(["1", "0.5", "256"])
booleans = st.none() | st.booleans() | st.sampled_from([0, 1, "true", "false", "yes"])


@st.composite
def messages(draw: st.DrawFn) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": draw(st.sampled_from(["system", "user", "assistant", "tool"]))
    }
    content = draw(
        st.none()
        | st.text(max_size=8)
        | st.lists(
            st.fixed_dictionaries(
                {"type": st.just("text")}, optional={"text": st.none() | st.text(max_size=5)}
            ),
            max_size=2,
        )
    )
    if draw(st.booleans()):
        message["content"] = content
    if draw(st.booleans()):
        message["name"] = draw(st.none() | st.text(min_size=1, max_size=4))
    if draw(st.booleans()):
        call: dict[str, Any] = {"id": "call_1", "function": {"name": "f"}}
        if draw(st.booleans()):
            call["type"] = "function"
        if draw(st.booleans()):
            call["function"]["arguments"] = draw(st.sampled_from(["", '{"a": 1}']))
        message["tool_calls"] = [call]
    if draw(st.booleans()):
        message[draw(st.sampled_from(["x_note", "refusal"]))] = draw(json_values)
    return message


@st.composite
def client_objects(draw: st.DrawFn) -> dict[str, Any]:
    """A JSON object a client might send: set fields, nulls, strings for numbers, extras."""
    data: dict[str, Any] = {
        "model": "demo",
        "messages": draw(st.lists(messages(), min_size=1, max_size=3)),
    }
    optional = {
        "temperature": numbers,
        "top_p": numbers,
        "max_tokens": numbers,
        "n": numbers,
        "seed": numbers,
        "stream": booleans,
        "parallel_tool_calls": booleans,
        "stream_options": st.none()
        | st.fixed_dictionaries({}, optional={"include_usage": booleans}),
        "tools": st.none()
        | st.lists(
            st.fixed_dictionaries(
                {
                    "function": st.fixed_dictionaries(
                        {"name": st.just("f")},
                        optional={"parameters": json_values, "strict": booleans},
                    )
                },
                optional={"type": st.just("function")},
            ),  # fmt: skip
            max_size=2,
        ),
        "tool_choice": st.none()
        | st.sampled_from(["auto", "none"])
        | st.just({"type": "function"}),
        "response_format": st.none()
        | st.dictionaries(st.text(max_size=3), json_values, max_size=2),
        "stop": st.none() | st.text(max_size=3) | st.lists(st.text(max_size=3), max_size=2),
        "user": st.none() | st.text(max_size=4),
        "metadata": st.none() | st.dictionaries(st.text(max_size=3), json_values, max_size=2),
        "presence_penalty": json_values,
        "logit_bias": json_values,
    }
    for name in draw(st.sets(st.sampled_from(sorted(optional)))):
        data[name] = draw(optional[name])
    return data


def valid_request(data: dict[str, Any]) -> ChatRequest:
    """The request parsed as the gateway parses it; invalid ones are not examples."""
    try:
        return ChatRequest.from_client(data)
    except ValidationError:
        reject()


@PROPERTY
@given(client_objects())
def test_the_upstream_body_is_the_dump_of_what_the_client_set(data):
    request = valid_request(data)
    assert as_bytes(request.to_openai_body()) == as_bytes(dumped_body(request))


@PROPERTY
@given(client_objects())
def test_the_cache_key_is_the_one_of_the_full_dump(data):
    request = valid_request(data)
    assert as_bytes(canonical_fields(request, EXCLUDED_FIELDS)) == as_bytes(
        request.model_dump(exclude=set(EXCLUDED_FIELDS), exclude_none=True)
    )
    assert cache_key(request, model="m", scope="global") == dumped_key(
        request, model="m", scope="global"
    )


BASE = {"model": "demo", "messages": [{"role": "user", "content": "What is 17 + 25?"}]}


def test_numbers_sent_as_text_reach_the_upstream_as_numbers():
    request = parse_chat_request(
        orjson.dumps({**BASE, "max_tokens": "256", "temperature": 1, "stream": "true"})
    )
    body = request.to_openai_body()
    assert body["max_tokens"] == 256 and isinstance(body["max_tokens"], int)
    assert body["temperature"] == 1.0 and isinstance(body["temperature"], float)
    assert body["stream"] is True


def test_a_request_changed_after_parsing_sends_its_new_value():
    request = parse_chat_request(orjson.dumps({**BASE, "temperature": 0.2}))
    request.temperature = 0.9
    assert request.to_openai_body()["temperature"] == 0.9
    copy = request.model_copy(update={"model": "other"})
    assert copy.to_openai_body()["model"] == "other"


def test_building_the_body_leaves_the_request_as_the_client_sent_it():
    groq = adapter("openai-compatible", preset="groq")  # removes messages' names
    llama = target("openai-compatible", "llama")
    data = {
        **BASE,
        "messages": [
            {"role": "user", "content": "hi", "name": "ann"},
            {"role": "tool", "content": "4", "name": "add", "tool_call_id": "c1"},
        ],
        "stream": True,
        "stream_options": {"include_usage": False},
    }
    request = parse_chat_request(orjson.dumps(data))
    first = body_of(groq.build_request(request, llama))
    assert first["model"] == "llama"
    assert first["messages"] == [
        {"role": "user", "content": "hi"},
        {"role": "tool", "content": "4", "name": "add", "tool_call_id": "c1"},
    ]
    assert body_of(groq.build_request(request, llama)) == first  # a retry sends the same body
    assert request.to_openai_body() == data  # the client's object is untouched
    assert request.messages[0].name == "ann"


def test_headers_are_found_in_any_case_and_absent_ones_give_the_default():
    scope = {"headers": [(b"x-arbiter-task", b" Math "), (b"x-arbiter-task", b"second")]}
    headers = ClientHeaders(scope=scope)
    assert headers.get("X-Arbiter-Task") == " Math "
    assert headers.get("cache-control") is None
    assert headers.get("cache-control", "none") == "none"
    assert task_label(headers, ChatRequest.model_validate(BASE)) == "Math"
    assert (
        task_label(ClientHeaders(scope={"headers": []}), ChatRequest.model_validate(BASE))
        == "general"
    )


@pytest.mark.parametrize(
    "added",
    [{}, {"x-arbiter-cost-usd": "0.0001", "age": "3"}, {"x-arbiter-cache": "bypass"}],
    ids=["none", "hooks-headers", "a-hook-replaces-one-of-ours"],
)
def test_a_json_answer_carries_the_arbiter_headers_then_the_hooks(added):
    ctx = RequestContext("r1", Caller(name="team", models=None), ChatRequest.model_validate(BASE))
    ctx.model, ctx.provider, ctx.attempts = "demo", "openai", 2
    ctx.response_headers.update(added)
    answer = FinishingAnswer(b"{}", ctx, hooks=[])
    expected = {
        "x-arbiter-model": "demo",
        "x-arbiter-provider": "openai",
        "x-arbiter-attempts": "2",
        "x-arbiter-cache": "miss",
        **added,
    }
    assert answer.raw_headers == [
        (b"content-type", b"application/json"),
        (b"content-length", b"2"),
        *[(name.encode(), value.encode()) for name, value in expected.items()],
    ]

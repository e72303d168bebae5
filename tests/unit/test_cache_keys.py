"""The cache key: same question, same key; anything that changes the answer, another key."""

from __future__ import annotations

import pytest

from cache.keys import cache_key
from providers.types import ChatRequest, Message

BASE = {"model": "demo", "messages": [{"role": "user", "content": "What is 17 + 25?"}]}
TOOL = {
    "type": "function",
    "function": {"name": "add", "parameters": {"type": "object", "properties": {}}},
}


def key(body: dict, *, model: str = "demo-identity", scope: str = "key:team-a") -> str:
    """The key of ``body`` parsed as the gateway parses a client's request."""
    return cache_key(ChatRequest.from_client(body), model=model, scope=scope)


def test_the_same_request_always_has_the_same_key():
    assert key(BASE) == key(dict(BASE))
    assert len(key(BASE)) == 64 and int(key(BASE), 16) >= 0


def test_field_order_and_explicit_nulls_do_not_matter():
    reordered = {"messages": BASE["messages"], "temperature": None, "model": "demo"}
    assert key(reordered) == key(BASE)
    untyped_tool = {"function": {"parameters": {"properties": {}, "type": "object"}, "name": "add"}}
    assert key({**BASE, "tools": [untyped_tool]}) == key({**BASE, "tools": [TOOL]})


@pytest.mark.parametrize(
    "extra",
    [
        {"stream": True},
        {"stream": True, "stream_options": {"include_usage": True}},
        {"user": "end-user-42"},
        {"metadata": {"task": "math", "trace": "abc"}},
    ],
    ids=["stream", "stream_options", "user", "metadata"],
)
def test_fields_that_do_not_change_the_answer_are_left_out(extra):
    assert key({**BASE, **extra}) == key(BASE)


@pytest.mark.parametrize(
    "extra",
    [
        {"temperature": 0.7},
        {"top_p": 0.5},
        {"seed": 7},
        {"n": 2},
        {"stop": ["\n"]},
        {"max_tokens": 10},
        {"tools": [TOOL]},
        {"tools": [TOOL], "tool_choice": "required"},
        {"response_format": {"type": "json_object"}},
        {"presence_penalty": 0.5},  # not a known field: passed upstream, so in the key
        {"messages": [{"role": "user", "content": "What is 17 + 26?"}]},
        {"messages": [{"role": "system", "content": "Be terse."}, *BASE["messages"]]},
    ],
    ids=lambda e: "+".join(e),
)
def test_fields_that_change_the_answer_change_the_key(extra):
    assert key({**BASE, **extra}) != key(BASE)


def test_temperature_values_are_told_apart():
    assert key({**BASE, "temperature": 0}) != key({**BASE, "temperature": 1})
    assert key({**BASE, "temperature": 1}) == key({**BASE, "temperature": 1.0})


def test_the_resolved_model_and_the_scope_are_part_of_the_key():
    assert key(BASE, model="other-identity") != key(BASE)
    assert key(BASE, scope="key:team-b") != key(BASE)
    assert key(BASE, scope="global") != key(BASE)


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "user", "content": "What is 17 + 25?"}],
        [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "Hi", "name": "ann"},
        ],
        [{"role": "user", "content": "Hi", "name": None}],
        [{"role": "user", "content": "Hi", "x-label": "kept upstream"}],
        [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
        [
            {"role": "user", "content": "Add 2 and 2"},
            {
                "role": "assistant",
                "tool_calls": [{"id": "c1", "function": {"name": "add", "arguments": "{}"}}],
            },
            {"role": "tool", "content": "4", "tool_call_id": "c1"},
        ],
    ],
    ids=["one", "names", "explicit null", "unknown field", "content parts", "tool calls"],
)
@pytest.mark.parametrize(
    "extra",
    [{}, {"tools": [TOOL]}, {"logit_bias": {"50256": -100}, "presence_penalty": None}],
    ids=["plain", "tools", "unknown fields"],
)
def test_a_request_from_a_client_and_one_built_in_code_have_the_same_key(messages, extra):
    """A client's messages are keyed from its JSON when they hold only strings, and its
    fields from what it set when they hold no model: the key must be the one of the
    validated request all the same."""
    body = {**BASE, "messages": messages, "temperature": 1, "max_tokens": "64", **extra}
    built = cache_key(ChatRequest.model_validate(body), model="demo-identity", scope="global")
    assert key(body, scope="global") == built


def test_an_explicit_null_in_a_message_does_not_change_the_key():
    with_null = {
        **BASE,
        "messages": [{"role": "user", "content": "What is 17 + 25?", "name": None}],
    }
    assert key(with_null) == key(BASE)


def test_a_request_changed_after_parsing_is_keyed_by_its_new_messages():
    request = ChatRequest.from_client(dict(BASE))
    before = cache_key(request, model="demo-identity", scope="global")
    request.messages = [Message(role="user", content="What is 17 + 26?")]
    assert cache_key(request, model="demo-identity", scope="global") != before

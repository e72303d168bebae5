"""Properties, for every provider type: any valid OpenAI request translates
without an exception (a documented InvalidRequestError for an unsupported
feature is the only way to refuse), and tool-call ids and argument JSON survive
request → provider and provider → response, in JSON answers and in streams."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from providers.errors import InvalidRequestError
from providers.types import ChatRequest
from tests.contract.kits import KITS
from tests.contract.test_adapter_conformance import PNG, TYPES

PROPERTY = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

words = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=12
)
names = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_]{0,15}", fullmatch=True)
ids = st.from_regex(r"[a-zA-Z0-9_-]{1,30}", fullmatch=True)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | words,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
    max_leaves=8,
)
arguments = st.dictionaries(names, json_values, max_size=4).map(json.dumps)
calls = st.lists(st.tuples(ids, names, arguments), min_size=1, max_size=3, unique_by=lambda c: c[0])

image_part = st.sampled_from(
    [
        {"type": "image_url", "image_url": {"url": PNG}},
        {"type": "image_url", "image_url": {"url": "https://img.test/a.png", "detail": "low"}},
    ]
)
text_part = words.map(lambda t: {"type": "text", "text": t})
user_content = words | st.lists(text_part | image_part, min_size=1, max_size=3)


@st.composite
def user_turn(draw: st.DrawFn) -> list[dict[str, Any]]:
    message: dict[str, Any] = {"role": "user", "content": draw(user_content)}
    if draw(st.booleans()):
        message["name"] = draw(names)
    return [message]


@st.composite
def tool_turn(draw: st.DrawFn) -> list[dict[str, Any]]:
    made = draw(calls)
    assistant = {
        "role": "assistant",
        "content": draw(st.none() | words),
        "tool_calls": [
            {"id": i, "type": "function", "function": {"name": n, "arguments": a}}
            for i, n, a in made
        ],
    }
    results = [{"role": "tool", "tool_call_id": i, "content": draw(words)} for i, _, _ in made]
    return [assistant, *results]


assistant_turn = words.map(lambda t: [{"role": "assistant", "content": t}])


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    if draw(st.booleans()):
        role = draw(st.sampled_from(["system", "developer"]))
        messages.append({"role": role, "content": draw(words)})
    for turn in draw(st.lists(user_turn() | assistant_turn | tool_turn(), max_size=4)):
        messages.extend(turn)
    messages.extend(draw(user_turn()))
    tool_names = draw(st.lists(names, max_size=3, unique=True))
    body: dict[str, Any] = {"model": "m", "messages": messages}
    if tool_names:
        body["tools"] = [
            {"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
            for n in tool_names
        ]
        choice = draw(st.sampled_from([None, "auto", "none", "required", "named"]))
        if choice == "named":
            body["tool_choice"] = {"type": "function", "function": {"name": tool_names[0]}}
        elif choice:
            body["tool_choice"] = choice
    optional = {
        "temperature": st.floats(0, 2),
        "top_p": st.floats(0, 1),
        "max_tokens": st.integers(1, 4096),
        "max_completion_tokens": st.integers(1, 4096),
        "stop": st.lists(words.filter(bool), min_size=1, max_size=2) | words.filter(bool),
        "seed": st.integers(0, 2**31),
        "n": st.integers(1, 3),
        "user": names,
        "stream": st.booleans(),
        "parallel_tool_calls": st.booleans(),
        "response_format": st.sampled_from(
            [
                {"type": "text"},
                {"type": "json_object"},
                {"type": "json_schema", "json_schema": {"name": "o", "schema": {"type": "object"}}},
            ]
        ),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            body[key] = draw(strategy)
    return body


def _history(request: ChatRequest) -> list[tuple[str, str, str]]:
    return [
        (c.id, c.function.name, c.function.arguments)
        for m in request.messages
        for c in m.tool_calls or ()
    ]


@pytest.mark.parametrize("provider_type", TYPES)
@PROPERTY
@given(body=requests())
def test_any_valid_request_translates_or_is_refused_clearly(provider_type, body):
    kit = KITS[provider_type]
    request = ChatRequest.model_validate(body)
    try:
        upstream = kit.adapter(provider_type).build_request(request, kit.target(provider_type))
    except InvalidRequestError as exc:
        assert exc.http_status == 400 and exc.message
        return
    assert upstream.method == "POST"
    sent = orjson.loads(upstream.content)
    history = _history(request)
    got = kit.sent_calls(sent)
    assert [(i, n) for i, n, _ in got] == [(kit.upstream_id(i), n) for i, n, _ in history]
    assert [json.loads(a) for _, _, a in got] == [json.loads(a) for _, _, a in history]
    results = [m.tool_call_id for m in request.messages if m.role == "tool"]
    assert kit.sent_results(sent) == [kit.upstream_id(i) for i in results]


@pytest.mark.parametrize("provider_type", TYPES)
@PROPERTY
@given(made=calls, step=st.integers(16, 96))
def test_tool_calls_come_back_intact_in_json_and_streams(provider_type, made, step):
    kit = KITS[provider_type]
    request = ChatRequest.model_validate(
        {"model": "m", "messages": [{"role": "user", "content": "go"}]}
    )
    adapter, target = kit.adapter(provider_type), kit.target(provider_type)
    from tests.contract.kits import response

    out = adapter.parse_response(response(kit.reply("", made)), request, target)
    got = [
        (c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
        for c in out["choices"][0]["message"]["tool_calls"]
    ]
    expected = [(i, n, json.loads(a)) for i, n, a in made]
    assert got == expected
    decoder = adapter.new_stream_decoder(request, target)
    data = kit.stream("", made)
    chunks = []
    for i in range(0, len(data), step):
        chunks += decoder.feed(data[i : i + step])
    chunks += decoder.close()
    streamed: dict[int, list[str]] = {}
    for chunk in chunks:
        for delta in chunk["choices"][0]["delta"].get("tool_calls", []) if chunk["choices"] else []:
            entry = streamed.setdefault(delta["index"], ["", "", ""])
            entry[0] = delta.get("id") or entry[0]
            entry[1] = (delta.get("function") or {}).get("name") or entry[1]
            entry[2] += (delta.get("function") or {}).get("arguments") or ""
    assert [(e[0], e[1], json.loads(e[2])) for _, e in sorted(streamed.items())] == expected

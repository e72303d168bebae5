"""Every registered provider type passes the same scenarios: what it supports is
translated and answered faithfully, what it does not is a clear 400, and what it
declares unsupported agrees with its capabilities. Kits (tests/contract/kits.py)
hold the little each wire format needs; a new provider type needs one entry."""

from __future__ import annotations

import json
from typing import Any

import httpx
import orjson
import pytest

from providers.errors import InvalidRequestError
from providers.registry import PROVIDER_TYPES
from providers.types import ChatRequest
from tests.contract.kits import KITS, USAGE, response
from tests.unit.providers.golden import PNG_URI as PNG

TOOL = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look a word up",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
    },
}
HISTORY = [
    {"role": "user", "content": "look up owls"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_a1", "type": "function",
             "function": {"name": "lookup", "arguments": '{"q": "owls"}'}},
            {"id": "call_b2", "type": "function",
             "function": {"name": "lookup", "arguments": '{"q": "hawks"}'}},
        ],
    },
    {"role": "tool", "tool_call_id": "call_a1", "content": "owls hoot"},
    {"role": "tool", "tool_call_id": "call_b2", "content": "hawks soar"},
    {"role": "user", "content": "compare them"},
]  # fmt: skip


def _user(content: Any) -> list[dict[str, Any]]:
    return [{"role": "user", "content": content}]


# name -> (request fields, the capability it needs or None)
SCENARIOS: dict[str, tuple[dict[str, Any], str | None]] = {
    "text": ({"messages": _user("hi")}, None),
    "system_and_developer": (
        {"messages": [{"role": "system", "content": "Be brief."},
                      {"role": "developer", "content": "No emojis."}, *_user("hi")]},
        None,
    ),
    "multi_turn_with_names": (
        {"messages": [{"role": "user", "content": "a", "name": "ann"},
                      {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]},
        None,
    ),
    "sampling": (
        {"messages": _user("hi"), "temperature": 0.5, "top_p": 0.9, "stop": ["x"],
         "max_tokens": 20},
        None,
    ),
    "max_completion_tokens": ({"messages": _user("hi"), "max_completion_tokens": 20}, None),
    "seed": ({"messages": _user("hi"), "seed": 42}, None),
    "user": ({"messages": _user("hi"), "user": "end-user-1"}, None),
    "n_choices": ({"messages": _user("hi"), "n": 2}, None),
    "image_data_uri": (
        {"messages": _user([{"type": "text", "text": "what?"},
                            {"type": "image_url", "image_url": {"url": PNG}}])},
        "vision",
    ),
    "image_https_url": (
        {"messages": _user([{"type": "image_url",
                             "image_url": {"url": "https://img.test/cat.png"}}])},
        "vision",
    ),
    "tools_auto": ({"messages": _user("hi"), "tools": [TOOL], "tool_choice": "auto"}, "tools"),
    "tool_choice_required": (
        {"messages": _user("hi"), "tools": [TOOL], "tool_choice": "required"}, "tools"
    ),
    "tool_choice_named": (
        {"messages": _user("hi"), "tools": [TOOL],
         "tool_choice": {"type": "function", "function": {"name": "lookup"}}},
        "tools",
    ),
    "tool_choice_none": ({"messages": _user("hi"), "tools": [TOOL], "tool_choice": "none"},
                         "tools"),
    "tool_history": ({"messages": HISTORY, "tools": [TOOL]}, "tools"),
    "json_object": ({"messages": _user("hi"), "response_format": {"type": "json_object"}},
                    "json_mode"),
    "json_schema": (
        {"messages": _user("hi"), "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "out", "schema": {"type": "object"}}}},
        "json_mode",
    ),
    "stream": ({"messages": _user("hi"), "stream": True}, "streaming"),
}  # fmt: skip

TYPES = sorted(t for t in PROVIDER_TYPES if t in KITS)


def chat(fields: dict[str, Any]) -> ChatRequest:
    return ChatRequest.model_validate({"model": "m", **fields})


def test_every_provider_type_has_a_conformance_kit():
    missing = sorted(set(PROVIDER_TYPES) - set(KITS))
    assert missing == [], f"add an entry to tests/contract/kits.py KITS for {missing}"


@pytest.mark.parametrize("provider_type", TYPES)
def test_declared_unsupported_scenarios_agree_with_capabilities(provider_type):
    kit = KITS[provider_type]
    capabilities = kit.adapter(provider_type).capabilities
    assert kit.unsupported <= set(SCENARIOS)
    for name, (_, needs) in SCENARIOS.items():
        if needs and not getattr(capabilities, needs):
            assert name in kit.unsupported, f"{name} needs {needs}, which is off"


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("provider_type", TYPES)
def test_scenario_translates_or_is_refused_clearly(provider_type, scenario):
    kit = KITS[provider_type]
    request = chat(SCENARIOS[scenario][0])
    adapter = kit.adapter(provider_type)
    if scenario in kit.unsupported:
        with pytest.raises(InvalidRequestError) as caught:
            adapter.build_request(request, kit.target(provider_type))
        assert caught.value.http_status == 400 and caught.value.message
        return
    upstream = adapter.build_request(request, kit.target(provider_type))
    assert isinstance(upstream, httpx.Request) and upstream.method == "POST"
    assert isinstance(orjson.loads(upstream.content), dict)


@pytest.mark.parametrize("provider_type", TYPES)
def test_tool_history_reaches_the_upstream_with_ids_and_arguments(provider_type):
    kit = KITS[provider_type]
    upstream = kit.adapter(provider_type).build_request(
        chat(SCENARIOS["tool_history"][0]), kit.target(provider_type)
    )
    body = orjson.loads(upstream.content)
    sent = kit.sent_calls(body)
    assert [(i, n) for i, n, _ in sent] == [
        (kit.upstream_id("call_a1"), "lookup"),
        (kit.upstream_id("call_b2"), "lookup"),
    ]
    assert [json.loads(a) for _, _, a in sent] == [{"q": "owls"}, {"q": "hawks"}]
    assert kit.sent_results(body) == [kit.upstream_id("call_a1"), kit.upstream_id("call_b2")]


@pytest.mark.parametrize("provider_type", TYPES)
def test_text_answer(provider_type):
    kit = KITS[provider_type]
    request = chat(SCENARIOS["text"][0])
    out = kit.adapter(provider_type).parse_response(
        response(kit.reply("Hello there", [])), request, kit.target(provider_type)
    )
    assert out["object"] == "chat.completion"
    choice = out["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == "Hello there"
    assert choice["finish_reason"] == "stop"
    assert (out["usage"]["prompt_tokens"], out["usage"]["completion_tokens"]) == USAGE


CALLS = [("tc_01", "lookup", '{"q": "owls", "n": [1, 2]}'), ("tc_02", "lookup", '{"q": "é"}')]


@pytest.mark.parametrize("provider_type", TYPES)
def test_tool_call_answer_keeps_ids_and_arguments(provider_type):
    kit = KITS[provider_type]
    request = chat(SCENARIOS["tools_auto"][0])
    out = kit.adapter(provider_type).parse_response(
        response(kit.reply("", CALLS)), request, kit.target(provider_type)
    )
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    got = [(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
           for c in choice["message"]["tool_calls"]]  # fmt: skip
    assert got == [(i, n, json.loads(a)) for i, n, a in CALLS]


def _decode(kit: Any, provider_type: str, data: bytes, step: int) -> list[dict[str, Any]]:
    request = chat(SCENARIOS["stream"][0])
    decoder = kit.adapter(provider_type).new_stream_decoder(request, kit.target(provider_type))
    chunks = []
    for i in range(0, len(data), step):
        chunks += decoder.feed(data[i : i + step])
    return chunks + decoder.close()


@pytest.mark.parametrize("provider_type", TYPES)
def test_stream_of_text(provider_type):
    kit = KITS[provider_type]
    chunks = _decode(kit, provider_type, kit.stream("Hello there, world", []), step=11)
    with_choices = [c for c in chunks if c["choices"]]
    assert with_choices[0]["choices"][0]["delta"].get("role") == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in with_choices)
    assert text == "Hello there, world"
    assert with_choices[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    usage = chunks[-1]["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == USAGE


@pytest.mark.parametrize("provider_type", TYPES)
def test_stream_of_parallel_tool_calls_reassembles(provider_type):
    kit = KITS[provider_type]
    chunks = _decode(kit, provider_type, kit.stream("", CALLS), step=7)
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for delta in chunk["choices"][0]["delta"].get("tool_calls", []) if chunk["choices"] else []:
            call = calls.setdefault(delta["index"], {"id": "", "name": "", "arguments": ""})
            call["id"] = delta.get("id") or call["id"]
            call["name"] = (delta.get("function") or {}).get("name") or call["name"]
            call["arguments"] += (delta.get("function") or {}).get("arguments") or ""
    got = [(calls[i]["id"], calls[i]["name"], json.loads(calls[i]["arguments"]))
           for i in sorted(calls)]  # fmt: skip
    assert got == [(i, n, json.loads(a)) for i, n, a in CALLS]
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == "tool_calls"

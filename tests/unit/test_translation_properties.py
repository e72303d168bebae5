"""Properties of the Anthropic and Gemini adapters over random valid OpenAI requests:

- translation never fails except with a documented InvalidRequestError, and what it
  builds passes the fake upstream's own checks of the provider's API rules;
- request → provider → response keeps tool-call ids and argument JSON intact, in a
  JSON answer and in a stream.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from providers.anthropic import AnthropicAdapter
from providers.errors import InvalidRequestError
from providers.gemini import GeminiAdapter
from providers.sse import encode_event
from providers.types import ChatRequest
from tests.fakes import anthropic_server, gemini_server
from tests.unit.test_anthropic_request import target as anthropic_target
from tests.unit.test_gemini_request import target as gemini_target

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TOOL_NAMES = ["lookup", "weather", "clock"]
SCHEMAS = [
    None,
    {"type": "object", "properties": {}},
    {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
    {
        "type": "object",
        "properties": {
            "n": {"type": ["integer", "null"], "minimum": 0},
            "mode": {"enum": ["a", "b"]},
            "level": {"enum": [1, 2, 3]},
            "when": {"type": "string", "format": "date-time"},
            "mail": {"type": "string", "format": "email"},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
        },
        "additionalProperties": False,
    },
    {
        "type": "object",
        "properties": {
            "item": {"$ref": "#/$defs/item"},
            "alt": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        },
        "$defs": {"item": {"type": "object", "properties": {"id": {"type": "integer"}}}},
    },
]

text = st.text(max_size=20)
safe_ids = st.from_regex(r"[A-Za-z0-9-]{1,16}", fullmatch=True)
signatures = st.binary(min_size=1, max_size=24).map(
    lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")
)
call_ids = st.one_of(
    safe_ids, st.tuples(safe_ids, signatures).map(lambda p: f"{p[0]}__sig__{p[1]}")
)
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    text,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)
arguments = st.dictionaries(text, json_values, max_size=4)
images = st.one_of(
    st.tuples(
        st.sampled_from(["png", "jpeg", "gif", "webp"]), st.binary(min_size=1, max_size=12)
    ).map(lambda p: f"data:image/{p[0]};base64,{base64.b64encode(p[1]).decode()}"),
    st.sampled_from(
        ["https://img.example/a.png", "https://img.example/photo", "http://x.example/y.jpg"]
    ),
)
parts = st.lists(
    st.one_of(
        text.map(lambda t: {"type": "text", "text": t}),
        images.map(lambda u: {"type": "image_url", "image_url": {"url": u}}),
    ),
    min_size=1,
    max_size=3,
)


@st.composite
def conversations(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Histories OpenAI itself accepts: tool messages answer the calls just before them."""
    messages: list[dict[str, Any]] = []
    if draw(st.booleans()):
        messages.append(
            {"role": draw(st.sampled_from(["system", "developer"])), "content": draw(text)}
        )
    used: set[str] = set()
    for _ in range(draw(st.integers(1, 4))):
        messages.append({"role": "user", "content": draw(st.one_of(text, parts))})
        if draw(st.booleans()):
            continue
        calls = []
        for _ in range(draw(st.integers(0, 2))):
            call_id = draw(call_ids.filter(lambda i: i not in used))
            used.add(call_id)
            args = json.dumps(draw(arguments))
            calls.append(
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": draw(st.sampled_from(TOOL_NAMES)), "arguments": args},
                }
            )
        assistant: dict[str, Any] = {
            "role": "assistant",
            "content": draw(st.one_of(st.none(), text)),
        }
        if calls:
            assistant["tool_calls"] = calls
        messages.append(assistant)
        for call in calls:
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": draw(text)})
    return messages


@st.composite
def requests(draw: st.DrawFn) -> ChatRequest:
    body: dict[str, Any] = {"model": "m", "messages": draw(conversations())}
    if draw(st.booleans()):
        body["tools"] = [
            {
                "type": "function",
                "function": {"name": name, "parameters": draw(st.sampled_from(SCHEMAS))},
            }
            for name in TOOL_NAMES
        ]
        body["tool_choice"] = draw(
            st.sampled_from(
                ["auto", "none", "required", {"type": "function", "function": {"name": "clock"}}]
            )
        )
        body["parallel_tool_calls"] = draw(st.booleans())
    optional = {
        "temperature": st.floats(0, 2),
        "top_p": st.floats(0, 1),
        "max_tokens": st.integers(1, 4000),
        "stop": st.one_of(text, st.lists(text, max_size=4)),
        "seed": st.integers(-(2**31), 2**31),
        "n": st.integers(1, 3),
        "user": text,
        "stream": st.booleans(),
        "response_format": st.sampled_from(
            [
                {"type": "text"},
                {"type": "json_object"},
                {"type": "json_schema", "json_schema": {"name": "out", "schema": SCHEMAS[3]}},
            ]
        ),
    }
    for name, strategy in optional.items():
        if draw(st.booleans()):
            body[name] = draw(strategy)
    return ChatRequest.model_validate(body)


def translate(adapter: Any, request: ChatRequest, target: Any) -> dict[str, Any] | None:
    try:
        return json.loads(adapter.build_request(request, target).content)
    except InvalidRequestError as exc:
        assert exc.http_status == 400 and exc.message
        return None


@SETTINGS
@given(requests())
def test_anthropic_translation_passes_the_api_rules(request):
    body = translate(AnthropicAdapter(), request, anthropic_target())
    if body is not None:
        headers = {"anthropic-version": "2023-06-01"}
        anthropic_server.validate(headers, body)  # raises as the API would


@SETTINGS
@given(requests())
def test_gemini_translation_passes_the_api_rules(request):
    body = translate(GeminiAdapter(), request, gemini_target())
    if body is not None:
        gemini_server.validate(body, "gemini-2.5-flash")  # raises as the API would


def history_calls(request: ChatRequest) -> list[tuple[str, Any]]:
    return [
        (call.id, json.loads(call.function.arguments))
        for message in request.messages
        for call in message.tool_calls or ()
    ]


def returned_calls(chat: dict[str, Any]) -> list[tuple[str, Any]]:
    calls = chat["choices"][0]["message"].get("tool_calls") or []
    return [(c["id"], json.loads(c["function"]["arguments"])) for c in calls]


def streamed_calls(chunks: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    calls: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for choice in chunk["choices"]:
            for call in choice["delta"].get("tool_calls") or ():
                slot = calls.setdefault(call["index"], {"id": "", "arguments": ""})
                slot["id"] = call.get("id") or slot["id"]
                slot["arguments"] += call["function"].get("arguments", "")
    return [(calls[i]["id"], json.loads(calls[i]["arguments"])) for i in sorted(calls)]


@SETTINGS
@given(requests())
def test_anthropic_keeps_tool_call_ids_and_arguments(request):
    """The tool_use blocks Arbiter sends, answered back by the model, are the same calls."""
    body = translate(AnthropicAdapter(), request, anthropic_target())
    if body is None:
        return
    blocks = [
        b
        for m in body["messages"]
        if isinstance(m["content"], list)
        for b in m["content"]
        if b["type"] == "tool_use"
    ]
    message = {
        "id": "msg_1",
        "type": "message",
        "model": "c",
        "content": blocks,
        "stop_reason": "tool_use",
        "usage": {},
    }
    plain = request.model_copy(update={"response_format": None})
    adapter, target = AnthropicAdapter(), anthropic_target()
    parsed = adapter.parse_response(httpx.Response(200, json=message), plain, target)
    assert returned_calls(parsed) == history_calls(request)
    events = [("message_start", {"type": "message_start", "message": {**message, "content": []}})]
    for index, block in enumerate(blocks):
        raw = json.dumps(block["input"])
        events += [
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {**block, "input": {}},
                },
            ),
            *[
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": raw[i : i + 3]},
                    },
                )
                for i in range(0, len(raw), 3)
            ],
            ("content_block_stop", {"type": "content_block_stop", "index": index}),
        ]
    events += [("message_stop", {"type": "message_stop"})]
    decoder = adapter.new_stream_decoder(plain, target)
    chunks = decoder.feed(b"".join(encode_event(n, d) for n, d in events)) + decoder.close()
    assert streamed_calls(chunks) == history_calls(request)


@SETTINGS
@given(requests())
def test_gemini_keeps_tool_call_ids_and_arguments(request):
    """The functionCall parts Arbiter sends (id and thoughtSignature included), answered
    back by the model, come out as the same OpenAI tool calls."""
    body = translate(GeminiAdapter(), request, gemini_target())
    if body is None:
        return
    calls = [p for c in body["contents"] for p in c["parts"] if "functionCall" in p]
    response = {
        "candidates": [
            {"content": {"role": "model", "parts": calls}, "finishReason": "STOP", "index": 0}
        ]
    }
    adapter, target = GeminiAdapter(), gemini_target()
    parsed = adapter.parse_response(httpx.Response(200, json=response), request, target)
    assert returned_calls(parsed) == history_calls(request)
    stream = [{"candidates": [{"content": {"parts": [p]}, "index": 0}]} for p in calls]
    stream.append({"candidates": [{"content": {"parts": []}, "finishReason": "STOP", "index": 0}]})
    decoder = adapter.new_stream_decoder(request, target)
    raw = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in stream)
    chunks = decoder.feed(raw) + decoder.close()
    assert streamed_calls(chunks) == history_calls(request)


@pytest.mark.parametrize(
    "adapter", [AnthropicAdapter(), GeminiAdapter()], ids=["anthropic", "gemini"]
)
def test_both_adapters_are_registered(adapter):
    from providers.registry import PROVIDER_TYPES, create_adapter

    assert type(create_adapter(adapter.name, {})) is type(adapter)
    assert PROVIDER_TYPES[adapter.name].requires_key

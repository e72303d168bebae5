"""What the conformance tests need to know about each provider type's wire format.

One ``Kit`` per registered provider type: how to build its adapter and a target,
how to write a canned upstream answer and stream in its wire format, how to read
the tool calls and tool results back out of an upstream request body, and which
shared scenarios it does not support. Adding a provider type means adding one
entry to ``KITS``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
from pydantic import SecretStr

from providers.base import Target
from providers.registry import create_adapter
from tests.contract import anthropic_gemini_wire as wire
from tests.fakes import bedrock_server, cohere_server

# A canned answer: text, or tool calls as (id, name, arguments JSON text).
Calls = list[tuple[str, str, str]]
USAGE = (11, 7)  # prompt, completion tokens in every canned answer


@dataclass(frozen=True)
class Kit:
    reply: Callable[[str, Calls], dict[str, Any]]  # the JSON answer body
    stream: Callable[[str, Calls], bytes]  # the stream body
    sent_calls: Callable[[dict[str, Any]], Calls]  # tool calls found in a request body
    sent_results: Callable[[dict[str, Any]], list[str]]  # tool-result ids in a request body
    unsupported: frozenset[str] = frozenset()
    options: dict[str, Any] = field(default_factory=dict)
    base_url: str = "http://upstream.test"
    upstream_id: Callable[[str], str] = lambda call_id: call_id  # the id the upstream sees

    def adapter(self, provider_type: str, **options: Any) -> Any:
        return create_adapter(provider_type, {**self.options, **options})

    def target(self, provider_type: str) -> Target:
        return Target(
            id=f"m/{provider_type}/model-1#0",
            model_name="m",
            provider=provider_type,
            provider_type=provider_type,
            model="model-1",
            base_url=self.base_url,
            api_key=SecretStr("sk-conformance"),
            options=dict(self.options),
        )


# --- OpenAI's wire format (openai, openai-compatible, azure, mistral, mock) ---


def openai_reply(text: str, calls: Calls) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": None if calls else text}
    if calls:
        message["tool_calls"] = [
            {"id": i, "type": "function", "function": {"name": n, "arguments": a}}
            for i, n, a in calls
        ]
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "model-1",
        "choices": [
            {"index": 0, "message": message, "finish_reason": "tool_calls" if calls else "stop"}
        ],
        "usage": {"prompt_tokens": USAGE[0], "completion_tokens": USAGE[1],
                  "total_tokens": sum(USAGE)},
    }  # fmt: skip


def openai_stream(text: str, calls: Calls, *, usage_on_last: bool = False) -> bytes:
    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    usage = {"prompt_tokens": USAGE[0], "completion_tokens": USAGE[1], "total_tokens": sum(USAGE)}

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra}  # fmt: skip

    chunks = [chunk({"role": "assistant", "content": ""})]
    for index, (call_id, name, args) in enumerate(calls):
        head = {"index": index, "id": call_id, "type": "function",
                "function": {"name": name, "arguments": ""}}  # fmt: skip
        chunks.append(chunk({"tool_calls": [head]}))
        for i in range(0, len(args), 3):
            piece = {"index": index, "function": {"arguments": args[i : i + 3]}}
            chunks.append(chunk({"tool_calls": [piece]}))
    for i in range(0, len(text), 4):
        chunks.append(chunk({"content": text[i : i + 4]}))
    finish = "tool_calls" if calls else "stop"
    if usage_on_last:
        chunks.append(chunk({}, finish, usage=usage))
    else:
        chunks.append(chunk({}, finish))
        chunks.append({**base, "choices": [], "usage": usage})
    events = b"".join(f"data: {json.dumps(c)}\n\n".encode() for c in chunks)
    return events + b"data: [DONE]\n\n"


def openai_sent_calls(body: dict[str, Any]) -> Calls:
    return [
        (c["id"], c["function"]["name"], c["function"]["arguments"])
        for m in body["messages"]
        for c in m.get("tool_calls") or ()
    ]


def openai_sent_results(body: dict[str, Any]) -> list[str]:
    return [m["tool_call_id"] for m in body["messages"] if m.get("role") == "tool"]


OPENAI_WIRE = Kit(openai_reply, openai_stream, openai_sent_calls, openai_sent_results)

# --- Cohere Chat v2 ---


def cohere_reply(text: str, calls: Calls) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant"}
    if calls:
        message["tool_calls"] = [
            {"id": i, "type": "function", "function": {"name": n, "arguments": a}}
            for i, n, a in calls
        ]
    else:
        message["content"] = [{"type": "text", "text": text}]
    usage = {"tokens": {"input_tokens": USAGE[0], "output_tokens": USAGE[1]}}
    finish = "TOOL_CALL" if calls else "COMPLETE"
    return {"id": "co-1", "finish_reason": finish, "message": message, "usage": usage}


def cohere_stream(text: str, calls: Calls) -> bytes:
    events = cohere_server.stream_events(cohere_reply(text, calls))
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events).encode()


# --- Bedrock Converse ---


def bedrock_reply(text: str, calls: Calls) -> dict[str, Any]:
    content: list[dict[str, Any]] = [
        {"toolUse": {"toolUseId": i, "name": n, "input": json.loads(a)}} for i, n, a in calls
    ] or [{"text": text}]
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": "tool_use" if calls else "end_turn",
        "usage": {"inputTokens": USAGE[0], "outputTokens": USAGE[1], "totalTokens": sum(USAGE)},
    }


def bedrock_stream(text: str, calls: Calls) -> bytes:
    events = bedrock_server.stream_events(bedrock_reply(text, calls))
    return b"".join(bedrock_server.event_frame(kind, payload) for kind, payload in events)


def bedrock_sent_calls(body: dict[str, Any]) -> Calls:
    return [
        (b["toolUse"]["toolUseId"], b["toolUse"]["name"], json.dumps(b["toolUse"]["input"]))
        for m in body["messages"]
        for b in m["content"]
        if "toolUse" in b
    ]


def bedrock_sent_results(body: dict[str, Any]) -> list[str]:
    return [
        b["toolResult"]["toolUseId"]
        for m in body["messages"]
        for b in m["content"]
        if "toolResult" in b
    ]


def _mistral_id(call_id: str) -> str:
    from providers.mistral import mistral_tool_id

    return mistral_tool_id(call_id)


KITS: dict[str, Kit] = {
    "openai": OPENAI_WIRE,
    "openai-compatible": OPENAI_WIRE,
    "mock": replace(OPENAI_WIRE, base_url=""),
    "azure": OPENAI_WIRE,
    "mistral": replace(
        OPENAI_WIRE,
        stream=lambda text, calls: openai_stream(text, calls, usage_on_last=True),
        upstream_id=_mistral_id,
        unsupported=frozenset({"user"}),
    ),
    "cohere": Kit(
        cohere_reply,
        cohere_stream,
        openai_sent_calls,
        openai_sent_results,
        unsupported=frozenset({"n_choices", "user"}),
    ),
    "bedrock": Kit(
        bedrock_reply,
        bedrock_stream,
        bedrock_sent_calls,
        bedrock_sent_results,
        unsupported=frozenset({"n_choices", "image_https_url", "json_object", "seed"}),
        options={
            "region": "us-east-1",
            "aws_access_key_id": SecretStr("AKIDCONFORMANCE"),
            "aws_secret_access_key": SecretStr("conformance-secret"),
        },
    ),
    "anthropic": Kit(
        wire.anthropic_reply,
        wire.anthropic_stream,
        wire.anthropic_sent_calls,
        wire.anthropic_sent_results,
        unsupported=frozenset({"n_choices"}),
    ),
    "gemini": Kit(
        wire.gemini_reply, wire.gemini_stream, wire.gemini_sent_calls, wire.gemini_sent_results
    ),
}


def response(body: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json=body)

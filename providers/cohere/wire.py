"""Cohere Chat API v2 wire format (``POST /v2/chat``), as TypedDicts; no logic.

From Cohere's API reference: the request body, the response, the stream events
(``message-start`` ... ``message-end``) and the error body.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

__all__ = [
    "ChatRequestV2",
    "ChatResponseV2",
    "CohereMessage",
    "CohereToolCall",
    "CohereUsage",
    "ResponseFormatV2",
    "StreamEvent",
]


class CohereFunction(TypedDict):
    name: str
    arguments: str  # JSON text


class CohereToolCall(TypedDict):
    id: str
    type: Literal["function"]
    function: CohereFunction


class CohereMessage(TypedDict, total=False):
    role: Literal["system", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]]  # text / image_url / document parts
    tool_calls: list[CohereToolCall]
    tool_plan: str
    tool_call_id: str


class ResponseFormatV2(TypedDict, total=False):
    type: Literal["text", "json_object"]
    json_schema: dict[str, Any]


class ChatRequestV2(TypedDict, total=False):
    model: str
    messages: list[CohereMessage]
    stream: bool
    tools: list[dict[str, Any]]  # {"type": "function", "function": {name, description, parameters}}
    tool_choice: Literal["REQUIRED", "NONE"]
    strict_tools: bool
    response_format: ResponseFormatV2
    max_tokens: int
    stop_sequences: list[str]
    temperature: float
    seed: int
    frequency_penalty: float
    presence_penalty: float
    k: int
    p: float
    logprobs: bool


class CohereUsageCounts(TypedDict, total=False):
    input_tokens: float
    output_tokens: float


class CohereUsage(TypedDict, total=False):
    billed_units: CohereUsageCounts
    tokens: CohereUsageCounts
    cached_tokens: float


FinishReason = Literal["COMPLETE", "STOP_SEQUENCE", "MAX_TOKENS", "TOOL_CALL", "ERROR", "TIMEOUT"]


class AssistantMessageResponse(TypedDict, total=False):
    role: Literal["assistant"]
    content: list[dict[str, Any]]  # {"type": "text", "text": ...} | {"type": "thinking", ...}
    tool_plan: str
    tool_calls: list[CohereToolCall]
    citations: list[dict[str, Any]]


class ChatResponseV2(TypedDict):
    id: str
    finish_reason: FinishReason
    message: AssistantMessageResponse
    usage: NotRequired[CohereUsage]


class StreamEvent(TypedDict, total=False):
    """One SSE ``data:`` payload; ``type`` says which fields are set:

    - message-start: ``id``, ``delta.message.role``
    - content-start / content-delta: ``index``, ``delta.message.content.text``
    - tool-plan-delta: ``delta.message.tool_plan``
    - tool-call-start: ``index``, ``delta.message.tool_calls`` (id, function.name)
    - tool-call-delta: ``index``, ``delta.message.tool_calls.function.arguments``
    - tool-call-end / content-end / citation-start / citation-end: ``index``
    - message-end: ``delta.finish_reason``, ``delta.usage``
    """

    type: str
    id: str
    index: int
    delta: dict[str, Any]

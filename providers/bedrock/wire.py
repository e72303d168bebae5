"""Bedrock Converse / ConverseStream wire format, as TypedDicts; no logic.

From the Bedrock Runtime API reference (``Converse``, ``ConverseStream``): the
request body, the response, the stream's event payloads and the error body.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

__all__ = [
    "ContentBlock",
    "ConverseRequest",
    "ConverseResponse",
    "ConverseMessage",
    "InferenceConfiguration",
    "TokenUsage",
    "ToolConfiguration",
]


class ImageSource(TypedDict):
    bytes: str  # base64 in the JSON protocol


class ImageBlock(TypedDict):
    format: Literal["png", "jpeg", "gif", "webp"]
    source: ImageSource


class ToolUseBlock(TypedDict):
    toolUseId: str
    name: str
    input: Any  # a JSON value (the parsed arguments)


class ToolResultBlock(TypedDict, total=False):
    toolUseId: str
    content: list[dict[str, Any]]  # {"text": ...} | {"json": ...} | {"image": ...}
    status: Literal["success", "error"]


class ContentBlock(TypedDict, total=False):
    text: str
    image: ImageBlock
    toolUse: ToolUseBlock
    toolResult: ToolResultBlock
    reasoningContent: dict[str, Any]


class ConverseMessage(TypedDict):
    role: Literal["user", "assistant"]
    content: list[ContentBlock]


class InferenceConfiguration(TypedDict, total=False):
    maxTokens: int
    temperature: float
    topP: float
    stopSequences: list[str]


class ToolSpecification(TypedDict, total=False):
    name: str
    description: str
    inputSchema: dict[str, Any]  # {"json": <JSON schema>}


class ToolConfiguration(TypedDict, total=False):
    tools: list[dict[str, ToolSpecification]]  # [{"toolSpec": ...}]
    toolChoice: dict[str, Any]  # {"auto": {}} | {"any": {}} | {"tool": {"name": ...}}


class ConverseRequest(TypedDict, total=False):
    messages: list[ConverseMessage]
    system: list[dict[str, Any]]  # [{"text": ...}]
    inferenceConfig: InferenceConfiguration
    toolConfig: ToolConfiguration
    outputConfig: dict[str, Any]  # {"textFormat": {"type": "json_schema", "structure": ...}}
    guardrailConfig: dict[str, Any]
    additionalModelRequestFields: dict[str, Any]
    additionalModelResponseFieldPaths: list[str]
    promptVariables: dict[str, Any]
    requestMetadata: dict[str, str]
    performanceConfig: dict[str, Any]
    serviceTier: dict[str, Any]


StopReason = Literal[
    "end_turn",
    "tool_use",
    "max_tokens",
    "stop_sequence",
    "guardrail_intervened",
    "content_filtered",
    "malformed_model_output",
    "malformed_tool_use",
    "model_context_window_exceeded",
]


class TokenUsage(TypedDict, total=False):
    inputTokens: int
    outputTokens: int
    totalTokens: int
    cacheReadInputTokens: int
    cacheWriteInputTokens: int


class ConverseResponse(TypedDict):
    output: dict[str, ConverseMessage]  # {"message": {...}}
    stopReason: StopReason
    usage: TokenUsage
    metrics: NotRequired[dict[str, Any]]


# ConverseStream event payloads, keyed by the ``:event-type`` header:
#   messageStart       {"role": "assistant"}
#   contentBlockStart  {"contentBlockIndex": i, "start": {"toolUse": {"toolUseId", "name"}}}
#   contentBlockDelta  {"contentBlockIndex": i, "delta": {"text"} | {"toolUse": {"input": str}}}
#   contentBlockStop   {"contentBlockIndex": i}
#   messageStop        {"stopReason": ...}
#   metadata           {"usage": TokenUsage, "metrics": {"latencyMs": n}}
# Exceptions carry ``:message-type: exception`` and ``:exception-type`` (e.g.
# throttlingException) with a {"message": ...} payload.
STREAM_EVENTS = (
    "messageStart",
    "contentBlockStart",
    "contentBlockDelta",
    "contentBlockStop",
    "messageStop",
    "metadata",
)

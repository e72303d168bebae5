"""Gemini API wire format (``models/{model}:generateContent`` and
``:streamGenerateContent?alt=sse``, v1beta), as TypedDicts.

Only the fields Arbiter writes or reads, named as in Google's public REST
reference (camelCase JSON).
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

__all__ = [
    "Blob",
    "Candidate",
    "Content",
    "ErrorBody",
    "FileData",
    "FunctionCall",
    "FunctionCallingConfig",
    "FunctionDeclaration",
    "FunctionResponse",
    "GenerateContentRequest",
    "GenerateContentResponse",
    "GenerationConfig",
    "Part",
    "PromptFeedback",
    "Tool",
    "ToolConfig",
    "UsageMetadata",
]


class Blob(TypedDict):
    mimeType: str
    data: str  # base64


class FileData(TypedDict, total=False):
    mimeType: str
    fileUri: str  # Files API URI, or a public / signed https URL


class FunctionCall(TypedDict, total=False):
    id: str  # newer models only
    name: str
    args: dict[str, Any]


class FunctionResponse(TypedDict, total=False):
    id: str
    name: str
    response: dict[str, Any]  # {"output": ...} or {"error": ...}, or any object


class Part(TypedDict, total=False):
    """A union: exactly one of text, inlineData, fileData, functionCall, functionResponse."""

    text: str
    inlineData: Blob
    fileData: FileData
    functionCall: FunctionCall
    functionResponse: FunctionResponse
    thought: bool  # a thought summary, not part of the answer
    thoughtSignature: str  # opaque; Gemini 3 wants it back with its functionCall


class Content(TypedDict, total=False):
    role: Literal["user", "model"]
    parts: list[Part]


class FunctionDeclaration(TypedDict, total=False):
    name: str
    description: str
    parameters: dict[str, Any]  # an OpenAPI 3.0 subset Schema (see schema.py)


class Tool(TypedDict, total=False):
    functionDeclarations: list[FunctionDeclaration]


class FunctionCallingConfig(TypedDict, total=False):
    mode: Literal["AUTO", "ANY", "NONE", "VALIDATED"]
    allowedFunctionNames: list[str]


class ToolConfig(TypedDict, total=False):
    functionCallingConfig: FunctionCallingConfig


class GenerationConfig(TypedDict, total=False):
    stopSequences: list[str]
    responseMimeType: str
    responseSchema: dict[str, Any]
    candidateCount: int
    maxOutputTokens: int
    temperature: float
    topP: float
    topK: int
    seed: int
    presencePenalty: float
    frequencyPenalty: float


class GenerateContentRequest(TypedDict, total=False):
    contents: list[Content]
    systemInstruction: Content
    tools: list[Tool]
    toolConfig: ToolConfig
    generationConfig: GenerationConfig


class Candidate(TypedDict, total=False):
    index: int
    content: Content
    finishReason: str  # STOP, MAX_TOKENS, SAFETY, RECITATION, BLOCKLIST, ...


class PromptFeedback(TypedDict, total=False):
    blockReason: str  # SAFETY, OTHER, BLOCKLIST, PROHIBITED_CONTENT, IMAGE_SAFETY


class UsageMetadata(TypedDict, total=False):
    promptTokenCount: int
    cachedContentTokenCount: int
    candidatesTokenCount: int
    toolUsePromptTokenCount: int
    thoughtsTokenCount: int
    totalTokenCount: int


class GenerateContentResponse(TypedDict, total=False):
    candidates: list[Candidate]
    promptFeedback: PromptFeedback
    usageMetadata: UsageMetadata
    modelVersion: str
    responseId: str


class ErrorBody(TypedDict, total=False):
    code: int
    message: str
    status: str  # INVALID_ARGUMENT, RESOURCE_EXHAUSTED, ...
    details: list[dict[str, Any]]  # google.rpc.ErrorInfo, google.rpc.RetryInfo, ...

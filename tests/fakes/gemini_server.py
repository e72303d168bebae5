"""A fake Gemini API (v1beta or v1 ``models/{model}:generateContent`` and
``:streamGenerateContent?alt=sse``), written from the public REST reference.

It refuses what the real API refuses, with its error shape: a bad
``x-goog-api-key`` (400 INVALID_ARGUMENT, ErrorInfo API_KEY_INVALID), unknown
JSON fields, empty ``parts``, a part with no data or two, roles other than
user/model, a ``functionResponse`` without a matching earlier ``functionCall``,
schema keys outside Gemini's OpenAPI subset, a stream request without
``alt=sse``. Answers, JSON or SSE (one GenerateContentResponse per event):

- functionCallingConfig mode ANY: a ``functionCall`` (first allowed function)
  with args ``{"text": <last user text>}``;
- a last user content holding ``functionResponse`` parts: ``"Tool results: ..."``;
- otherwise the last user text, echoed; ``candidateCount`` candidates.

The model name picks a behaviour: ``rate-limited`` (429 with RetryInfo),
``too-long`` (400 token count), ``unavailable`` (503), ``blocked``
(promptFeedback.blockReason), ``stream-error`` (an error object mid-stream),
``with-ids`` (function calls carry ids), ``thinking-3`` (function calls carry a
thoughtSignature, and history must send it back, as Gemini 3 demands).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = ["FakeGemini", "GeminiCall", "GeminiReply", "gemini_error"]

_TOP_LEVEL = {
    "contents",
    "systemInstruction",
    "tools",
    "toolConfig",
    "generationConfig",
    "safetySettings",
    "cachedContent",
}
_GENERATION = {
    "stopSequences",
    "responseMimeType",
    "responseSchema",
    "candidateCount",
    "maxOutputTokens",
    "temperature",
    "topP",
    "topK",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
}
_DATA = {"text", "inlineData", "fileData", "functionCall", "functionResponse"}
_SCHEMA_KEYS = {
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
}
_TYPES = {"STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"}
SIGNATURE = "c2lnbmF0dXJlLW9mLXRoZS10aG91Z2h0cw=="


@dataclass
class GeminiReply:
    status: int = 200
    body: Any = None
    chunks: list[dict[str, Any]] | None = None  # a whole SSE answer
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class GeminiCall:
    path: str
    query: str
    headers: dict[str, str]
    body: dict[str, Any]


def gemini_error(
    code: int, status: str, message: str, details: list[dict[str, Any]] | None = None
) -> GeminiReply:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return GeminiReply(code, {"error": error})


_NAMED = {
    "rate-limited": gemini_error(
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan and billing details.",
        [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "13s"}],
    ),
    "too-long": gemini_error(
        400,
        "INVALID_ARGUMENT",
        "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
    ),
    "unavailable": gemini_error(
        503, "UNAVAILABLE", "The model is overloaded. Please try again later."
    ),
}
_BAD_KEY = gemini_error(
    400,
    "INVALID_ARGUMENT",
    "API key not valid. Please pass a valid API key.",
    [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
        }
    ],
)


class _Invalid(Exception):
    pass


def _check_schema(schema: Any, where: str) -> None:
    if not isinstance(schema, dict):
        raise _Invalid(f"{where}: a schema must be an object")
    unknown = set(schema) - _SCHEMA_KEYS
    if unknown:
        raise _Invalid(
            f'Invalid JSON payload received. Unknown name "{sorted(unknown)[0]}" at {where}'
        )
    if "type" in schema and str(schema["type"]).upper() not in _TYPES:
        raise _Invalid(f"{where}.type: invalid value {schema['type']!r}")
    for name, sub in (schema.get("properties") or {}).items():
        _check_schema(sub, f"{where}.properties[{name}]")
    if "items" in schema:
        _check_schema(schema["items"], f"{where}.items")
    for i, sub in enumerate(schema.get("anyOf") or ()):
        _check_schema(sub, f"{where}.anyOf[{i}]")


def _check_part(
    part: Any, role: str, called: list[str], where: str, strict_signature: bool
) -> None:
    if not isinstance(part, dict) or len(set(part) & _DATA) != 1:
        raise _Invalid(f"{where}: required oneof field 'data' must have one initialized field")
    if "functionCall" in part:
        if role != "model" or not part["functionCall"].get("name"):
            raise _Invalid(f"{where}.functionCall: only model turns may call functions")
        if not isinstance(part["functionCall"].get("args", {}), dict):
            raise _Invalid(f"{where}.functionCall.args: must be an object")
        if strict_signature and part.get("thoughtSignature") != SIGNATURE and not called:
            raise _Invalid(
                f"Function call is missing a thought_signature in functionCall parts. {where}"
            )
        called.append(part["functionCall"]["name"])
    if "functionResponse" in part:
        response = part["functionResponse"]
        if role != "user" or response.get("name") not in called:
            raise _Invalid(
                f"{where}.functionResponse: no matching functionCall for {response.get('name')!r}"
            )
        if not isinstance(response.get("response"), dict):
            raise _Invalid(f"{where}.functionResponse.response: must be an object")
    if "inlineData" in part and not part["inlineData"].get("data"):
        raise _Invalid(f"{where}.inlineData.data: required")
    if "fileData" in part and not str(part["fileData"].get("fileUri", "")).startswith("http"):
        raise _Invalid(f"{where}.fileData.fileUri: unsupported URI")


def validate(body: dict[str, Any], model: str) -> None:
    unknown = set(body) - _TOP_LEVEL
    if unknown:
        raise _Invalid(f'Invalid JSON payload received. Unknown name "{sorted(unknown)[0]}"')
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise _Invalid("* GenerateContentRequest.contents: contents is not specified")
    called: list[str] = []
    for i, content in enumerate(contents):
        role = content.get("role", "user")
        if role not in ("user", "model"):
            raise _Invalid(f"contents[{i}].role: Please use a valid role: user, model.")
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            raise _Invalid(f"contents[{i}].parts: must not be empty")
        if role == "model":
            called = []
        for j, part in enumerate(parts):
            _check_part(part, role, called, f"contents[{i}].parts[{j}]", model == "thinking-3")
    for k, tool in enumerate(body.get("tools") or ()):
        for d, declaration in enumerate(tool.get("functionDeclarations") or ()):
            if "parameters" in declaration:
                _check_schema(
                    declaration["parameters"], f"tools[{k}].functionDeclarations[{d}].parameters"
                )
    config = body.get("generationConfig") or {}
    if set(config) - _GENERATION:
        raise _Invalid(f'Unknown name "{sorted(set(config) - _GENERATION)[0]}" at generationConfig')
    if "responseSchema" in config:
        _check_schema(config["responseSchema"], "generationConfig.responseSchema")
    if not 1 <= config.get("candidateCount", 1) <= 8:
        raise _Invalid("generationConfig.candidateCount: must be between 1 and 8")


class FakeGemini:
    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.calls: list[GeminiCall] = []
        self.script: list[GeminiReply] = []
        self.url = ""
        self.app = Starlette(
            routes=[Route("/{version}/models/{action}", self.generate, methods=["POST"])]
        )

    def reset(self) -> None:
        self.calls.clear()
        self.script.clear()

    def count(self) -> int:
        return len(self.calls)

    async def generate(self, request: Request) -> Response:
        body = json.loads(await request.body())
        headers = dict(request.headers)
        query = request.url.query
        self.calls.append(GeminiCall(request.url.path, query, headers, body))
        model, _, method = request.path_params["action"].partition(":")
        key = headers.get("x-goog-api-key") or request.query_params.get("key")
        version = request.path_params["version"]
        if version not in ("v1", "v1beta") or method not in (
            "generateContent",
            "streamGenerateContent",
        ):
            reply = gemini_error(404, "NOT_FOUND", f"method {method!r} not found")
        elif key != self.api_key:
            reply = _BAD_KEY
        elif self.script:
            reply = self.script.pop(0)
        else:
            reply = _NAMED.get(model) or GeminiReply()
        if reply.status != 200 or reply.body is not None:
            return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)
        stream = method == "streamGenerateContent"
        if stream and request.query_params.get("alt") != "sse":
            return JSONResponse(gemini_error(400, "INVALID_ARGUMENT", "use alt=sse").body, 400)
        try:
            validate(body, model)
        except _Invalid as exc:
            return JSONResponse(gemini_error(400, "INVALID_ARGUMENT", str(exc)).body, 400)
        response = answer(body, model)
        if not stream:
            return JSONResponse(response)
        chunks = reply.chunks if reply.chunks is not None else stream_chunks(response, model)
        data = b"".join(b"data: " + json.dumps(c).encode() + b"\r\n\r\n" for c in chunks)
        return Response(data, media_type="text/event-stream")


def _last_user(body: dict[str, Any]) -> list[dict[str, Any]]:
    return body["contents"][-1]["parts"]


def _usage(body: dict[str, Any], output: int, model: str) -> dict[str, Any]:
    prompt = sum(len(p.get("text", "").split()) + 2 for c in body["contents"] for p in c["parts"])
    usage = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": output,
        "totalTokenCount": prompt + output,
    }
    if model == "cached":
        usage["cachedContentTokenCount"] = prompt // 2
    return usage


def answer(body: dict[str, Any], model: str) -> dict[str, Any]:
    if model == "blocked":
        return {
            "promptFeedback": {"blockReason": "SAFETY"},
            "usageMetadata": _usage(body, 0, model),
        }
    last = _last_user(body)
    user_text = " ".join(p["text"] for p in last if "text" in p)
    config = body.get("generationConfig") or {}
    calling = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
    declarations = [d for t in body.get("tools") or () for d in t.get("functionDeclarations") or ()]
    candidates = []
    output = 0
    for index in range(config.get("candidateCount", 1)):
        if calling.get("mode") == "ANY" and declarations:
            name = (calling.get("allowedFunctionNames") or [declarations[0]["name"]])[0]
            part: dict[str, Any] = {"functionCall": {"name": name, "args": {"text": user_text}}}
            if model == "with-ids":
                part["functionCall"]["id"] = f"fc-{index}-{name}"
            if model == "thinking-3":
                part["thoughtSignature"] = SIGNATURE
            parts, finish = [part], "STOP"
        else:
            results = [p["functionResponse"] for p in last if "functionResponse" in p]
            if results:
                text = "Tool results: " + "; ".join(json.dumps(r["response"]) for r in results)
            else:
                text = user_text + (f" #{index}" if index else "")
            finish = "STOP"
            words = text.split(" ")
            if len(words) > config.get("maxOutputTokens", 10**9):
                text, finish = " ".join(words[: config["maxOutputTokens"]]), "MAX_TOKENS"
            parts = [{"text": text}]
            output += len(text.split())
        candidates.append(
            {"content": {"role": "model", "parts": parts}, "finishReason": finish, "index": index}
        )
    return {
        "candidates": candidates,
        "usageMetadata": _usage(body, output, model),
        "modelVersion": model,
        "responseId": "fake-response-1",
    }


def stream_chunks(response: dict[str, Any], model: str) -> list[dict[str, Any]]:
    """The response as a stream: text in word-sized chunks, each function call
    whole in its own chunk, finishReason and full usage on the last chunk."""
    chunks: list[dict[str, Any]] = []
    base = {"modelVersion": model, "responseId": response.get("responseId", "")}
    early_usage = {"promptTokenCount": response["usageMetadata"]["promptTokenCount"]}
    for candidate in response.get("candidates", []):
        pieces: list[dict[str, Any]] = []
        for part in candidate["content"]["parts"]:
            if "text" in part:
                words = part["text"].split(" ")
                pieces += [{"text": w + " "} for w in words[:-1]] + [{"text": words[-1]}]
            else:
                pieces.append(part)
        for n, piece in enumerate(pieces):
            entry = {"content": {"role": "model", "parts": [piece]}, "index": candidate["index"]}
            chunks.append({**base, "candidates": [entry], "usageMetadata": early_usage})
            if model == "stream-error" and n == 0:
                chunks.append(
                    {
                        "error": {
                            "code": 503,
                            "message": "The model is overloaded.",
                            "status": "UNAVAILABLE",
                        }
                    }
                )
                return chunks
        last = chunks[-1]["candidates"][0]
        last["finishReason"] = candidate["finishReason"]
    if not chunks:
        return [{**response}]
    chunks[-1]["usageMetadata"] = response["usageMetadata"]
    return chunks

"""OpenAI chat request → Gemini ``GenerateContentRequest`` body.

Translation rules (README, "Gemini"):
- system and developer messages → ``systemInstruction``;
- user → ``user`` content, assistant → ``model`` content, tool → a
  ``functionResponse`` part of a ``user`` content; consecutive contents of the
  same role are merged;
- images: ``data:`` URIs → ``inlineData``; http(s) URLs → ``fileData.fileUri``
  (Gemini fetches public and signed URLs itself; Arbiter never does);
- assistant ``tool_calls`` → ``functionCall`` parts; a tool result finds its
  function name through the call id in the history (``call_ids.py``);
- tools → ``functionDeclarations`` with schemas translated by ``schema.py``;
- tool_choice auto/none/required/named → mode AUTO/NONE/ANY (+ allowedFunctionNames);
- ``response_format`` → ``responseMimeType`` application/json (+ ``responseSchema``);
- sampling → ``generationConfig``; ``n`` → ``candidateCount``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from providers.errors import InvalidRequestError
from providers.inputs import check_unsupported, image_ref, object_arguments, text_content
from providers.types import ChatRequest, Message

from .call_ids import read_call_id
from .schema import to_gemini_schema
from .wire import Content, FunctionDeclaration, GenerateContentRequest, GenerationConfig, Part

__all__ = ["build_body"]


def _user_parts(message: Message, where: str) -> list[Part]:
    content = message.content
    if content is None or isinstance(content, str):
        return [{"text": content}] if content else []
    parts: list[Part] = []
    for j, part in enumerate(content):
        if part.type == "text":
            if part.text:
                parts.append({"text": part.text})
        elif part.type == "image_url" and message.role == "user":
            ref = image_ref(part, f"{where}.content[{j}].image_url")
            if ref.url is not None:
                parts.append({"fileData": {"mimeType": ref.media_type, "fileUri": ref.url}})
            else:
                parts.append({"inlineData": {"mimeType": ref.media_type, "data": ref.data or ""}})
        elif part.type == "refusal" and (part.model_extra or {}).get("refusal"):
            parts.append({"text": str((part.model_extra or {})["refusal"])})
        else:
            raise InvalidRequestError(
                f"{where}.content[{j}].type: {part.type!r} parts are not supported here",
                param=f"{where}.content[{j}].type",
            )
    return parts


def _model_parts(message: Message, where: str, names: dict[str, str]) -> list[Part]:
    parts = _user_parts(message, where)
    for j, call in enumerate(message.tool_calls or ()):
        ref = read_call_id(call.id)
        function_call: dict[str, Any] = {
            "name": call.function.name,
            "args": object_arguments(call, f"{where}.tool_calls[{j}]"),
        }
        if ref.id:
            function_call["id"] = ref.id
        part: Part = {"functionCall": function_call}  # type: ignore[typeddict-item]
        if ref.signature:
            part["thoughtSignature"] = ref.signature
        parts.append(part)
        names[call.id] = call.function.name
    return parts


def _response_part(message: Message, where: str, names: dict[str, str]) -> Part:
    call_id = message.tool_call_id or ""
    name = names.get(call_id) or message.name
    if not name:
        raise InvalidRequestError(
            f"{where}.tool_call_id: no earlier assistant tool call has this id",
            param=f"{where}.tool_call_id",
        )
    text = text_content(message, where)
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        value = None
    response = value if isinstance(value, dict) else {"output": text}
    function_response: dict[str, Any] = {"name": name, "response": response}
    ref = read_call_id(call_id)
    if ref.id:
        function_response["id"] = ref.id
    return {"functionResponse": function_response}  # type: ignore[typeddict-item]


def _contents(request: ChatRequest) -> list[Content]:
    contents: list[Content] = []
    names: dict[str, str] = {}  # OpenAI call id -> function name, from the history
    for i, message in enumerate(request.messages):
        where = f"messages[{i}]"
        if message.role in ("system", "developer"):
            continue
        if message.role == "user":
            role, parts = "user", _user_parts(message, where)
        elif message.role == "assistant":
            role, parts = "model", _model_parts(message, where, names)
        elif message.role == "tool":
            role, parts = "user", [_response_part(message, where, names)]
        else:
            raise InvalidRequestError(
                f"{where}.role: {message.role!r} messages are not supported; use 'tool'",
                param=f"{where}.role",
            )
        if not parts:
            continue
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})  # type: ignore[typeddict-item]
    if not contents:
        raise InvalidRequestError("messages: no user or assistant message has content")
    return contents


def _declarations(request: ChatRequest) -> list[FunctionDeclaration]:
    declarations: list[FunctionDeclaration] = []
    for k, tool in enumerate(request.tools or ()):
        declaration: FunctionDeclaration = {"name": tool.function.name}
        if tool.function.description:
            declaration["description"] = tool.function.description
        parameters = tool.function.parameters
        if parameters and (parameters.get("properties") or parameters.get("type") != "object"):
            where = f"tools[{k}].function.parameters"
            declaration["parameters"] = to_gemini_schema(parameters, where)
        declarations.append(declaration)
    return declarations


def _tool_config(request: ChatRequest) -> dict[str, Any] | None:
    choice = request.tool_choice
    if choice is None:
        return None
    if choice in ("auto", "none", "required"):
        mode = {"auto": "AUTO", "none": "NONE", "required": "ANY"}[choice]
        return {"functionCallingConfig": {"mode": mode}}
    if isinstance(choice, dict) and isinstance((choice.get("function") or {}).get("name"), str):
        name = choice["function"]["name"]
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
    raise InvalidRequestError(
        "tool_choice: expected auto, none, required or a named function", param="tool_choice"
    )


def _response_format(request: ChatRequest, config: GenerationConfig) -> None:
    fmt = request.response_format
    kind = (fmt or {}).get("type", "text")
    if fmt is None or kind == "text":
        return
    if kind not in ("json_object", "json_schema"):
        raise InvalidRequestError(
            f"response_format.type: {kind!r} is not supported", param="response_format.type"
        )
    config["responseMimeType"] = "application/json"
    schema = (fmt.get("json_schema") or {}).get("schema") if kind == "json_schema" else None
    if schema:
        where = "response_format.json_schema.schema"
        config["responseSchema"] = to_gemini_schema(schema, where)


def _generation_config(request: ChatRequest, options: Mapping[str, Any]) -> GenerationConfig:
    config: GenerationConfig = {}
    extra = request.model_extra or {}
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.top_p is not None:
        config["topP"] = request.top_p
    if isinstance(extra.get("top_k"), int) and not isinstance(extra["top_k"], bool):
        config["topK"] = extra["top_k"]
    limit = request.output_limit or options.get("default_max_tokens")
    if limit:
        config["maxOutputTokens"] = int(limit)
    if request.stop_list():
        config["stopSequences"] = request.stop_list()
    if request.n is not None and request.n > 1:
        config["candidateCount"] = request.n
    if request.seed is not None:
        config["seed"] = request.seed
    for name, key in (
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ):
        if isinstance(extra.get(name), int | float) and extra[name]:
            config[key] = float(extra[name])  # type: ignore[literal-required]
    _response_format(request, config)
    return config


def _system_texts(request: ChatRequest) -> list[str]:
    """The text of every system and developer message, in order (empty ones skipped)."""
    texts = [
        text_content(message, f"messages[{i}]")
        for i, message in enumerate(request.messages)
        if message.role in ("system", "developer")
    ]
    return [text for text in texts if text]


def build_body(request: ChatRequest, options: Mapping[str, Any]) -> GenerateContentRequest:
    check_unsupported(request, "gemini", choices=True, penalties=True)
    body: GenerateContentRequest = {"contents": _contents(request)}
    system = _system_texts(request)
    if system:
        body["systemInstruction"] = {"parts": [{"text": text} for text in system]}
    if request.tools:
        body["tools"] = [{"functionDeclarations": _declarations(request)}]
        tool_config = _tool_config(request)
        if tool_config is not None:
            body["toolConfig"] = tool_config  # type: ignore[typeddict-item]
    config = _generation_config(request, options)
    if config:
        body["generationConfig"] = config
    return body

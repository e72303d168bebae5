"""BedrockAdapter: OpenAI Chat Completions ⇄ Bedrock Converse / ConverseStream.

Requests: system and developer messages are lifted into ``system``; ``tool``
results become ``toolResult`` blocks in a user turn; consecutive turns of one
role are merged (Converse wants them alternating); images must be inline bytes
(a data: URI; an http(s) URL is refused, never fetched); tools go in
``toolConfig`` (``required`` is ``any``, a named choice is ``tool``; ``none`` drops
the tools when the history has no tool calls, else it is refused);
``json_schema`` is ``outputConfig.textFormat``; ``user`` is kept in
``requestMetadata``. Extras that are Converse fields (``guardrailConfig``...) are
passed at the top level, other non-OpenAI extras (``top_k``...) in
``additionalModelRequestFields``. The request is signed with SigV4 by botocore.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from providers.base import Capabilities, Target
from providers.bedrock.eventstream import require_botocore
from providers.bedrock.signing import sign_headers
from providers.bedrock.stream import ConverseStreamDecoder, finish_reason, openai_usage
from providers.bedrock.wire import ContentBlock, ConverseMessage, ConverseRequest
from providers.errors import GatewayError, InvalidRequestError, UpstreamUnavailableError
from providers.inputs import (
    DECLARED_FIELDS,
    OPENAI_ONLY,
    check_supported,
    drop_unsupported,
    parse_arguments,
    parse_image,
    read_tool_choice,
    require_inline,
    require_tool_call_id,
    text_content,
)
from providers.replies import completion, tool_call
from providers.status import error_from_status
from providers.types import ChatRequest, ChatResponse, Message, message_text

__all__ = ["DEFAULT_REGION", "UNSUPPORTED", "BedrockAdapter", "error_status"]

DEFAULT_REGION = "us-east-1"
IMAGE_FORMATS = ("png", "jpeg", "gif", "webp")
UNSUPPORTED = OPENAI_ONLY | {"seed", "logprobs", "frequency_penalty", "presence_penalty"}
_TOP_LEVEL = frozenset(
    {
        "guardrailConfig",
        "additionalModelRequestFields",
        "additionalModelResponseFieldPaths",
        "promptVariables",
        "requestMetadata",
        "performanceConfig",
        "serviceTier",
    }
)
# x-amzn-ErrorType / :exception-type → the HTTP status that decides the class.
ERROR_STATUS = {
    "throttlingexception": 429,
    "modelnotreadyexception": 429,
    "servicequotaexceededexception": 429,
    "validationexception": 400,
    "accessdeniedexception": 403,
    "unrecognizedclientexception": 403,
    "invalidsignatureexception": 403,
    "expiredtokenexception": 403,
    "incompletesignatureexception": 403,
    "missingauthenticationtokenexception": 403,
    "resourcenotfoundexception": 404,
    "modeltimeoutexception": 408,
    "modelerrorexception": 502,
    "modelstreamerrorexception": 502,
    "internalserverexception": 500,
    "serviceunavailableexception": 503,
}


def error_status(kind: str, status: int) -> int:
    name = kind.split(":", 1)[0].strip().lower()
    return ERROR_STATUS.get(name, status)


def _user_blocks(message: Message, provider: str) -> list[ContentBlock]:
    content = message.content
    if content is None or isinstance(content, str):
        return [{"text": content}] if content else []
    blocks: list[ContentBlock] = []
    for part in content:
        if part.type == "text":
            if part.text:
                blocks.append({"text": part.text})
        elif part.type == "image_url":
            image = require_inline(
                parse_image(part, provider=provider), provider=provider, formats=IMAGE_FORMATS
            )
            blocks.append(
                {"image": {"format": image.format, "source": {"bytes": image.data}}}  # type: ignore[typeddict-item]
            )
        else:
            raise InvalidRequestError(
                f"{provider} does not accept content parts of type {part.type!r}",
                param="messages",
            )
    return blocks


def _turn(message: Message, provider: str) -> ConverseMessage:
    if message.role == "user":
        return {"role": "user", "content": _user_blocks(message, provider)}
    if message.role == "assistant":
        blocks = _user_blocks(message, provider)
        for call in message.tool_calls or ():
            arguments = parse_arguments(call)
            blocks.append(
                {"toolUse": {"toolUseId": call.id, "name": call.function.name, "input": arguments}}
            )
        return {"role": "assistant", "content": blocks}
    if message.role == "tool":
        call_id = require_tool_call_id(message)
        result = [{"text": text} for text in [message_text(message)] if text]
        return {
            "role": "user",
            "content": [{"toolResult": {"toolUseId": call_id, "content": result}}],
        }
    raise InvalidRequestError(
        f"{provider} does not accept {message.role!r} messages", param="messages"
    )


def _conversation(
    request: ChatRequest, provider: str
) -> tuple[list[dict[str, str]], list[ConverseMessage]]:
    system: list[dict[str, str]] = []
    turns: list[ConverseMessage] = []
    for message in request.messages:
        if message.role in ("system", "developer"):
            text = text_content(message)
            if text:
                system.append({"text": text})
            continue
        turn = _turn(message, provider)
        if turns and turns[-1]["role"] == turn["role"]:
            turns[-1]["content"].extend(turn["content"])
        else:
            turns.append(turn)
    return system, turns


def _tool_config(request: ChatRequest, turns: list[ConverseMessage]) -> dict[str, Any] | None:
    if not request.tools:
        return None
    choice = read_tool_choice(request)
    if choice and choice.mode == "none":
        if any("toolUse" in b or "toolResult" in b for t in turns for b in t["content"]):
            raise InvalidRequestError(
                "tool_choice: bedrock has no 'none' choice once tools were used; "
                "use auto, required or a named function",
                param="tool_choice",
            )
        return None
    tools = []
    for tool in request.tools:
        spec: dict[str, Any] = {
            "name": tool.function.name,
            "inputSchema": {"json": tool.function.parameters or {"type": "object"}},
        }
        if tool.function.description:
            spec["description"] = tool.function.description
        tools.append({"toolSpec": spec})
    config: dict[str, Any] = {"tools": tools}
    if choice and choice.mode == "required":
        config["toolChoice"] = {"any": {}}
    elif choice and choice.mode == "named":
        config["toolChoice"] = {"tool": {"name": choice.name}}
    elif choice:
        config["toolChoice"] = {"auto": {}}
    return config


def _output_config(value: dict[str, Any]) -> dict[str, Any] | None:
    kind = value.get("type")
    if kind == "text":
        return None
    if kind == "json_schema":
        spec = value.get("json_schema") or {}
        schema: dict[str, Any] = {"schema": orjson.dumps(spec.get("schema") or {}).decode()}
        for key in ("name", "description"):
            if spec.get(key):
                schema[key] = spec[key]
        structure = {"jsonSchema": schema}
        return {"textFormat": {"type": "json_schema", "structure": structure}}
    raise InvalidRequestError(
        f"response_format: bedrock has no equivalent of {kind!r}; use json_schema",
        param="response_format",
    )


class BedrockAdapter:
    name = "bedrock"
    capabilities = Capabilities()

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        require_botocore()
        self.options = dict(options or {})
        self.region = str(self.options.get("region") or DEFAULT_REGION)
        self.drop = drop_unsupported(self.options)

    def build_body(self, request: ChatRequest, target: Target) -> ConverseRequest:
        check_supported(request, provider=self.name, unsupported=UNSUPPORTED, drop=self.drop)
        system, turns = _conversation(request, self.name)
        body: dict[str, Any] = {"messages": turns}
        if system:
            body["system"] = system
        inference = {
            "maxTokens": request.output_limit or target.options.get("default_max_tokens"),
            "temperature": request.temperature,
            "topP": request.top_p,
            "stopSequences": request.stop_list() or None,
        }
        inference = {k: v for k, v in inference.items() if v is not None}
        if inference:
            body["inferenceConfig"] = inference
        tool_config = _tool_config(request, turns)
        if tool_config:
            body["toolConfig"] = tool_config
        if request.response_format:
            output = _output_config(request.response_format)
            if output:
                body["outputConfig"] = output
        if request.user:
            body["requestMetadata"] = {"user": request.user}
        extra_fields: dict[str, Any] = {}
        for key, value in (request.model_extra or {}).items():
            if key in _TOP_LEVEL:
                body[key] = value
            elif key not in UNSUPPORTED and key not in DECLARED_FIELDS:
                extra_fields[key] = value
        if extra_fields:
            body["additionalModelRequestFields"] = {
                **extra_fields,
                **body.get("additionalModelRequestFields", {}),
            }
        return body  # type: ignore[return-value]

    def build_url(self, request: ChatRequest, target: Target) -> str:
        base = (target.base_url or f"https://bedrock-runtime.{self.region}.amazonaws.com").rstrip(
            "/"
        )
        action = "converse-stream" if request.stream else "converse"
        return f"{base}/model/{quote(target.model, safe='')}/{action}"

    def build_request(self, request: ChatRequest, target: Target) -> httpx.Request:
        body = orjson.dumps(self.build_body(request, target))
        url = self.build_url(request, target)
        headers = {"content-type": "application/json", **target.headers}
        if request.stream:
            headers["accept"] = "application/vnd.amazon.eventstream"
        signed = sign_headers(
            method="POST",
            url=url,
            body=body,
            headers=headers,
            region=self.region,
            options=self.options,
        )
        return httpx.Request("POST", url, headers=signed, content=body)

    def parse_response(
        self, response: httpx.Response, request: ChatRequest, target: Target
    ) -> ChatResponse:
        data = orjson.loads(response.content)
        message = ((data.get("output") or {}).get("message")) if isinstance(data, dict) else None
        if not isinstance(message, dict) or "stopReason" not in data:
            raise UpstreamUnavailableError(
                f"{target.provider} sent a malformed response", debug=response.content
            )
        text = ""
        calls = []
        for block in message.get("content") or ():
            if "text" in block:
                text += block["text"]
            elif "toolUse" in block:
                use = block["toolUse"]
                arguments = orjson.dumps(use.get("input", {})).decode()
                calls.append(tool_call(use["toolUseId"], use["name"], arguments))
        return completion(
            target.model,
            [(text, calls, finish_reason(data["stopReason"], target.provider))],
            openai_usage(data.get("usage")),
            completion_id=response.headers.get("x-amzn-requestid"),
        )

    def new_stream_decoder(self, request: ChatRequest, target: Target) -> ConverseStreamDecoder:
        return ConverseStreamDecoder(target.model, target.provider, self._stream_error)

    def _stream_error(self, kind: str, payload: bytes) -> GatewayError:
        return self.map_error(error_status(kind, 500), httpx.Headers(), payload)

    def map_error(self, status: int, headers: httpx.Headers, body: bytes) -> GatewayError:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = {}
        message = None
        if isinstance(data, dict):
            message = data.get("message") or data.get("Message")
        kind = headers.get("x-amzn-errortype") or ""
        return error_from_status(
            error_status(kind, status),
            provider=self.name,
            message=str(message) if message else None,
            code=None,
            headers=headers,
            body=body,
        )

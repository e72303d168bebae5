"""The gateway's OpenAPI document, kept accurate for routes that parse their own body.

``/v1/chat/completions`` reads its body with orjson for speed and its own error
messages, so FastAPI cannot see its schema; this module adds the ChatRequest
schema, the two success media types and the error envelope, once, at startup.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from providers.types import ChatRequest

__all__ = ["install_openapi"]

_REF = "#/components/schemas/{model}"

ERROR_ENVELOPE: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}

_ERROR_STATUSES = {
    "400": "Malformed or invalid request",
    "401": "Missing or unknown key",
    "403": "The key may not use this model",
    "404": "No such model",
    "413": "Body larger than server.max_body_bytes",
    "429": "Rate limit or budget exceeded",
    "502": "Every deployment and fallback failed",
    "504": "The last attempt timed out",
}


def _error_responses() -> dict[str, Any]:
    ref = {"$ref": "#/components/schemas/ErrorEnvelope"}
    return {
        status: {"description": text, "content": {"application/json": {"schema": ref}}}
        for status, text in _ERROR_STATUSES.items()
    }


def _chat_operation() -> dict[str, Any]:
    return {
        "summary": "Create a chat completion (OpenAI Chat Completions)",
        "operationId": "createChatCompletion",
        "security": [{"bearer": []}, {"apiKey": []}],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": _REF.format(model="ChatRequest")}}},
        },
        "responses": {
            "200": {
                "description": "A chat.completion object, or a text/event-stream of "
                "chat.completion.chunk objects ending in `data: [DONE]` when stream is true",
                "content": {
                    "application/json": {"schema": {"type": "object"}},
                    "text/event-stream": {"schema": {"type": "string"}},
                },
            },
            **_error_responses(),
        },
    }


def install_openapi(app: FastAPI) -> None:
    def build() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, summary=app.summary, routes=app.routes
        )
        components = schema.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        request_schema = ChatRequest.model_json_schema(ref_template=_REF)
        schemas.update(request_schema.pop("$defs", {}))
        schemas["ChatRequest"] = request_schema
        schemas["ErrorEnvelope"] = ERROR_ENVELOPE
        components["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "api-key"},
        }
        schema["paths"]["/v1/chat/completions"] = {"post": _chat_operation()}
        app.openapi_schema = schema
        return schema

    app.openapi = build  # type: ignore[method-assign]

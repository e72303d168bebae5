"""A fake Azure OpenAI data plane, built on the fake OpenAI server.

What it adds, from Azure OpenAI's REST reference: only
``/openai/deployments/{deployment}/chat/completions`` is served; a request
without ``api-version`` is a 404 and one without the ``api-key`` header a 401
(Azure's error shapes); answers carry ``prompt_filter_results`` and
``content_filter_results``; streams open with a chunk that has no choices, only
``prompt_filter_results``. Model ``content-filtered`` answers with Azure's
content-filter refusal (400, ``code: content_filter``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from tests.fakes.openai_server import FakeOpenAI

_SAFE = {
    name: {"filtered": False, "severity": "safe"}
    for name in ("hate", "self_harm", "sexual", "violence")
}
PROMPT_FILTER = [{"prompt_index": 0, "content_filter_results": _SAFE}]
CONTENT_FILTER_ERROR = {
    "error": {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's "
        "content management policy. Please modify your prompt and retry.",
        "type": None,
        "param": "prompt",
        "code": "content_filter",
        "status": 400,
        "innererror": {
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_result": {**_SAFE, "violence": {"filtered": True, "severity": "high"}},
        },
    }
}


class FakeAzure(FakeOpenAI):
    def __init__(self) -> None:
        super().__init__()
        self.queries: list[dict[str, str]] = []

    def reset(self) -> None:
        super().reset()
        self.queries.clear()

    async def chat(self, request: Request) -> Response:
        self.queries.append(dict(request.query_params))
        if "deployment" not in request.path_params:
            return JSONResponse({"error": {"code": "404", "message": "Resource not found"}}, 404)
        if "api-version" not in request.query_params:
            return JSONResponse({"error": {"code": "404", "message": "Resource not found"}}, 404)
        if not request.headers.get("api-key"):
            error = {
                "statusCode": 401,
                "message": "Unauthorized. Access token is missing, invalid, audience is "
                "incorrect (https://cognitiveservices.azure.com), or have expired.",
            }
            return JSONResponse({"error": error}, 401)
        body = json.loads(await request.body())
        if body.get("model") == "content-filtered":
            self.calls.append(_call(request, body))
            return JSONResponse(CONTENT_FILTER_ERROR, status_code=400)
        response = await super().chat(request)
        if isinstance(response, StreamingResponse):
            response.body_iterator = _with_filter_chunk(response.body_iterator)
            return response
        data = json.loads(bytes(response.body))
        if response.status_code == 200 and "choices" in data:
            data["prompt_filter_results"] = PROMPT_FILTER
            for choice in data["choices"]:
                choice["content_filter_results"] = _SAFE
            return JSONResponse(data)
        return response


def _call(request: Request, body: dict[str, Any]) -> Any:
    from tests.fakes.openai_server import Call

    return Call(request.url.path, dict(request.headers), body)


async def _with_filter_chunk(chunks: AsyncIterator[Any]) -> AsyncIterator[Any]:
    first = {
        "choices": [],
        "created": 0,
        "id": "",
        "model": "",
        "object": "",
        "prompt_filter_results": PROMPT_FILTER,
    }
    yield f"data: {json.dumps(first)}\n\n".encode()
    async for chunk in chunks:
        yield chunk

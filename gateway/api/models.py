"""GET /v1/models: the models the caller's key may use, in OpenAI's list shape."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

router = APIRouter()


@router.get("/v1/models")
async def list_models(request: Request) -> dict[str, Any]:
    state = request.app.state
    caller = state.keyring.authenticate(request.headers)
    plan = state.plan
    names = [n for n in state.settings.models if caller.may_use(n) and plan.servable(n)]
    return {
        "object": "list",
        "data": [{"id": n, "object": "model", "created": 0, "owned_by": "arbiter"} for n in names],
    }

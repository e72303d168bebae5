"""Liveness, readiness and the Prometheus scrape endpoint."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from gateway.metrics import CONTENT_TYPE_LATEST

router = APIRouter()


@router.get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/health/ready")
async def ready(request: Request) -> Response:
    state = request.app.state
    problems = []
    if getattr(state, "draining", False):
        problems.append("shutting down")
    if getattr(state, "executor", None) is None:
        problems.append("not started")
    probe = getattr(state, "state_probe", None)
    if probe is not None and not await probe():
        problems.append("shared state unreachable")
    if problems:
        return JSONResponse({"status": "unavailable", "problems": problems}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)

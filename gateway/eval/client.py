"""How ``arbiter rank`` reaches models: through Arbiter's HTTP API, always.

``connect(url=...)`` talks to a running Arbiter; ``connect(settings=...)``
builds this config's app in-process (its lifespan run here, requests sent
through ``httpx.ASGITransport``), so both modes exercise the same routing,
hooks and scoreboard, and publish through the same endpoint.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from gateway.config import Settings

__all__ = ["EvalError", "GatewayClient", "Reply", "connect"]


class EvalError(Exception):
    """The run cannot go on (no key, gateway unreachable, publish refused)."""


@dataclass(slots=True)
class Reply:
    text: str = ""
    latency_s: float = 0.0
    usage: dict[str, Any] | None = None
    cost_usd: float | None = None
    answered_by: str | None = None
    error: str | None = None


def _error_message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.text[:200] or response.reason_phrase


class GatewayClient:
    def __init__(self, http: httpx.AsyncClient, key: str) -> None:
        self.http = http
        self.headers = {"authorization": f"Bearer {key}"}
        self.calls = 0  # chat completions sent (answers and judge verdicts)

    async def complete(self, model: str, messages: list[dict[str, Any]], *, task: str) -> Reply:
        self.calls += 1
        started = time.perf_counter()
        try:
            response = await self.http.post(
                "/v1/chat/completions",
                json={"model": model, "messages": messages},
                headers={**self.headers, "x-arbiter-task": task},
            )
        except httpx.HTTPError as exc:
            return Reply(latency_s=time.perf_counter() - started, error=f"{type(exc).__name__}")
        latency = time.perf_counter() - started
        if response.status_code != 200:
            return Reply(
                latency_s=latency, error=f"{response.status_code}: {_error_message(response)}"
            )
        body = response.json()
        choices = body.get("choices") or [{}]
        cost = response.headers.get("x-arbiter-cost-usd")
        return Reply(
            text=str((choices[0].get("message") or {}).get("content") or ""),
            latency_s=latency,
            usage=body.get("usage"),
            cost_usd=float(cost) if cost else None,
            answered_by=response.headers.get("x-arbiter-model"),
        )

    async def models(self) -> set[str]:
        """The models this key may use."""
        try:
            response = await self.http.get("/v1/models", headers=self.headers)
        except httpx.HTTPError as exc:
            raise EvalError(f"cannot reach the gateway: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise EvalError(f"the gateway refused to list models: {_error_message(response)}")
        return {str(m["id"]) for m in response.json().get("data", [])}

    async def publish(self, task: str, results: list[dict[str, Any]]) -> None:
        response = await self.http.post(
            "/v1/rankings/quality", json={"task": task, "results": results}, headers=self.headers
        )
        if response.status_code != 204:
            raise EvalError(f"publishing to the gateway failed: {_error_message(response)}")


@asynccontextmanager
async def connect(
    *,
    url: str | None = None,
    key: str | None = None,
    settings: Settings | None = None,
    timeout_s: float = 300.0,
) -> AsyncIterator[GatewayClient]:
    timeout = httpx.Timeout(timeout_s, connect=10.0)
    if url:
        if not key:
            raise EvalError("--url needs --key (a key of that gateway)")
        async with httpx.AsyncClient(base_url=url.rstrip("/"), timeout=timeout) as http:
            yield GatewayClient(http, key)
        return
    assert settings is not None
    master = settings.server.master_key
    key = key or (master.get_secret_value() if master else None)
    if not key:
        raise EvalError("in-process runs need server.master_key in the config, or --key")
    from gateway.app import create_app

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://arbiter.in-process", timeout=timeout
        ) as http:
            yield GatewayClient(http, key)

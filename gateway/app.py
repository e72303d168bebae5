"""create_app(settings, *, transport=None): the FastAPI application.

Middleware order, outermost first:
  RequestContextMiddleware  request id on every response, 413 for big bodies,
                            any escaped exception rendered as InternalError
  FastAPI's ExceptionMiddleware  GatewayError / validation / HTTP errors → envelope
  routes
"""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from gateway.api import chat, health, models
from gateway.auth import KeyRing
from gateway.config import Settings
from gateway.errors import install_error_handlers
from gateway.lifespan import lifespan_for
from gateway.metrics import Metrics, MetricsHook, MetricsObserver
from gateway.middleware import RequestContextMiddleware
from gateway.openapi import install_openapi
from gateway.ranking import install_ranking
from gateway.runtime import plan_runtime

__all__ = ["create_app"]


def _secrets(settings: Settings) -> list[str]:
    """Every configured secret, so that rendering can scrub them from any message."""
    values = []
    if settings.server.master_key:
        values.append(settings.server.master_key.get_secret_value())
    for provider in settings.providers.values():
        key = provider.resolved_key()
        if key:
            values.append(key.get_secret_value())
    values.extend(k.key.get_secret_value() for k in settings.keys if k.key)
    return [v for v in values if len(v) >= 4]


def create_app(settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    app = FastAPI(
        title="Arbiter",
        summary="An OpenAI-compatible gateway that ranks and routes across LLM providers.",
        lifespan=lifespan_for(transport),
        docs_url=None,
        redoc_url=None,
    )
    state = app.state
    state.settings = settings
    state.plan = plan_runtime(settings)
    state.keyring = KeyRing(settings)
    state.metrics = Metrics()
    state.observers = [MetricsObserver(state.metrics)]  # hear every upstream attempt
    state.hooks = [MetricsHook(state.metrics)]  # act on every request; metrics first
    state.secrets = _secrets(settings)
    state.draining = False

    install_error_handlers(app)
    install_openapi(app)
    app.include_router(chat.router)
    app.include_router(models.router)
    app.include_router(health.router)
    install_ranking(app)  # scoreboard observer, ranking hook, /v1/rankings, /v1/compare, /dashboard
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.server.max_body_bytes,
        max_header_bytes=settings.server.max_header_bytes,
        secrets=state.secrets,
    )
    return app

"""create_app(settings, *, transport=None): the FastAPI application.

``POST /v1/chat/completions``, the hot path, is dispatched by ``ArbiterApp``
before FastAPI's own stack (server-error and exception middleware, router,
dependency injection): the middleware below wraps ``ChatEndpoint`` directly.
Every other request goes through FastAPI.

Middleware order, outermost first:
  RequestContextMiddleware  request id on every response, 413 for big bodies,
                            any escaped exception rendered as InternalError; with
                            logging.access_log, the access line of requests that
                            never reached a chat context (refusals, other routes)
  FastAPI's ExceptionMiddleware  GatewayError / validation / HTTP errors → envelope
  routes
"""

from __future__ import annotations

import functools

import httpx
from fastapi import FastAPI
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.access_log import AccessLogHook
from gateway.api import chat, health, models, usage
from gateway.auth import KeyRing
from gateway.budgets import BudgetHook
from gateway.config import Settings
from gateway.costs import CostHook
from gateway.errors import install_error_handlers
from gateway.lifespan import lifespan_for
from gateway.limits import RateLimitHook
from gateway.metrics import Metrics, MetricsHook, MetricsObserver
from gateway.middleware import RequestContextMiddleware
from gateway.openapi import install_openapi
from gateway.ranking import install_ranking
from gateway.runtime import plan_runtime
from gateway.usage import UsageLedger

__all__ = ["ArbiterApp", "create_app"]

CHAT_PATH = "/v1/chat/completions"


class ArbiterApp(FastAPI):
    """FastAPI, with the chat route answered before FastAPI's stack is entered."""

    chat_app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            self.chat_app is not None
            and scope["type"] == "http"
            and scope["path"] == CHAT_PATH
            and scope["method"] == "POST"
        ):
            await self.chat_app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


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


def create_app(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    freeze_heap: bool = False,
) -> ArbiterApp:
    """``freeze_heap``: after startup, hide the startup heap from the garbage
    collector (``gc.freeze``); for a serving process, not for tests that build many apps."""
    app = ArbiterApp(
        title="Arbiter",
        summary="An OpenAI-compatible gateway that ranks and routes across LLM providers.",
        lifespan=lifespan_for(transport),
        docs_url=None,
        redoc_url=None,
    )
    state = app.state
    state.settings = settings
    state.freeze_heap = freeze_heap
    state.plan = plan_runtime(settings)
    state.keyring = KeyRing(settings)
    state.metrics = Metrics()
    state.observers = [MetricsObserver(state.metrics)]  # hear every upstream attempt
    state.hooks = [MetricsHook(state.metrics)]  # act on every request; metrics first
    # Opened in the lifespan, read per request: straight from the dict behind starlette's
    # State (its ``__getattr__`` is a Python call on every read).
    shared_state = functools.partial(state._state.get, "shared_state")
    state.ledger = UsageLedger(shared_state)
    # Encodings cost ~100 MB and a second to load: load them at startup only when
    # some key has a token limit (every request is then counted); otherwise on first use.
    state.rate_limits = RateLimitHook(
        shared_state, state.plan, warm=any(key.tpm for key in settings.keys)
    )
    # Cost before anything reads ctx.cost_usd; budget (a read) before rate limits (a charge).
    budgets = BudgetHook(state.ledger, state.plan, state.keyring.callers)
    state.costs = CostHook(state.plan, state.metrics, state.ledger)  # chat prices JSON answers
    state.hooks += [state.costs, budgets]
    state.hooks.append(state.rate_limits)
    state.secrets = _secrets(settings)
    state.draining = False
    if settings.logging.access_log:
        state.hooks.append(
            AccessLogHook(log_bodies=settings.logging.log_bodies, secrets=state.secrets)
        )
    if settings.tracing.enabled:
        from gateway.tracing import install_tracing  # the otel extra: imported only when on

        install_tracing(state, settings.tracing)

    install_error_handlers(app)
    install_openapi(app)
    chat_endpoint = chat.ChatEndpoint(state)
    # Registered with FastAPI too: other methods get the 405 envelope from its router.
    app.router.routes.append(Route(CHAT_PATH, chat_endpoint, methods=["POST"]))
    app.include_router(models.router)
    app.include_router(health.router)
    app.include_router(usage.router)
    install_ranking(app)  # scoreboard observer, ranking hook, /v1/rankings, /v1/compare, /dashboard
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.server.max_body_bytes,
        max_header_bytes=settings.server.max_header_bytes,
        secrets=state.secrets,
        access_log=settings.logging.access_log,
    )
    app.chat_app = _wrap_chat(chat_endpoint, settings, state.secrets)
    return app


def _wrap_chat(endpoint: ASGIApp, settings: Settings, secrets: list[str]) -> ASGIApp:
    """The chat endpoint inside the same middleware every route has."""
    return RequestContextMiddleware(
        endpoint,
        max_body_bytes=settings.server.max_body_bytes,
        max_header_bytes=settings.server.max_header_bytes,
        secrets=secrets,
        access_log=settings.logging.access_log,
    )

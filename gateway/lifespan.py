"""Startup and shutdown: opens the provider clients, the executor and the state
store, stores them on ``app.state``, and closes them all on the way out."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from gateway.caching import open_response_cache
from gateway.drain import flush_all, watch_signals
from gateway.routing_setup import build_routing
from gateway.runtime import open_upstreams
from routing.executor import Executor
from routing.state import SharedState

__all__ = ["lifespan_for"]

log = logging.getLogger("arbiter")


def lifespan_for(transport: httpx.AsyncBaseTransport | None):  # type: ignore[no-untyped-def]
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = app.state
        plan = state.plan
        for name, reason in plan.disabled.items():
            log.warning("provider %s is disabled: %s", name, reason)
        settings = state.settings
        shared = SharedState.from_url(
            settings.state.redis_url,
            prefix=settings.state.key_prefix,
            on_error=lambda op: state.metrics.state_errors.labels(op).inc(),
        )
        state.shared_state = shared
        state.state_probe = shared.ping
        state.cache = open_response_cache(settings, plan, state.metrics, shared.redis)
        upstreams = open_upstreams(plan, transport)
        state.upstreams = upstreams
        routing = build_routing(
            settings, plan, shared, state.observers, quality=state.ranking.deployment_quality
        )
        state.routing = routing
        state.executor = Executor(
            plan.routes,
            upstreams,
            routed=plan.routed,
            observers=state.observers,
            pick_candidates=state.ranking.selector.pick,
            **routing.executor_options(),
        )
        await routing.start()
        await state.ranking.start(shared)
        state.draining = False

        def begin_drain() -> None:
            state.draining = True
            log.info("shutdown signal received: draining in-flight requests")

        restore_signals = watch_signals(begin_drain)
        if getattr(state, "freeze_heap", False):
            # Everything built so far lives as long as the process: out of the
            # collector's sight, full collections no longer walk it (their pauses
            # were the p99 under load, see bench/README.md).
            gc.collect()
            gc.freeze()
        log.info(
            "arbiter ready: %d models, %d providers enabled",
            len(plan.routes) + len(plan.routed),
            len(upstreams),
        )
        try:
            yield
        finally:
            state.draining = True
            restore_signals()
            await flush_all([*state.hooks, *state.observers])
            await routing.aclose()
            await state.ranking.aclose()
            await asyncio.gather(*(u.client.aclose() for u in upstreams.values()))
            await state.cache.aclose()
            await shared.aclose()

    return lifespan

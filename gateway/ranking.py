"""Ranking in the gateway: the request hook and the wiring of the ranking service.

``RankingHook`` reads what a request asks of a routed model (``x-arbiter-*``
headers and ``metadata``, which may only tighten the config's constraints) and
hands it to the selector through ``routing.ranking.current_request``; the
selector's decision comes back as the ``x-arbiter-route-reason`` header. When
the response is complete the hook remembers who answered (for
``POST /v1/feedback``).

``install_ranking`` builds the service once at startup, registers its observer
(the scoreboard) and hook, and adds the ranking routes; ``lifespan`` starts and
stops it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI

from gateway.api import compare, dashboard, rankings
from gateway.context import RequestContext
from providers.base import Target
from routing.ranking import (
    Constraints,
    Decision,
    RankingService,
    RoutingRequest,
    current_request,
    parse_constraints,
)
from routing.routes import ModelRoute

__all__ = ["ROUTE_REASON_HEADER", "RankingHook", "asked_constraints", "install_ranking"]

ROUTE_REASON_HEADER = "x-arbiter-route-reason"
_HEADER_KEYS = {
    "x-arbiter-prefer": "prefer",
    "x-arbiter-min-quality": "min_quality",
    "x-arbiter-max-quality-gap": "max_quality_gap",
    "x-arbiter-max-p95-latency-ms": "max_p95_latency_ms",
    "x-arbiter-max-cost-per-mtok": "max_cost_per_mtok",
}
_NO_CONSTRAINTS = Constraints()


def asked_constraints(
    headers: Mapping[str, str], metadata: Mapping[str, Any] | None
) -> Constraints:
    """What a request asks for: ``metadata`` keys, tightened further by ``x-arbiter-*`` headers."""
    asked = parse_constraints(metadata) if metadata else _NO_CONSTRAINTS
    found = {key: headers[name] for name, key in _HEADER_KEYS.items() if name in headers}
    if found:
        asked = asked.tightened_by(parse_constraints(found, where="header"))
    return asked


def _header_safe(text: str) -> str:
    return text.encode("ascii", "replace").decode("ascii")[:300]


class RankingHook:
    def __init__(self, service: RankingService, routes: Mapping[str, ModelRoute]) -> None:
        self.service = service
        # (model, provider, upstream model) -> deployment, to price and attribute answers
        self.targets: dict[tuple[str, str, str], Target] = {}
        for route in routes.values():
            for target in route.targets:
                self.targets.setdefault((route.name, target.provider, target.model), target)

    async def on_request(self, ctx: RequestContext) -> None:
        """For a routed model: what the request asks, for the selector. Other models'
        requests may carry ``metadata`` of their own; only their task label is passed on."""
        if ctx.chat.model not in self.service.routed:
            if ctx.task != "general":  # the task, for strategies that rank by quality
                current_request.set(RoutingRequest(task=ctx.task))
            return
        routing = RoutingRequest(
            task=ctx.task,
            constraints=asked_constraints(ctx.headers, ctx.chat.metadata),
            on_decision=lambda decision: self._decided(ctx, decision),
        )
        current_request.set(routing)
        ctx.notes["routing"] = routing

    @staticmethod
    def _decided(ctx: RequestContext, decision: Decision) -> None:
        ctx.response_headers[ROUTE_REASON_HEADER] = _header_safe(decision.reason)

    def on_response(self, ctx: RequestContext) -> None:
        if ctx.status != "ok" or ctx.model is None:
            return
        target = self.targets.get((ctx.model, ctx.provider or "", ctx.upstream_model or ""))
        deployment = target.id if target is not None else None
        labels = (ctx.model, ctx.task, ctx.caller.name, deployment)  # as ``Answer`` has them
        self.service.answers.remember_labels(ctx.request_id, labels)


def install_ranking(app: FastAPI) -> RankingService:
    """Build the ranking service from the settings and plug it into the app."""
    state = app.state
    config = state.settings.ranking
    service = RankingService(
        state.plan.routes,
        state.plan.routed,
        window_s=config.window_s,
        slice_s=config.slice_s,
        sync_interval_s=config.sync_interval_s,
        min_samples=config.min_samples,
        answers_ttl_s=config.answers_ttl_s,
        answers_max=config.answers_max,
        bootstrap_rounds=config.bootstrap_rounds,
        seed=config.seed,
    )
    state.ranking = service
    state.dashboard_page = dashboard.load_page()
    state.observers.append(service.scoreboard)
    state.hooks.append(RankingHook(service, state.plan.routes))
    app.include_router(rankings.router)
    app.include_router(compare.router)
    app.include_router(dashboard.router)
    return service

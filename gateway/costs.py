"""What each request cost, and where that is told.

When a request ends, its cost is computed from the real usage (the upstream's,
or counted locally when the upstream left it out) and the prices of the
deployment that answered (configured, else the bundled table; see
``providers.prices``). It then goes to:

- ``ctx.cost_usd``, for later hooks (access log, scoreboard);
- the ``x-arbiter-cost-usd`` header of a JSON completion. A stream's headers
  leave before its usage is known, so streams carry no cost header: their cost
  is in the usage ledger, ``GET /v1/usage`` and the metric;
- ``arbiter_cost_usd_total{model,provider,key}``;
- the usage ledger (``gateway.usage``), which budgets and ``/v1/usage`` read.

A deployment with no price has no cost (no header); its requests and tokens are
still recorded.
"""

from __future__ import annotations

from gateway.context import RequestContext
from gateway.metrics import BoundValues, Metrics
from gateway.runtime import RuntimePlan
from gateway.usage import UsageLedger
from providers.base import Target
from providers.pricing import usage_cost_usd

__all__ = ["COST_HEADER", "CostHook", "format_usd"]

COST_HEADER = "x-arbiter-cost-usd"


def format_usd(cost: float) -> str:
    """Dollars to 10 decimals: exact to far below a thousandth of a cent."""
    return f"{cost:.10f}"


_FREE = format_usd(0.0)  # the header of every cache hit, formatted once


class CostHook:
    acts_on_request = False  # prices when answered (``price``), nothing to do before

    def __init__(self, plan: RuntimePlan, metrics: Metrics, ledger: UsageLedger) -> None:
        self.metrics = metrics
        self.ledger = ledger
        self._spend = BoundValues(metrics.cost)  # by (model, provider, key)
        # (model name, provider, upstream model) → the deployment: its prices.
        self._targets: dict[tuple[str, str, str], Target] = {}
        for route in plan.routes.values():
            for target in route.targets:
                self._targets.setdefault((target.model_name, target.provider, target.model), target)

    async def on_request(self, ctx: RequestContext) -> None:
        return None

    def price(self, ctx: RequestContext) -> None:
        """``ctx.cost_usd`` and, for a JSON answer, its header. ``gateway.api.chat``
        calls this before it sends a JSON answer (its headers must carry the cost;
        the other hooks run after the answer is on its way); ``on_response`` prices
        what was not priced yet (streams, errors)."""
        ctx.priced = True
        if ctx.model is None:  # never reached a deployment
            return
        if ctx.cache == "hit":  # served from the cache: nothing was bought
            ctx.cost_usd = 0.0
            if not ctx.chat.stream:
                ctx.response_headers[COST_HEADER] = _FREE
            return
        target = self._targets.get((ctx.model, ctx.provider or "", ctx.upstream_model or ""))
        cost = usage_cost_usd(ctx.usage, target) if target is not None else None
        ctx.cost_usd = cost
        if cost is not None and not ctx.chat.stream:
            ctx.response_headers[COST_HEADER] = format_usd(cost)

    def on_response(self, ctx: RequestContext) -> None:
        if not ctx.priced:
            self.price(ctx)
        if ctx.model is None:
            return
        cost = ctx.cost_usd
        key = ctx.caller.name
        if cost is not None:
            # Bound even at no cost (a cache hit), so that the series shows from the
            # first priced answer; adding nothing to it is skipped.
            spend = self._spend[ctx.model, ctx.provider or "", key]
            if cost:
                spend.inc(cost)
        self.ledger.record(key, ctx.model, ctx.usage, cost or 0.0)

    async def aclose(self) -> None:
        """At shutdown: every record reaches the store before the process exits."""
        await self.ledger.aclose()

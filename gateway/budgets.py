"""Per-key budgets: ``budget_usd`` over ``budget_period`` (``1d``, ``30d`` or ``total``).

Checked before the upstream call: a key that has spent its budget gets a 429
``budget_exceeded``. ``1d`` is the current UTC day; ``30d`` is the last 30 UTC
days including today (a rolling window); ``total`` never resets. Retry-After
says when enough spend leaves the window for the key to be under budget again
(the next UTC midnight for ``1d``); a ``total`` budget, which never frees up,
has none. Spend is the ledger's (``gateway.usage``): in the state store, so with
Redis it is shared and survives restarts.

The check reads what has been spent; requests already in flight when the budget
runs out may each still finish, so a key can overshoot by their cost.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gateway.auth import Caller
from gateway.context import RequestContext
from gateway.runtime import RuntimePlan
from gateway.usage import UsageLedger, day_of, days_back
from providers.errors import BudgetExceededError

__all__ = ["BudgetHook", "BudgetStatus", "budget_status", "unpriced_models"]

log = logging.getLogger("arbiter")

_WINDOW_DAYS = {"1d": 1, "30d": 30}


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    spent_usd: float
    daily_usd: tuple[float, ...]  # oldest first; one entry for "total"

    def retry_after_s(self, budget: float, period: str, now: float) -> float | None:
        """Seconds until the spend in the window drops under ``budget``; None if never."""
        if period not in _WINDOW_DAYS:
            return None
        today = day_of(now)
        for k in range(1, len(self.daily_usd) + 1):
            if sum(self.daily_usd[k:]) < budget:
                # Day i of the window leaves it at the start of day today + i + 1.
                leaves = datetime.combine(today + timedelta(days=k), datetime.min.time(), UTC)
                return max(0.0, leaves.timestamp() - now)
        return None


async def budget_status(ledger: UsageLedger, key: str, period: str) -> BudgetStatus:
    """What a key has spent in its budget period so far."""
    days = (
        days_back(day_of(ledger.clock()), _WINDOW_DAYS[period])
        if period in _WINDOW_DAYS
        else ["total"]
    )
    daily = await ledger.daily_spend(key, days)
    return BudgetStatus(sum(daily), tuple(daily))


def _money(value: float) -> str:
    return f"${value:.6f}".rstrip("0").rstrip(".") if value else "$0"


def unpriced_models(plan: RuntimePlan) -> list[str]:
    """Models with a deployment that has no price: spend there is not counted."""
    return sorted(
        name
        for name, route in plan.routes.items()
        if any(t.input_cost_per_mtok is None for t in route.targets)
    )


class BudgetHook:
    """Refuses a request from a key that has spent its budget."""

    def __init__(
        self, ledger: UsageLedger, plan: RuntimePlan | None = None, callers: Iterable[Caller] = ()
    ) -> None:
        self.ledger = ledger
        unpriced = set(unpriced_models(plan)) if plan else set()
        for caller in callers:
            if caller.budget_usd is None:
                continue
            exposed = sorted(unpriced if caller.models is None else unpriced & caller.models)
            if exposed:
                log.warning(
                    "key %s has a budget but may use models with unpriced deployments (%s): "
                    "their requests cost nothing against it; set input_cost_per_mtok and "
                    "output_cost_per_mtok on those deployments",
                    caller.name,
                    ", ".join(exposed),
                )

    async def on_request(self, ctx: RequestContext) -> None:
        caller = ctx.caller
        budget = caller.budget_usd
        if budget is None:
            return
        status = await budget_status(self.ledger, caller.name, caller.budget_period)
        if status.spent_usd < budget:
            return
        period = "in total" if caller.budget_period == "total" else f"per {caller.budget_period}"
        raise BudgetExceededError(
            f"Budget exceeded for key '{caller.name}': spent {_money(status.spent_usd)} "
            f"of its {_money(budget)} budget {period}.",
            retry_after=status.retry_after_s(budget, caller.budget_period, self.ledger.clock()),
        )

    def on_response(self, ctx: RequestContext) -> None:
        return None

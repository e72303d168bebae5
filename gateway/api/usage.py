"""GET /v1/usage and GET /v1/keys: what each key spent, for the master key only.

``/v1/usage`` sums requests, tokens and cost per key and per model over a
period: ``?period=1d|7d|30d|total`` (UTC days ending today; default ``30d``),
or ``?start=YYYY-MM-DD&end=YYYY-MM-DD`` (inclusive); ``?key=`` and ``?model=``
narrow it. ``/v1/keys`` lists the virtual keys with their models, limits and
spend (in the budget's period and in total), never a key's value.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from gateway.budgets import budget_status
from gateway.usage import RETENTION_DAYS, UsageLedger, UsageRow, day_of, days_back
from providers.errors import InvalidRequestError, MasterKeyRequiredError

__all__ = ["router"]

router = APIRouter()

_PERIOD_DAYS = {"1d": 1, "7d": 7, "30d": 30}


def _require_master(request: Request) -> None:
    caller = request.app.state.keyring.authenticate(request.headers)
    if not caller.is_master:
        raise MasterKeyRequiredError("this endpoint needs the master key")


def _periods(
    period: str, start: date | None, end: date | None, today: date
) -> tuple[list[str], dict[str, Any]]:
    """The day buckets to sum, and how the answer names the period."""
    if start is None and end is None:
        if period == "total":
            return ["total"], {"period": "total", "start": None, "end": None}
        days = days_back(today, _PERIOD_DAYS[period])
        return days, {"period": period, "start": days[0], "end": days[-1]}
    first, last = start or end, end or today
    assert first is not None
    if last < first:
        raise InvalidRequestError("end: must not be before start", param="end")
    if (last - first).days >= RETENTION_DAYS:
        raise InvalidRequestError(f"a period may span at most {RETENTION_DAYS} days")
    count = (last - first).days + 1
    days = [(first + timedelta(days=i)).isoformat() for i in range(count)]
    return days, {"period": "custom", "start": days[0], "end": days[-1]}


def _totals(rows: list[UsageRow]) -> dict[str, Any]:
    prompt = sum(r.prompt_tokens for r in rows)
    completion = sum(r.completion_tokens for r in rows)
    return {
        "requests": sum(r.requests for r in rows),
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "cost_usd": sum(r.cost_usd for r in rows),
    }


def _grouped(rows: list[UsageRow], by: str, inner: str | None) -> list[dict[str, Any]]:
    groups: dict[str, list[UsageRow]] = {}
    for row in rows:
        groups.setdefault(getattr(row, by), []).append(row)
    out = []
    for name, members in sorted(groups.items()):
        entry: dict[str, Any] = {by: name, **_totals(members)}
        if inner:
            entry[f"{inner}s"] = _grouped(members, inner, None)
        out.append(entry)
    return out


@router.get("/v1/usage")
async def usage(
    request: Request,
    period: Literal["1d", "7d", "30d", "total"] = "30d",
    start: Annotated[date | None, Query(description="first UTC day (YYYY-MM-DD)")] = None,
    end: Annotated[date | None, Query(description="last UTC day, inclusive")] = None,
    key: Annotated[str | None, Query(description="only this key (by name)")] = None,
    model: Annotated[str | None, Query(description="only this model")] = None,
) -> dict[str, Any]:
    _require_master(request)
    ledger: UsageLedger = request.app.state.ledger
    days, named = _periods(period, start, end, day_of(ledger.clock()))
    rows = [
        r
        for r in await ledger.rows(days)
        if (key is None or r.key == key) and (model is None or r.model == model)
    ]
    return {
        "object": "usage",
        **named,
        "total": _totals(rows),
        "keys": _grouped(rows, "key", "model"),
        "models": _grouped(rows, "model", None),
    }


@router.get("/v1/keys")
async def keys(request: Request) -> dict[str, Any]:
    _require_master(request)
    state = request.app.state
    ledger: UsageLedger = state.ledger
    data = []
    for entry in state.settings.keys:
        total = (await budget_status(ledger, entry.name, "total")).spent_usd
        spent = (
            total
            if entry.budget_period == "total"
            else (await budget_status(ledger, entry.name, entry.budget_period)).spent_usd
        )
        data.append(
            {
                "object": "key",
                "name": entry.name,
                "models": entry.models,
                "rpm": entry.rpm,
                "tpm": entry.tpm,
                "budget_usd": entry.budget_usd,
                "budget_period": entry.budget_period,
                "spend_usd": spent,
                "budget_remaining_usd": (
                    max(0.0, entry.budget_usd - spent) if entry.budget_usd is not None else None
                ),
                "spend_total_usd": total,
            }
        )
    return {"object": "list", "data": data}

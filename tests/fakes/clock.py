"""A clock that moves only when a test says so, for limits, budgets and usage days."""

from __future__ import annotations

from typing import Any

# 2025-06-15 12:00:00 UTC: a fixed, unremarkable moment.
NOON = 1_749_988_800.0


class FakeClock:
    def __init__(self, now: float = NOON) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def use_clock(app: Any, clock: FakeClock) -> None:
    """Makes a gateway's rate limits, budgets and usage ledger read ``clock``."""
    app.state.rate_limits.gcra.clock = clock
    app.state.ledger.clock = clock

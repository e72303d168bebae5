"""Builds the routing machinery from the config, once, at startup.

``routing/`` does not read the config (it may not import ``gateway``); this module
turns ``routing.*`` settings into the objects the executor uses: the deployment
stats, the health book (cooldowns), the retry policy, the strategy table, and,
when ``state.redis_url`` is set, the background exchange that shares them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gateway.config import Settings
from gateway.runtime import RuntimePlan
from routing.health import HealthBook, HealthListener, HealthPolicy
from routing.retry import RetryPolicy
from routing.state import SharedState
from routing.stats import DeploymentStats
from routing.strategies import QualitySource, StrategyOrder, build_strategies
from routing.sync import StateSync

__all__ = ["RoutingParts", "build_routing"]

_PROBE_LEASE_MARGIN_S = 5.0


@dataclass(slots=True)
class RoutingParts:
    stats: DeploymentStats
    health: HealthBook
    retry: RetryPolicy
    order: StrategyOrder
    sync: StateSync | None
    timeout_s: float

    def executor_options(self) -> dict[str, Any]:
        """Keyword arguments for ``routing.executor.Executor``."""
        return {
            "order_targets": self.order,
            "health": self.health,
            "stats": self.stats,
            "retry": self.retry,
            "timeout_s": self.timeout_s,
        }

    async def start(self) -> None:
        self.health.announce()
        if self.sync is not None:
            await self.sync.start()

    async def aclose(self) -> None:
        if self.sync is not None:
            await self.sync.aclose()


def build_routing(
    settings: Settings,
    plan: RuntimePlan,
    shared: SharedState,
    listeners: Sequence[object] = (),
    *,
    quality: QualitySource | None = None,
    rng: random.Random | None = None,
) -> RoutingParts:
    """``listeners``: objects to tell about deployment health (those that are
    ``HealthListener``s; others are ignored, so ``app.state.observers`` can be passed)."""
    config = settings.routing
    targets = [t for route in plan.routes.values() for t in route.targets]
    stats = DeploymentStats(decay_s=config.latency_decay_s)
    policy = HealthPolicy(
        cooldown_s=config.cooldown_s,
        allowed_fails=config.allowed_fails,
        window_s=config.error_rate_window_s,
        max_error_rate=config.max_error_rate,
        min_window_attempts=config.min_attempts_for_error_rate,
        probe_lease_s=config.timeout_s + _PROBE_LEASE_MARGIN_S,
    )
    health = HealthBook(
        targets,
        policy,
        listeners=[item for item in listeners if isinstance(item, HealthListener)],
    )
    sync = None
    if shared.shared:
        sync = StateSync(
            shared, health, stats, [t.id for t in targets], interval_s=config.state_sync_s
        )
        health.sync = sync
    retry = RetryPolicy(
        retries=config.retries,
        backoff_base_s=config.backoff_base_s,
        backoff_max_s=config.backoff_max_s,
    )
    order = StrategyOrder(stats, build_strategies(rng=rng, quality=quality))
    return RoutingParts(stats, health, retry, order, sync, config.timeout_s)

"""Counters per task label, shared through Redis: the storage under quality scores and votes.

Each task is one Redis hash, ``<prefix><namespace>:<task>``, of float counters,
and the set ``<prefix><namespace>-tasks`` lists the tasks. Writes (feedback,
published eval results, judge verdicts: never the chat hot path) go to Redis at
once and to the local copy; ``refresh`` replaces the local copy with Redis's, so
every replica converges on the same numbers. Without Redis, or while it is down,
the local copy is the truth for this process.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from routing.state import SharedState

__all__ = ["TaskCounters"]

log = logging.getLogger("arbiter.ranking")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class TaskCounters:
    def __init__(self, namespace: str, *, max_tasks: int = 256) -> None:
        self.namespace = namespace
        self.max_tasks = max_tasks
        self.version = 0  # bumped whenever the numbers change, for caches built on them
        self._data: dict[str, dict[str, float]] = {}
        self._shared: SharedState | None = None

    def attach(self, shared: SharedState | None) -> None:
        self._shared = shared if shared is not None and shared.shared else None

    def tasks(self) -> list[str]:
        return sorted(self._data)

    def get(self, task: str) -> Mapping[str, float]:
        return self._data.get(task, {})

    def _admit(self, task: str) -> bool:
        if task in self._data or len(self._data) < self.max_tasks:
            return True
        log.warning(
            "%s: more than %d task labels; ignoring %r", self.namespace, self.max_tasks, task
        )
        return False

    async def incr(self, task: str, deltas: Mapping[str, float]) -> None:
        """Add ``deltas`` to the task's counters, here and in Redis."""
        if not deltas or not self._admit(task):
            return
        counters = self._data.setdefault(task, {})
        for name, delta in deltas.items():
            counters[name] = counters.get(name, 0.0) + delta
        self.version += 1
        await self._write(task, deltas, replace=False)

    async def put(self, task: str, values: Mapping[str, float]) -> None:
        """Set the task's counters named in ``values`` (others are kept)."""
        if not values or not self._admit(task):
            return
        self._data.setdefault(task, {}).update(values)
        self.version += 1
        await self._write(task, values, replace=True)

    async def _write(self, task: str, values: Mapping[str, float], *, replace: bool) -> None:
        shared = self._shared
        if shared is None:
            return

        async def call(redis: Any) -> None:
            pipe = redis.pipeline(transaction=False)
            pipe.sadd(shared.key(self.namespace + "-tasks"), task)
            key = shared.key(self.namespace, task)
            if replace:
                pipe.hset(key, mapping=dict(values))
            else:
                for name, delta in values.items():
                    pipe.hincrbyfloat(key, name, delta)
            await pipe.execute()

        await shared.run(f"{self.namespace}-write", call, lambda: None)

    async def refresh(self) -> None:
        """Replace the local copy with Redis's (a no-op without Redis or while it is down)."""
        shared = self._shared
        if shared is None:
            return

        async def call(redis: Any) -> dict[str, dict[str, float]]:
            tasks = sorted(
                _text(t) for t in await redis.smembers(shared.key(self.namespace + "-tasks"))
            )
            pipe = redis.pipeline(transaction=False)
            for task in tasks[: self.max_tasks]:
                pipe.hgetall(shared.key(self.namespace, task))
            rows = await pipe.execute()
            return {
                task: {_text(k): float(v) for k, v in (row or {}).items()}
                for task, row in zip(tasks, rows, strict=False)
            }

        data = await shared.run(f"{self.namespace}-read", call, lambda: None)
        if data is not None and data != self._data:
            self._data = data
            self.version += 1

"""Recent answers by request id, so that feedback can say which model it is about.

``remember`` is on the hot path: it stores the answer in a bounded in-process
ring (``answer_ring``: 24 bytes an answer, oldest overwritten first, entries
expire after ``ttl_s``) and queues it for Redis; ``flush`` (periodic) writes
the queue in one pipeline with the same TTL, so that feedback sent to any
replica finds answers given by any other.
``swap_mark`` keeps one small value per feedback subject (the score or vote
already counted for it), so that changing one's mind replaces a vote instead
of adding another.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import orjson

from routing.ranking.answer_ring import AnswerRing, Labels
from routing.state import SharedState

__all__ = ["Answer", "AnswerLog"]


@dataclass(frozen=True, slots=True)
class Answer:
    request_id: str
    model: str  # the model that answered (after fallbacks)
    task: str
    caller: str  # the key name that asked: only it (or the master key) may rate the answer
    deployment: str | None = None  # the target id, when known


class _Expiring:
    """A bounded map whose entries expire: oldest insertions go first."""

    def __init__(self, ttl_s: float, max_entries: int, clock: Callable[[], float]) -> None:
        self.ttl_s, self.max_entries, self.clock = ttl_s, max_entries, clock
        self._items: OrderedDict[str, tuple[float, Any]] = OrderedDict()

    def put(self, key: str, value: Any) -> None:
        self._items.pop(key, None)
        self._items[key] = (self.clock() + self.ttl_s, value)
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)

    def get(self, key: str) -> Any:
        item = self._items.get(key)
        if item is None:
            return None
        if item[0] < self.clock():
            del self._items[key]
            return None
        return item[1]

    def __len__(self) -> int:
        return len(self._items)


class AnswerLog:
    def __init__(
        self,
        *,
        ttl_s: float = 86400.0,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl_s = ttl_s
        self._answers = AnswerRing(ttl_s, max_entries, clock)
        self._marks = _Expiring(ttl_s, max_entries, clock)
        self._pending: list[tuple[str, Labels]] = []  # for Redis
        self._max_pending = max_entries
        self._shared: SharedState | None = None

    def attach(self, shared: SharedState | None) -> None:
        self._shared = shared if shared is not None and shared.shared else None

    def __len__(self) -> int:
        return len(self._answers)

    def remember(self, answer: Answer) -> None:
        self.remember_labels(
            answer.request_id, (answer.model, answer.task, answer.caller, answer.deployment)
        )

    def remember_labels(self, request_id: str, labels: Labels) -> None:
        """``remember`` without building an ``Answer`` (the hot path: every request)."""
        self._answers.put(request_id, labels)
        if self._shared is not None and len(self._pending) < self._max_pending:
            self._pending.append((request_id, labels))

    async def flush(self) -> None:
        shared, batch = self._shared, self._pending
        if shared is None or not batch:
            return
        self._pending = []
        ttl = max(1, math.ceil(self.ttl_s))

        async def call(redis: Any) -> bool:
            pipe = redis.pipeline(transaction=False)
            for request_id, labels in batch:
                answer = asdict(Answer(request_id, *labels))
                pipe.set(shared.key("ans", request_id), orjson.dumps(answer), ex=ttl)
            await pipe.execute()
            return True

        if not await shared.run("answers-write", call, lambda: False):
            self._pending = (batch + self._pending)[: self._max_pending]

    async def lookup(self, request_id: str) -> Answer | None:
        labels = self._answers.get(request_id)
        if labels is not None:
            return Answer(request_id, *labels)
        shared = self._shared
        if shared is None:
            return None

        async def call(redis: Any) -> bytes | None:
            return await redis.get(shared.key("ans", request_id))  # type: ignore[no-any-return]

        raw = await shared.run("answers-read", call, lambda: None)
        if not raw:
            return None
        try:
            return Answer(**orjson.loads(raw))
        except (orjson.JSONDecodeError, TypeError):
            return None

    async def swap_mark(self, key: str, value: str) -> str | None:
        """Set the mark ``key`` to ``value``; returns the previous value, if any."""
        previous = self._marks.get(key)
        self._marks.put(key, value)
        shared = self._shared
        if shared is None:
            return previous  # type: ignore[no-any-return]
        ttl = max(1, math.ceil(self.ttl_s))

        async def call(redis: Any) -> str | None:
            old = await redis.set(shared.key("mark", key), value, ex=ttl, get=True)
            return old.decode() if isinstance(old, bytes) else old

        remote = await shared.run("feedback-mark", call, lambda: previous)
        return remote  # type: ignore[no-any-return]

"""Response cache in Redis, shared by every worker and replica.

Entries live under ``<prefix><key>`` with a TTL (``SET ... PX``); values arrive
already compact (``cache.codec``). A claim for single flight across processes
is a ``SET NX PX`` on ``<prefix>lock:<key>`` holding this process's token, and
is released only by the process that holds it.

Redis going away never fails a request: a failed read is a miss, a failed write
is dropped, each is counted (``on_error``) and the first of an outage is logged.
Redis is then left alone for ``retry_after_s`` (so a dead server costs nothing
per request) and tried again after that: caching resumes by itself.

The client is lent by the gateway (the shared-state pool) and not closed here.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

__all__ = ["RedisCache"]

log = logging.getLogger("arbiter.cache")

# Delete the lock only if it still holds our token (it may have expired and been retaken).
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class RedisCache:
    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str,
        retry_after_s: float = 1.0,
        on_error: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.retry_after_s = retry_after_s
        self.on_error = on_error
        self._clock = clock
        self._down_until = 0.0
        # Bytes this process wrote, by the second they expire: the stored-bytes estimate.
        self._expiring: deque[list[int]] = deque()
        self._written = 0
        self._token = uuid.uuid4().hex.encode()
        self._release = redis.register_script(_RELEASE)  # EVALSHA, loaded on first use

    @property
    def available(self) -> bool:
        return self._clock() >= self._down_until

    def stored_bytes(self) -> int:
        """Bytes written by this process that have not expired yet. Redis is shared,
        so the sum over processes is the total; a refreshed entry counts twice until
        its first copy would have expired."""
        now = self._clock()
        while self._expiring and self._expiring[0][0] <= now:
            self._written -= self._expiring.popleft()[1]
        return self._written

    def _count_written(self, size: int, ttl_s: float) -> None:
        second = math.ceil(self._clock() + ttl_s)
        if self._expiring and self._expiring[-1][0] == second:
            self._expiring[-1][1] += size
        else:
            self._expiring.append([second, size])
        self._written += size

    async def _run(self, operation: str, call: Callable[[], Awaitable[Any]], failed: Any) -> Any:
        if not self.available:
            return failed
        try:
            return await call()
        except (RedisError, OSError) as exc:
            if self.available:
                log.warning(
                    "response cache: redis unavailable during %s (%s); serving without "
                    "the cache, retrying in %ss",
                    operation,
                    type(exc).__name__,
                    self.retry_after_s,
                )
            self._down_until = self._clock() + self.retry_after_s
            if self.on_error is not None:
                self.on_error(operation)
            return failed

    async def get(self, key: str) -> bytes | None:
        value = await self._run("cache_get", lambda: self.redis.get(self.prefix + key), None)
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        ttl_ms = max(1, int(ttl_s * 1000))
        stored = await self._run(
            "cache_set", lambda: self.redis.set(self.prefix + key, value, px=ttl_ms), None
        )
        if stored:
            self._count_written(len(value), ttl_s)

    async def claim(self, key: str, ttl_s: float) -> bool:
        lock = self.prefix + "lock:" + key
        ttl_ms = max(1, int(ttl_s * 1000))
        # Redis down: nobody can coordinate, so every process computes for itself.
        taken = await self._run(
            "cache_claim", lambda: self.redis.set(lock, self._token, nx=True, px=ttl_ms), True
        )
        return bool(taken)

    async def release(self, key: str) -> None:
        lock = self.prefix + "lock:" + key
        await self._run(
            "cache_release",
            lambda: self._release(keys=[lock], args=[self._token]),
            0,
        )

    async def aclose(self) -> None:
        return None  # the client belongs to the shared state

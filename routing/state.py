"""The state store shared by workers and replicas: Redis when configured, else this process.

Features that share state (cooldowns, latency stats, rate limits, spend, the
scoreboard) keep a local copy and call ``SharedState.run`` for the Redis side.
When Redis fails, ``run`` logs it once, counts it, answers from the local
fallback, and keeps Redis out of the path for ``retry_after_s`` before trying it
again: a Redis outage degrades Arbiter to single-process state, never fails a
request, and heals by itself.

The redis package (~8 MB resident) is imported only when a store has a Redis
client: a single process without ``state.redis_url`` never loads it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["SharedState"]

T = TypeVar("T")
log = logging.getLogger("arbiter.state")


_MAX_CONNECTIONS = 512  # per process; Redis serves 10,000 clients by default


def _failures(redis: Redis | None) -> tuple[type[Exception], ...]:
    """What a failed Redis call raises (nothing Redis-specific when there is none)."""
    if redis is None:
        return (OSError,)
    from redis.exceptions import RedisError

    return (RedisError, OSError)


class SharedState:
    def __init__(
        self,
        redis: Redis | None = None,
        *,
        prefix: str = "arbiter:",
        retry_after_s: float = 2.0,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.redis = redis
        self.prefix = prefix
        self.retry_after_s = retry_after_s
        self.on_error = on_error
        self._down_until = 0.0
        self.errors = _failures(redis)

    @classmethod
    def from_url(
        cls,
        url: str | None,
        *,
        prefix: str = "arbiter:",
        timeout_s: float = 1.0,
        **kwargs: object,
    ) -> SharedState:
        """A store on ``url``. ``timeout_s`` bounds how long one Redis call may hold a
        request before the request is served from local state instead."""
        if not url:
            return cls(None, prefix=prefix)
        from redis.asyncio import BlockingConnectionPool, Redis

        # A blocking pool: a burst of requests beyond the pool's size waits (at most
        # timeout_s) for a free connection. redis-py's plain pool raises at once when
        # it is exhausted (and since redis-py 8 it holds 100 by default), which sent
        # every request past the 100th of a burst to local state: rate limits no
        # longer shared, cache misses, and Redis left alone for retry_after_s.
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=_MAX_CONNECTIONS,
            timeout=timeout_s,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            health_check_interval=5,
        )
        return cls(Redis.from_pool(pool), prefix=prefix, **kwargs)  # type: ignore[arg-type]

    @property
    def shared(self) -> bool:
        """True when state is shared through Redis (even if Redis is down right now)."""
        return self.redis is not None

    @property
    def available(self) -> bool:
        return self.redis is not None and time.monotonic() >= self._down_until

    def key(self, *parts: object) -> str:
        return self.prefix + ":".join(str(p) for p in parts)

    async def run(
        self,
        operation: str,
        call: Callable[[Redis], Awaitable[T]],
        fallback: Callable[[], T],
        *,
        force: bool = False,
    ) -> T:
        """``call(redis)`` when Redis is configured and up, else ``fallback()``.

        ``operation`` names what was attempted, for the log and the error metric.
        ``force`` tries Redis even while it is being left alone after an error (a
        last attempt, at shutdown).
        """
        if self.redis is None or not (force or self.available):
            return fallback()
        try:
            return await call(self.redis)
        except self.errors as exc:
            if time.monotonic() >= self._down_until:
                log.warning(
                    "shared state unavailable during %s (%s); using local state for %ss",
                    operation,
                    type(exc).__name__,
                    self.retry_after_s,
                )
            self._down_until = time.monotonic() + self.retry_after_s
            if self.on_error is not None:
                self.on_error(operation)
            await self._drop_idle_connections()
            return fallback()

    async def _drop_idle_connections(self) -> None:
        """Close the pool's idle connections. A Redis that died leaves them open on
        this side; without this each one would fail once after Redis is back, and
        each failure would keep Redis out of the path for another ``retry_after_s``."""
        assert self.redis is not None
        with contextlib.suppress(*self.errors):
            await self.redis.connection_pool.disconnect(inuse_connections=False)

    async def ping(self) -> bool:
        if self.redis is None:
            return True
        try:
            return bool(await self.redis.ping())
        except self.errors:
            return False

    async def aclose(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()

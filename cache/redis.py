"""Response cache in Redis, shared by every worker and replica.

Entries live under ``<prefix><key>`` with a TTL (``SET ... PX``), each answer in
its compact byte form (``cache.entry``): bytes that do not decode read as a miss.
A claim for single flight across processes is a ``SET NX PX`` on
``<prefix>lock:<key>`` holding this process's token, and is released only by the
process that holds it.

Redis going away never fails a request: a failed read is a miss, a failed write
is dropped, each is counted (``on_error``) and the first of an outage is logged.
Redis is then left alone for ``retry_after_s`` (so a dead server costs nothing
per request) and tried again after that: caching resumes by itself.

A claim's lock is the exception: its release is always tried, even while Redis
is left alone, because a lock left behind stalls every identical request for
up to ``coalesce_wait_s``. If the release fails all the same, this process
remembers the lock as orphaned and takes it back the next time it claims the
key (its own token proves nobody else is computing the answer).

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

from cache.entry import CachedAnswer, decode_answer, encode_answer

__all__ = ["RedisCache"]

log = logging.getLogger("arbiter.cache")

# Delete the lock only if it still holds our token (it may have expired and been retaken).
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
# Take back a lock that still holds our token, for another ARGV[2] ms.
_RETAKE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
_SKIPPED = object()  # what ``_run`` returns when Redis was not asked


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
        self._retake = redis.register_script(_RETAKE)
        self._held: dict[str, float] = {}  # key -> TTL of the lock this process set in Redis
        self._orphans: dict[str, float] = {}  # key -> when its unreleased lock expires

    @property
    def shared(self) -> bool:
        return True

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

    async def _run(
        self,
        operation: str,
        call: Callable[[], Awaitable[Any]],
        failed: Any,
        *,
        always: bool = False,
    ) -> Any:
        """``call()``, or ``failed`` when it fails or Redis is being left alone
        (``always``: try even then)."""
        if not (always or self.available):
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

    async def get(self, key: str) -> CachedAnswer | None:
        value = await self._run("cache_get", lambda: self.redis.get(self.prefix + key), None)
        return decode_answer(value) if isinstance(value, bytes) else None

    async def set(self, key: str, answer: CachedAnswer, ttl_s: float) -> None:
        value = encode_answer(answer)
        ttl_ms = max(1, int(ttl_s * 1000))
        stored = await self._run(
            "cache_set", lambda: self.redis.set(self.prefix + key, value, px=ttl_ms), None
        )
        if stored:
            self._count_written(len(value), ttl_s)

    async def claim(self, key: str, ttl_s: float) -> bool:
        lock = self.prefix + "lock:" + key
        ttl_ms = max(1, int(ttl_s * 1000))
        taken = await self._run(
            "cache_claim", lambda: self.redis.set(lock, self._token, nx=True, px=ttl_ms), _SKIPPED
        )
        if taken is _SKIPPED:
            return True  # Redis down: nobody can coordinate, so every process computes for itself
        if not taken and self._orphaned(key):
            retake = lambda: self._retake(keys=[lock], args=[self._token, ttl_ms])  # noqa: E731
            taken = await self._run("cache_claim", retake, _SKIPPED)
            if taken is _SKIPPED:
                return True
        if taken:
            self._orphans.pop(key, None)
            self._held[key] = ttl_s
        return bool(taken)

    async def release(self, key: str) -> None:
        ttl_s = self._held.pop(key, None)
        if ttl_s is None:
            return  # claimed while Redis was down: no lock to delete
        lock = self.prefix + "lock:" + key
        released = await self._run(
            "cache_release",
            lambda: self._release(keys=[lock], args=[self._token]),
            _SKIPPED,
            always=True,
        )
        if released is _SKIPPED:
            self._orphans[key] = self._clock() + ttl_s  # by then the lock has expired

    def _orphaned(self, key: str) -> bool:
        """True when this process left ``key``'s lock behind (and it may still be there)."""
        now = self._clock()
        for stale in [k for k, expires in self._orphans.items() if expires <= now]:
            del self._orphans[stale]
        return key in self._orphans

    async def aclose(self) -> None:
        return None  # the client belongs to the shared state

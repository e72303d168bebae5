"""The contract every cache backend keeps: answers in, answers out, with a TTL.

How an answer is kept is the backend's business: a store shared with other
processes (Redis) holds its compact bytes (``cache.entry``); the in-process one
holds the immutable ``CachedAnswer`` itself, so that its hit decodes nothing and
its write encodes nothing. Keys come from ``cache.keys``.

A backend never raises for a store that is unavailable: a failed ``get`` is a
miss and a failed ``set`` is dropped, and ``available`` tells the caller which
of the two a ``None`` was.
"""

from __future__ import annotations

from typing import Protocol

from cache.entry import CachedAnswer

__all__ = ["CacheBackend"]


class CacheBackend(Protocol):
    @property
    def shared(self) -> bool:
        """True when other processes read and write the same entries (and so take
        part in ``claim``); False for a store private to this process."""
        ...

    @property
    def available(self) -> bool:
        """False while the store is unreachable (its reads are misses, its writes dropped)."""
        ...

    def stored_bytes(self) -> int:
        """Bytes the backend holds (an estimate for stores shared with other processes)."""
        ...

    async def get(self, key: str) -> CachedAnswer | None:
        """The answer stored under ``key`` and not yet expired, else None."""
        ...

    async def set(self, key: str, answer: CachedAnswer, ttl_s: float) -> None:
        """Store ``answer`` under ``key`` for ``ttl_s`` seconds, replacing any older one."""
        ...

    async def claim(self, key: str, ttl_s: float) -> bool:
        """Take the right to compute ``key`` for up to ``ttl_s`` seconds (single flight
        across processes). True if this caller got it, or if the backend is private
        to this process and so has no one to share it with."""
        ...

    async def release(self, key: str) -> None:
        """Give up a claim taken with ``claim`` (done, or failed)."""
        ...

    async def aclose(self) -> None:
        """Release what the backend owns (not clients it was lent)."""
        ...

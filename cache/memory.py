"""In-process response cache: least recently used first out, bounded in bytes, with TTL.

For a single process (no ``state.redis_url``) and for tests. What counts toward
``max_bytes`` is each entry's key and value plus a fixed allowance for the
bookkeeping around them, so the bound holds for many small entries too. An
entry larger than the whole budget is not stored.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["ENTRY_OVERHEAD_BYTES", "MemoryCache"]

# Bookkeeping per entry (dict slot, tuple, float, bytes headers), roughly.
ENTRY_OVERHEAD_BYTES = 200


class MemoryCache:
    def __init__(self, max_bytes: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._bytes = 0

    @property
    def available(self) -> bool:
        return True

    def stored_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def _size(key: str, value: bytes) -> int:
        return len(key) + len(value) + ENTRY_OVERHEAD_BYTES

    def _drop(self, key: str) -> None:
        _, value = self._entries.pop(key)
        self._bytes -= self._size(key, value)

    async def get(self, key: str) -> bytes | None:
        found = self._entries.get(key)
        if found is None:
            return None
        expires_at, value = found
        if self._clock() >= expires_at:
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        size = self._size(key, value)
        if key in self._entries:
            self._drop(key)
        if size > self.max_bytes:
            return
        while self._bytes + size > self.max_bytes:
            self._drop(next(iter(self._entries)))
        self._entries[key] = (self._clock() + ttl_s, value)
        self._bytes += size

    async def claim(self, key: str, ttl_s: float) -> bool:
        return True  # nothing outside this process shares the entries

    async def release(self, key: str) -> None:
        return None

    async def aclose(self) -> None:
        self._entries.clear()
        self._bytes = 0

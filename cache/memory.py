"""In-process response cache: least recently used first out, bounded in bytes, with TTL.

For a single process (no ``state.redis_url``) and for tests.

``max_bytes`` bounds the memory the entries really take, not just their payload:
each entry counts what Python allocates for it (the key string and value bytes
objects with their headers, ``sys.getsizeof``) plus ``ENTRY_OVERHEAD_BYTES`` for
the bookkeeping around them. An entry is one ``bytes`` object, its expiry time
packed in front of the value, so it costs no tuple or float of its own. An entry
larger than the whole budget is not stored. Entries past their TTL are dropped
when read, and from the least recently used end whenever a value is stored, so
expired answers do not linger while the cache is being written to.
"""

from __future__ import annotations

import struct
import sys
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["ENTRY_OVERHEAD_BYTES", "MemoryCache", "entry_bytes"]

# Per entry, besides its key and value objects: the OrderedDict's hash slot, entry
# and link node (~100-140 bytes, with the slack of its power-of-two table), and the
# allocator's headers and rounding of the two objects (~24). Measured with
# tracemalloc and RSS by bench/cache_memory.py.
ENTRY_OVERHEAD_BYTES = 160

_EXPIRY = struct.Struct("<d")  # the monotonic time an entry expires, in front of its value
_EXPIRED_DROPPED_PER_SET = 8  # bounded work per write


def entry_bytes(key: str, value: bytes) -> int:
    """The memory one entry of ``key`` and ``value`` takes in a ``MemoryCache``."""
    return sys.getsizeof(key) + sys.getsizeof(value) + _EXPIRY.size + ENTRY_OVERHEAD_BYTES


class MemoryCache:
    def __init__(self, max_bytes: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[str, bytes] = OrderedDict()  # key -> expiry + value
        self._bytes = 0

    @property
    def shared(self) -> bool:
        return False

    @property
    def available(self) -> bool:
        return True

    def stored_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._entries)

    def _drop(self, key: str) -> None:
        stored = self._entries.pop(key)
        self._bytes -= sys.getsizeof(key) + sys.getsizeof(stored) + ENTRY_OVERHEAD_BYTES

    def _expired(self, stored: bytes, now: float) -> bool:
        return now >= _EXPIRY.unpack_from(stored)[0]

    async def get(self, key: str) -> bytes | None:
        stored = self._entries.get(key)
        if stored is None:
            return None
        if self._expired(stored, self._clock()):
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return stored[_EXPIRY.size :]

    async def set(self, key: str, value: bytes, ttl_s: float) -> None:
        now = self._clock()
        if key in self._entries:
            self._drop(key)
        self._drop_expired(now)
        size = entry_bytes(key, value)
        if size > self.max_bytes:
            return
        while self._bytes + size > self.max_bytes:
            self._drop(next(iter(self._entries)))
        self._entries[key] = _EXPIRY.pack(now + ttl_s) + value
        self._bytes += size

    def _drop_expired(self, now: float) -> None:
        """Expired entries at the least recently used end (a few per write)."""
        for _ in range(_EXPIRED_DROPPED_PER_SET):
            oldest = next(iter(self._entries.items()), None)
            if oldest is None or not self._expired(oldest[1], now):
                return
            self._drop(oldest[0])

    async def claim(self, key: str, ttl_s: float) -> bool:
        return True  # nothing outside this process shares the entries

    async def release(self, key: str) -> None:
        return None

    async def aclose(self) -> None:
        self._entries.clear()
        self._bytes = 0

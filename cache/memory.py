"""In-process response cache: least recently used first out, bounded in bytes, with TTL.

For a single process (no ``state.redis_url``) and for tests.

An entry is the ``CachedAnswer`` itself (immutable, so one record serves every
hit) with its expiry time: a hit decodes nothing and a write encodes nothing,
where the byte form (``cache.entry``) costs a header parse on every hit. A body
above ``COMPRESS_ABOVE_BYTES`` is kept deflated, as the byte form keeps it, and
inflated on each hit: long answers take half the memory, for ~3 us a hit.

``max_bytes`` bounds the memory the entries really take, not just their bodies:
each entry counts what Python allocates for it (``entry_bytes``: the key, the
body, the usage, and the record, its times and the entry around them) plus the
bookkeeping of the table. An entry larger than the whole budget is not stored.
Entries past their TTL are dropped when read, and from the least recently used
end whenever an answer is stored, so expired answers do not linger while the
cache is being written to.
"""

from __future__ import annotations

import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from cache.deflate import deflate, inflate
from cache.entry import COMPRESS_ABOVE_BYTES, CachedAnswer

__all__ = ["ENTRY_OVERHEAD_BYTES", "MemoryCache", "entry_bytes"]

# Per entry, besides its key, body and usage: the record (96 bytes), its stored_at,
# saved_usd and expiry floats (3 x 24), the (expiry, record, size, deflated) tuple
# and the size (72 + 28), and the OrderedDict's hash slot, entry and link node
# (~90-140 bytes, with the slack of its power-of-two table). tracemalloc sees 4-12%
# less than is accounted for answers under 4 KiB (as for the byte entries before):
# the allocator's headers and rounding, which it does not see
# (tests/unit/test_cache_accounting.py).
ENTRY_OVERHEAD_BYTES = 356

_EXPIRED_DROPPED_PER_SET = 8  # bounded work per write


def entry_bytes(key: str, answer: CachedAnswer) -> int:
    """The memory one entry of ``key`` and ``answer`` takes in a ``MemoryCache``. Its
    names are not counted: they are the configuration's strings (the model's and the
    deployment's), shared by every answer they gave."""
    usage = 0 if answer.usage is None else _usage_bytes(answer.usage)
    return sys.getsizeof(key) + sys.getsizeof(answer.body) + usage + ENTRY_OVERHEAD_BYTES


def _usage_bytes(usage: dict[str, Any] | list[Any]) -> int:
    """What a decoded usage takes: its objects and lists, and ``_NUMBER_BYTES`` for
    each number in them (not its keys: the JSON decoder shares those). Sizing each
    number (``sys.getsizeof``, ~1,400 instructions a call) made a store cost more
    than the cache key."""
    size = sys.getsizeof(usage)
    for item in usage.values() if isinstance(usage, dict) else usage:
        size += _usage_bytes(item) if isinstance(item, (dict, list)) else _NUMBER_BYTES
    return size


# A token count: an int below 2**30 (the smallest ones are shared, so this errs over).
_NUMBER_BYTES = 28


class MemoryCache:
    def __init__(self, max_bytes: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_bytes = max_bytes
        self._clock = clock
        # key -> (the monotonic time it expires, its answer, its entry_bytes, whether
        # the answer's body is deflated), least recently used first; the size is kept
        # so that dropping an entry need not size it
        self._entries: OrderedDict[str, tuple[float, CachedAnswer, int, bool]] = OrderedDict()
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
        self._bytes -= self._entries.pop(key)[2]

    async def get(self, key: str) -> CachedAnswer | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._clock() >= entry[0]:
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        if entry[3]:
            return entry[1].with_body(inflate(entry[1].body))
        return entry[1]

    async def set(self, key: str, answer: CachedAnswer, ttl_s: float) -> None:
        now = self._clock()
        if key in self._entries:
            self._drop(key)
        self._drop_expired(now)
        deflated = len(answer.body) > COMPRESS_ABOVE_BYTES
        if deflated:
            answer = answer.with_body(deflate(answer.body))
        size = entry_bytes(key, answer)
        if size > self.max_bytes:
            return
        while self._bytes + size > self.max_bytes:
            self._drop(next(iter(self._entries)))
        self._entries[key] = (now + ttl_s, answer, size, deflated)
        self._bytes += size

    def _drop_expired(self, now: float) -> None:
        """Expired entries at the least recently used end (a few per write)."""
        for _ in range(_EXPIRED_DROPPED_PER_SET):
            oldest = next(iter(self._entries.items()), None)
            if oldest is None or now < oldest[1][0]:
                return
            self._drop(oldest[0])

    async def claim(self, key: str, ttl_s: float) -> bool:
        return True  # nothing outside this process shares the entries

    async def release(self, key: str) -> None:
        return None

    async def aclose(self) -> None:
        self._entries.clear()
        self._bytes = 0

"""Exact response cache: key derivation, the stored entry and its bytes, and backends
(in-process LRU, Redis). ``RedisCache`` is loaded on first use, with the redis
package: a gateway without Redis never imports it."""

from typing import Any

from cache.base import CacheBackend
from cache.entry import CachedAnswer, decode_answer, encode_answer
from cache.keys import cache_key
from cache.memory import MemoryCache

__all__ = [
    "CacheBackend",
    "CachedAnswer",
    "MemoryCache",
    "RedisCache",
    "cache_key",
    "decode_answer",
    "encode_answer",
]


def __getattr__(name: str) -> Any:
    if name == "RedisCache":
        from cache.redis import RedisCache

        return RedisCache
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

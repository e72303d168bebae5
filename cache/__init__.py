"""Exact response cache: key derivation, the stored entry and its bytes, and backends
(in-process LRU, Redis)."""

from cache.base import CacheBackend
from cache.entry import CachedAnswer, decode_answer, encode_answer
from cache.keys import cache_key
from cache.memory import MemoryCache
from cache.redis import RedisCache

__all__ = [
    "CacheBackend",
    "CachedAnswer",
    "MemoryCache",
    "RedisCache",
    "cache_key",
    "decode_answer",
    "encode_answer",
]

"""A private corner of the shared Redis at 127.0.0.1:6379 for one test.

Other engineers' tests use the same Redis at the same time: a test never flushes
it, works under a unique key prefix, and deletes its keys afterwards. Without a
reachable Redis the test is skipped, saying why (CI always runs one).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import redis

REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class RedisNamespace:
    url: str
    prefix: str

    def state(self) -> dict[str, str]:
        """The ``state:`` section of a config that uses this namespace."""
        return {"redis_url": self.url, "key_prefix": self.prefix}

    def keys(self) -> list[str]:
        client = redis.Redis.from_url(self.url)
        try:
            return sorted(k.decode() for k in client.scan_iter(match=self.prefix + "*"))
        finally:
            client.close()


@contextmanager
def redis_namespace() -> Iterator[RedisNamespace]:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        pytest.skip(f"Redis is not reachable at {REDIS_URL} ({exc}); CI starts one")
    namespace = RedisNamespace(REDIS_URL, f"test:{uuid.uuid4().hex}:")
    try:
        yield namespace
    finally:
        keys = list(client.scan_iter(match=namespace.prefix + "*"))
        if keys:
            client.delete(*keys)
        client.close()

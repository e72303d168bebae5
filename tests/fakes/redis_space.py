"""A private key space on the shared test Redis: a unique prefix, deleted afterwards.

The Redis at 127.0.0.1:6379 is shared with other test runs, so tests never
flush it; each one works under its own prefix and deletes what it wrote.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

REDIS_URL = "redis://127.0.0.1:6379/0"


async def redis_reachable(url: str = REDIS_URL) -> bool:
    client = Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        return bool(await client.ping())
    except (RedisError, OSError):
        return False
    finally:
        await client.aclose()


async def delete_prefix(prefix: str, url: str = REDIS_URL) -> None:
    client = Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=prefix + "*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@asynccontextmanager
async def redis_space(name: str = "test") -> AsyncIterator[str]:
    """A unique key prefix on the test Redis (skips the test when Redis is not running)."""
    if not await redis_reachable():
        pytest.skip(f"no Redis at {REDIS_URL} (CI starts one; see .ci/run)")
    prefix = f"{name}:{uuid.uuid4().hex}:"
    try:
        yield prefix
    finally:
        await delete_prefix(prefix)

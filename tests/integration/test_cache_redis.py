"""With Redis, the cache is shared: an answer stored by one Arbiter process is a hit in
another, and identical requests in two processes call the provider once. When Redis goes
away requests still succeed (served from upstream, counted); when it is back, caching
resumes by itself."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis
import yaml

from tests.conftest import MASTER_KEY, openai_config
from tests.fakes.gated_upstream import GatedUpstream
from tests.fakes.private_redis import PrivateRedis
from tests.fakes.serving import ServerThread, free_port, run_server, serve_gateway

ROOT = Path(__file__).resolve().parents[2]
SHARED_REDIS = "redis://127.0.0.1:6379/0"


def ask(url: str, content: str = "shared across processes") -> httpx.Response:
    return httpx.post(
        url + "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}]},
        headers={"authorization": f"Bearer {MASTER_KEY}"},
        timeout=30,
    )


def metric(url: str, series: str) -> float:
    for line in httpx.get(url + "/metrics").text.splitlines():
        if line.startswith(series + " "):
            return float(line.rpartition(" ")[2])
    return 0.0


def wait_until(condition, what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def redis_prefix() -> Iterator[str]:
    """A key prefix of the shared Redis for this module; its keys are deleted afterwards."""
    client = redis.Redis.from_url(SHARED_REDIS, socket_connect_timeout=0.5)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        pytest.skip(f"Redis is not reachable at {SHARED_REDIS} ({exc}); CI starts one")
    prefix = f"test:{uuid.uuid4().hex}:"
    yield prefix
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture(scope="module")
def two_arbiters(redis_prefix, tmp_path_factory) -> Iterator[tuple[GatedUpstream, str, str]]:
    """Two Arbiter processes on one Redis, in front of one counting upstream."""
    upstream = GatedUpstream(gated_calls=())
    with run_server(upstream.asgi_app()) as upstream_server:
        config = openai_config(upstream_server.url + "/v1", "gpt-4o-mini")
        config["server"] = {"master_key": MASTER_KEY}
        config["state"] = {"redis_url": SHARED_REDIS, "key_prefix": redis_prefix}
        config["cache"] = {"enabled": True}
        path = tmp_path_factory.mktemp("cache") / "arbiter.yaml"
        path.write_text(yaml.safe_dump(config))
        ports = [free_port(), free_port()]
        processes = [serve_gateway(path, port, capture=False) for port in ports]
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        try:
            yield upstream, urls[0], urls[1]
        finally:
            upstream.gate.set()
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=30)


def test_an_answer_stored_by_one_process_is_a_hit_in_the_other(two_arbiters):
    upstream, first, second = two_arbiters
    before = upstream.calls
    stored = ask(first, "asked in the first process")
    assert stored.headers["x-arbiter-cache"] == "miss"
    hit = ask(second, "asked in the first process")
    assert hit.status_code == 200 and hit.headers["x-arbiter-cache"] == "hit"
    assert hit.headers["x-arbiter-attempts"] == "0"
    assert hit.json() == stored.json()
    assert upstream.calls == before + 1


def test_an_entry_an_older_version_left_in_redis_is_a_miss_and_is_replaced(
    two_arbiters, redis_prefix
):
    """Replicas of two versions share the Redis during a rolling upgrade."""
    upstream, first, second = two_arbiters
    client = redis.Redis.from_url(SHARED_REDIS)
    entries = lambda: set(client.scan_iter(match=redis_prefix + "cache:*"))  # noqa: E731
    try:
        before, calls = entries(), upstream.calls
        stored = ask(first, "asked before the upgrade")
        [key] = {k for k in entries() - before if b":lock:" not in k}
        old_format = orjson.dumps({"f": 1, "response": stored.json(), "model": "gpt-4o-mini"})
        client.set(key, b"j" + old_format, px=60_000)
        again = ask(second, "asked before the upgrade")
        assert again.status_code == 200 and again.headers["x-arbiter-cache"] == "miss"
        hit = ask(first, "asked before the upgrade")
        assert hit.headers["x-arbiter-cache"] == "hit"
        assert hit.content == again.content  # the stored JSON, byte for byte
        assert upstream.calls == calls + 2
    finally:
        client.close()


async def test_identical_requests_in_two_processes_call_the_upstream_once(two_arbiters):
    upstream, first, second = two_arbiters
    before = upstream.calls
    upstream.hold_next()
    content = "asked in both processes at once"
    leader = asyncio.create_task(asyncio.to_thread(ask, first, content))
    await asyncio.to_thread(wait_until, lambda: upstream.calls == before + 1, "the leader")
    follower = asyncio.create_task(asyncio.to_thread(ask, second, content))
    await asyncio.to_thread(
        wait_until,
        lambda: metric(second, "arbiter_inflight_requests") == 1,
        "the second process to be waiting",
    )
    upstream.gate.set()
    led, followed = await leader, await follower
    assert led.headers["x-arbiter-cache"] == "miss"
    assert followed.headers["x-arbiter-cache"] == "hit"
    assert followed.json()["choices"] == led.json()["choices"]
    assert upstream.calls == before + 1


def _counted(url: str, result: str) -> float:
    return metric(url, f'arbiter_cache_requests_total{{result="{result}"}}')


def test_redis_stopped_mid_test_degrades_to_upstream_and_caching_resumes(gateway, fake_openai):
    private = PrivateRedis().start()
    try:
        config: dict[str, Any] = openai_config(fake_openai.url, "gpt-4o-mini")
        config["state"] = {"redis_url": private.url, "key_prefix": "arbiter:"}
        config["cache"] = {"enabled": True}
        server: ServerThread = gateway(config)
        url = server.url
        assert ask(url).headers["x-arbiter-cache"] == "miss"
        assert ask(url).headers["x-arbiter-cache"] == "hit"
        assert fake_openai.count() == 1

        private.stop()
        down = [ask(url) for _ in range(3)]
        assert [r.status_code for r in down] == [200] * 3
        assert all(r.headers["x-arbiter-cache"] == "miss" for r in down)
        assert fake_openai.count() == 4
        assert _counted(url, "error") == 3  # each lookup Redis could not answer
        assert _counted(url, "miss") == 4  # ... served from upstream: misses as well
        assert metric(url, 'arbiter_state_errors_total{operation="cache_get"}') >= 1

        private.start()  # same port, empty
        wait_until(lambda: ask(url).headers["x-arbiter-cache"] == "hit", "caching to resume")
        calls = fake_openai.count()
        assert ask(url).headers["x-arbiter-cache"] == "hit"
        assert fake_openai.count() == calls
        assert _counted(url, "hit") >= 3 and _counted(url, "miss") >= 5
    finally:
        private.stop()

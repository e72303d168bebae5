"""Two gateways sharing one Redis agree on which deployments are cooling down, and a
Redis that goes away never fails a request."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import redis

from tests.conftest import MASTER_KEY, deployments_config, metric_value
from tests.fakes.serving import free_port

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
SHARED_REDIS = "redis://127.0.0.1:6379/0"


def ask(server) -> str:
    response = httpx.post(
        server.url + "/v1/chat/completions",
        json={"model": "chat", "messages": [{"role": "user", "content": "hi"}]},
        headers=AUTH,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.headers["x-arbiter-provider"]


def up(server, provider: str) -> float | None:
    return metric_value(server, "arbiter_deployment_up", model="chat", provider=provider)


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix of our own on the shared Redis; its keys are deleted afterwards."""
    client = redis.Redis.from_url(SHARED_REDIS, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("no Redis at 127.0.0.1:6379 (CI starts one; see .ci/run)")
    prefix = f"test:{uuid.uuid4().hex}:"
    yield prefix
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


def shared_config(a, b, redis_url: str, prefix: str, **routing) -> dict:
    config = deployments_config(
        a, b, retries=0, allowed_fails=1, state_sync_s=0.1, **{"cooldown_s": 30, **routing}
    )
    config["state"] = {"redis_url": redis_url, "key_prefix": prefix}
    return config


def test_two_gateways_sharing_redis_agree_on_a_cooldown_and_its_probe(
    gateway, faulty, redis_prefix
):
    a, b = faulty("a"), faulty("b")
    config = shared_config(a, b, SHARED_REDIS, redis_prefix, cooldown_s=2.0)
    one, two = gateway(config), gateway(config)
    a.fail_next(2, 500)
    assert [ask(one), ask(one)] == ["b", "b"]  # a failed twice on the first gateway
    assert up(one, "a") == 0
    wait_for(lambda: up(two, "a") == 0)  # the second gateway learns it through Redis
    assert [ask(two) for _ in range(3)] == ["b", "b", "b"]
    assert a.count == 2  # the second gateway never tried a

    # The cooldown ends; a request on the first gateway probes a (slowly), and while
    # that probe is out the second gateway keeps skipping a: one probe per cluster.
    a.delay_next(1, 1.0)
    with ThreadPoolExecutor(1) as pool:
        probing = pool.submit(wait_for, lambda: ask(one) == "a")
        wait_for(lambda: a.count == 3)
        assert [ask(two) for _ in range(3)] == ["b", "b", "b"]
        assert a.count == 3
        probing.result(timeout=10)
    wait_for(lambda: up(two, "a") == 1)
    assert ask(two) == "a"
    assert a.count == 4


def test_an_unreachable_redis_never_fails_a_request(gateway, faulty):
    a, b = faulty("a"), faulty("b")
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    server = gateway(shared_config(a, b, nowhere, "test:unreachable:"))
    a.fail_next(2, 500)
    assert [ask(server) for _ in range(4)] == ["b", "b", "b", "b"]
    assert a.count == 2  # the cooldown still works, in this process
    wait_for(lambda: (metric_value(server, "arbiter_state_errors_total") or 0) > 0)


@pytest.fixture
def own_redis() -> Iterator[Callable[[], subprocess.Popen]]:
    """A redis-server of our own on a free port (this test stops and restarts it)."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    procs: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        proc = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
            + ["--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        procs.append(proc)
        client = redis.Redis(port=port, socket_timeout=1)
        wait_for(lambda: _pings(client))
        client.close()
        return proc

    start.port = port  # type: ignore[attr-defined]
    yield start
    for proc in procs:
        proc.kill()
        proc.wait(timeout=10)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


def test_sharing_resumes_when_redis_comes_back(gateway, faulty, own_redis):
    url = f"redis://127.0.0.1:{own_redis.port}/0"
    proc = own_redis()
    a, b = faulty("a"), faulty("b")
    config = shared_config(a, b, url, "test:resume:")
    one, two = gateway(config), gateway(config)
    assert ask(one) == "a" and ask(two) == "a"
    proc.kill()
    proc.wait(timeout=10)
    a.fail_next(2, 500)
    assert [ask(one), ask(one)] == ["b", "b"]  # served while Redis is away
    assert up(one, "a") == 0 and up(two, "a") == 1  # each knows only what it saw
    own_redis()  # Redis is back (empty); the first gateway publishes its cooldown again
    wait_for(lambda: up(two, "a") == 0, timeout=15)
    assert ask(two) == "b"
    assert a.count == 4

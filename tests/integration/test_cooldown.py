"""A deployment that keeps failing is taken out of traffic, and one probe brings it back."""

from __future__ import annotations

import time

import httpx

from tests.conftest import MASTER_KEY, deployments_config, metric_value

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
COOLDOWN_S = 1.0  # long enough for a few requests on a busy machine


def ask(server) -> httpx.Response:
    response = httpx.post(
        server.url + "/v1/chat/completions",
        json={"model": "chat", "messages": [{"role": "user", "content": "hi"}]},
        headers=AUTH,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response


def ask_until(server, upstream, count: int, timeout: float = 10.0) -> None:
    """Keep asking until ``upstream`` has received ``count`` requests (it is probed)."""
    deadline = time.monotonic() + timeout
    while upstream.count < count:
        assert time.monotonic() < deadline, "the deployment was never probed"
        ask(server)
        time.sleep(0.05)


def up(server, provider: str) -> float | None:
    return metric_value(server, "arbiter_deployment_up", model="chat", provider=provider)


def config(a, b, **routing):
    return deployments_config(a, b, retries=0, allowed_fails=1, cooldown_s=COOLDOWN_S, **routing)


def test_a_broken_deployment_is_skipped_then_a_probe_restores_it(gateway, faulty):
    a, b = faulty("a"), faulty("b")
    server = gateway(config(a, b))
    assert up(server, "a") == 1
    a.fail_next(2, 500)
    ask(server)  # a fails once: allowed
    ask(server)  # a fails twice in a row: cooled down
    assert (a.count, b.count) == (2, 2)
    assert up(server, "a") == 0
    for _ in range(3):
        assert ask(server).headers["x-arbiter-provider"] == "b"
    assert a.count == 2  # skipped while cooling down
    ask_until(server, a, 3)  # the cooldown ends: one request probes a, which works again
    assert up(server, "a") == 1
    answer = ask(server)
    assert answer.headers["x-arbiter-provider"] == "a"  # back in first place
    assert a.count == 4


def test_a_failed_probe_cools_the_deployment_down_again(gateway, faulty):
    a, b = faulty("a"), faulty("b")
    server = gateway(config(a, b))
    a.fail_next(1000, 500)
    ask(server)
    ask(server)
    assert a.count == 2
    ask_until(server, a, 3)  # the probe fails; b answers that request
    assert up(server, "a") == 0
    before = b.count
    for _ in range(3):
        assert ask(server).headers["x-arbiter-provider"] == "b"
    assert a.count == 3  # one probe, then skipped again
    assert b.count == before + 3


def test_a_high_error_rate_cools_a_deployment_down(gateway, faulty):
    a, b = faulty("a"), faulty("b")
    server = gateway(
        deployments_config(
            a,
            b,
            retries=0,
            allowed_fails=100,
            cooldown_s=60,
            max_error_rate=0.5,
            min_attempts_for_error_rate=6,
        )
    )
    for _ in range(3):  # succeed, fail, succeed, fail...: never 2 failures in a row
        ask(server)
        a.fail_next(1, 500)
        ask(server)
    assert (a.count, b.count) == (6, 3)
    assert up(server, "a") == 0  # 3 failures in 6 attempts
    count = a.count
    for _ in range(3):
        ask(server)
    assert a.count == count


def test_when_every_deployment_is_cooling_down_they_are_still_tried(gateway, faulty):
    a = faulty("a")
    server = gateway(deployments_config(a, retries=0, allowed_fails=1, cooldown_s=60))
    a.fail_next(2, 500)
    for _ in range(2):
        response = httpx.post(
            server.url + "/v1/chat/completions",
            json={"model": "chat", "messages": [{"role": "user", "content": "hi"}]},
            headers=AUTH,
            timeout=10,
        )
        assert response.status_code == 502
    assert up(server, "a") == 0
    # Nothing else can answer, so Arbiter tries a rather than refusing; it works again.
    assert ask(server).headers["x-arbiter-provider"] == "a"
    assert a.count == 3
    assert up(server, "a") == 1

"""``strategy: latency`` sends traffic away from a deployment that turns slow, and
back once it recovers: through the gateway, with 300 ms of injected delay."""

from __future__ import annotations

import time

import httpx

from tests.conftest import MASTER_KEY, deployments_config

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
BASE_S = 0.02


def ask(client: httpx.Client, server) -> str:
    response = client.post(
        server.url + "/v1/chat/completions",
        json={"model": "chat", "messages": [{"role": "user", "content": "hi"}]},
        headers=AUTH,
    )
    assert response.status_code == 200, response.text
    return response.headers["x-arbiter-provider"]


def test_latency_moves_traffic_off_a_slow_deployment_and_back(gateway, faulty):
    slow, fast = faulty("slow"), faulty("fast")
    # A deployment left alone fades back into contention after about
    # latency_decay_s * ln(300 ms / a few ms), here about two seconds.
    server = gateway(deployments_config(slow, fast, strategy="latency", latency_decay_s=0.5))
    # Both take a little time, as real upstreams do, so that scheduling noise of a few
    # milliseconds in this one test process does not decide which is faster.
    fast.delay_s = BASE_S
    slow.delay_s = BASE_S + 0.3
    with httpx.Client(timeout=10) as client:
        picks = [ask(client, server) for _ in range(20)]
        assert picks.count("fast") >= 16, picks  # >= 80 % moved away within 20 requests
        assert slow.count + fast.count == 20

        slow.delay_s = BASE_S  # it recovers; the next probe finds out
        deadline = time.monotonic() + 15
        before = slow.count
        while slow.count == before:
            assert time.monotonic() < deadline, "the recovered deployment was never probed"
            ask(client, server)
        picks = [ask(client, server) for _ in range(60)]
    # While slow it got one probe every couple of seconds (at most one of these sixty);
    # recovered, it takes its share again.
    assert picks.count("slow") >= 12, picks

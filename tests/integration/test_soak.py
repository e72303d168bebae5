"""Soak: 32 clients for a few seconds against two deployments, one of which answers
10 % of its requests with a 500. Not one client sees an error."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx

from tests.conftest import MASTER_KEY, deployments_config, metric_value

CLIENTS = 32
DURATION_S = 6.0


async def client_loop(client: httpx.AsyncClient, url: str, until: float, seen: Counter) -> None:
    n = 0
    while time.monotonic() < until:
        n += 1
        response = await client.post(
            url,
            json={"model": "chat", "messages": [{"role": "user", "content": f"request {n}"}]},
        )
        ok = response.status_code == 200 and response.json()["choices"][0]["message"]["content"]
        seen["ok" if ok == f"request {n}" else f"error {response.status_code}"] += 1


async def test_ten_percent_of_500s_on_one_deployment_never_reach_a_client(gateway, faulty):
    flaky, steady = faulty("flaky", error_rate=0.1, seed=4), faulty("steady")
    server = gateway(deployments_config(flaky, steady, strategy="least-busy", retries=2))
    seen: Counter = Counter()
    limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
    async with httpx.AsyncClient(
        headers={"authorization": f"Bearer {MASTER_KEY}"}, timeout=30, limits=limits
    ) as client:
        until = time.monotonic() + DURATION_S
        url = server.url + "/v1/chat/completions"
        await asyncio.gather(*(client_loop(client, url, until, seen) for _ in range(CLIENTS)))
    numbers = (seen, flaky.count, flaky.failures, steady.count)
    assert set(seen) == {"ok"}, numbers
    assert flaky.failures > 0 and steady.failures == 0, numbers
    assert flaky.count > flaky.failures and steady.count > 0, numbers  # both took traffic
    # Every upstream request either answered a client or failed and was tried again.
    failed = sum(
        metric_value(server, "arbiter_upstream_errors_total", provider=p.name, reason=r) or 0
        for p in (flaky, steady)
        for r in ("UpstreamUnavailableError", "UpstreamTimeoutError")
    )
    assert flaky.count + steady.count == seen["ok"] + failed, (numbers, failed)
    assert failed >= flaky.failures, (numbers, failed)
    assert (metric_value(server, "arbiter_retries_total", provider="flaky") or 0) > 0

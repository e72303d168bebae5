"""Redis dies under load and comes back: no client notices, and state flows to it again.

The gateway keeps its shared state (rate limits, spend, usage, cache, scoreboard)
in a Redis this test owns. Clients keep sending JSON and streaming requests
while the test SIGKILLs Redis and later starts it again, empty, on the same port.

What the clients may see, decided up front: key ``team`` has limits and a budget
far above what this load can reach, so every one of its requests must be a 200,
before, during and after the outage; a 429 or a 5xx there would be Redis trouble
leaking to clients. Key ``metered`` has a small ``rpm`` and is expected to get
429 ``rate_limit_exceeded`` with ``Retry-After`` (the limit still works without
Redis, from local state), and nothing else but 200s.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from tests.conftest import MASTER_KEY, UPSTREAM_KEY
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.private_redis import PrivateRedis
from tests.metrics_text import parse

TEAM_KEY = "sk-chaos-team-0123456789"
METERED_KEY = "sk-chaos-metered-0123456789"
PREFIX = "arbiter:"
TEAM_RPM = 100_000
METERED_RPM = 10
# Written on the chat path: spend and usage (ledger), rl (limits), cache, sb (scoreboard).
STATE_FAMILIES = {"spend", "usage", "rl", "cache", "sb"}
NO_KEEPALIVE = httpx.Limits(max_keepalive_connections=0)


def chaos_config(upstream: FakeOpenAI, redis_url: str) -> dict[str, Any]:
    priced = {"input_cost_per_mtok": 0.15, "output_cost_per_mtok": 0.6}
    return {
        "providers": {
            "openai": {
                "type": "openai",
                "base_url": upstream.url,  # type: ignore[attr-defined]
                "api_key": UPSTREAM_KEY,
                "timeout_s": 10,
            }
        },
        "models": {
            "fast": {"deployments": [{"provider": "openai", "model": "gpt-4o-mini", **priced}]},
            "smart": {"deployments": [{"provider": "openai", "model": "gpt-4o", **priced}]},
            "auto": {"candidates": ["fast", "smart"], "prefer": "cost"},
        },
        "state": {"redis_url": redis_url, "key_prefix": PREFIX},
        "cache": {"enabled": True, "ttl_s": 600},
        "keys": [
            {
                "name": "team",
                "key": TEAM_KEY,
                "rpm": TEAM_RPM,
                "tpm": 10_000_000,
                "budget_usd": 1000,
            },
            {"name": "metered", "key": METERED_KEY, "rpm": METERED_RPM},
        ],
    }


@dataclass
class Outcome:
    phase: str  # up | down | back: when the request ended
    key: str
    status: int
    cache: str | None
    problem: str | None  # what was wrong with it, if anything


@dataclass
class Load:
    """Clients that send requests until told to stop, checking every answer."""

    url: str
    phase: str = "up"
    outcomes: list[Outcome] = field(default_factory=list)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    def completed(self, phase: str, key: str = "team") -> int:
        return sum(1 for o in self.outcomes if o.phase == phase and o.key == key)

    async def team_client(self, client: httpx.AsyncClient, n: int, stream: bool) -> None:
        j = 0
        while not self.stopping.is_set():
            j += 1
            # Half the prompts repeat across clients (cache hits), half are unique.
            prompt = f"popular question {j % 6}" if j % 2 else f"client {n} request {j}"
            model = "auto" if (n + j) % 2 else "fast"
            self.outcomes.append(await self._ask(client, TEAM_KEY, "team", model, prompt, stream))

    async def metered_client(self, client: httpx.AsyncClient) -> None:
        j = 0
        while not self.stopping.is_set():
            j += 1
            outcome = await self._ask(client, METERED_KEY, "metered", "fast", f"m {j}", False)
            self.outcomes.append(outcome)
            await asyncio.sleep(0.05)  # pacing: a polite client, not a busy loop

    async def _ask(
        self, client: httpx.AsyncClient, key: str, name: str, model: str, prompt: str, stream: bool
    ) -> Outcome:
        body = {"model": model, "stream": stream, "messages": [{"role": "user", "content": prompt}]}
        try:
            response = await client.post(
                "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {key}"}
            )
        except httpx.HTTPError as exc:
            return Outcome(self.phase, name, 0, None, f"{type(exc).__name__}: {exc}")
        problem = _check(response, prompt, stream, metered=name == "metered")
        return Outcome(
            self.phase, name, response.status_code, response.headers.get("x-arbiter-cache"), problem
        )


def _check(response: httpx.Response, prompt: str, stream: bool, *, metered: bool) -> str | None:
    """What is wrong with an answer, as the client sees it (None: nothing)."""
    if metered and response.status_code == 429:
        error = response.json()["error"]
        if error["code"] != "rate_limit_exceeded" or "retry-after" not in response.headers:
            return f"bad 429: {response.text} {dict(response.headers)}"
        return None
    if response.status_code != 200:
        return f"{response.status_code}: {response.text[:300]}"
    if "x-ratelimit-limit-requests" not in response.headers:
        return "no rate limit headers: the limit was not applied"
    if not stream:
        content = response.json()["choices"][0]["message"]["content"]
        return None if content == prompt else f"wrong answer {content!r}"
    payloads = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    if not payloads or payloads[-1] != "[DONE]":
        return f"stream did not end with [DONE]: {response.text[-300:]}"
    chunks = [json.loads(p) for p in payloads[:-1]]
    if any("error" in c for c in chunks):
        return f"error event in stream: {response.text[-300:]}"
    text = "".join(ch["delta"].get("content") or "" for c in chunks for ch in c["choices"])
    return None if text == prompt else f"wrong streamed answer {text!r}"


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def state_errors(client: httpx.AsyncClient) -> float:
    scrape = parse((await client.get("/metrics")).text)
    return sum(scrape.series("arbiter_state_errors_total").values())


async def families(redis_url: str) -> set[str]:
    """The kinds of keys under the prefix (``spend``, ``rl``, ...) in Redis right now."""
    redis = Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=1)
    try:
        found = {key.decode()[len(PREFIX) :] async for key in redis.scan_iter(PREFIX + "*")}
    finally:
        await redis.aclose()
    return {key.split(":", 1)[0] for key in found}


async def ready_is(probe: httpx.AsyncClient, status: int) -> bool:
    return (await probe.get("/health/ready")).status_code == status


async def errors_above(probe: httpx.AsyncClient, baseline: float) -> bool:
    return await state_errors(probe) > baseline


async def written_to(redis_url: str) -> bool:
    return STATE_FAMILIES <= await families(redis_url)


async def phase_long_enough(load: Load, since: float, *, seconds: float, metered: int = 0) -> bool:
    """The current phase has lasted ``seconds`` and seen at least 30 team answers."""
    return (
        time.monotonic() - since >= seconds
        and load.completed(load.phase) >= 30
        and load.completed(load.phase, "metered") >= metered
    )


async def run_outage(load: Load, probe: httpx.AsyncClient, private: PrivateRedis) -> None:
    """Redis up, then SIGKILLed, then back (empty, same port), checking each phase."""
    since = time.monotonic()
    await until(lambda: phase_long_enough(load, since, seconds=4, metered=15), "load, Redis up")
    assert await ready_is(probe, 200)
    assert await written_to(private.url)
    errors_before = await state_errors(probe)

    await asyncio.to_thread(private.kill)
    load.phase, since = "down", time.monotonic()
    await until(lambda: ready_is(probe, 503), "readiness to report Redis gone")
    ready = await probe.get("/health/ready")
    assert "shared state unreachable" in ready.json()["problems"]
    await until(lambda: errors_above(probe, errors_before), "state errors to be counted")
    await until(lambda: phase_long_enough(load, since, seconds=6), "load, Redis down")
    assert await ready_is(probe, 503)

    await asyncio.to_thread(private.start)
    load.phase, since = "back", time.monotonic()
    await until(lambda: ready_is(probe, 200), "readiness after Redis is back")
    await until(lambda: written_to(private.url), "state to be written to the new Redis")
    errors_back = await state_errors(probe)
    await until(lambda: phase_long_enough(load, since, seconds=5), "load, Redis back")
    # Healed for good: no connection left over from before the crash fails now.
    assert await state_errors(probe) == errors_back


async def test_redis_killed_and_restarted_under_load_fails_no_request(gateway, fake_openai):
    private = await asyncio.to_thread(lambda: PrivateRedis().start())
    try:
        server = gateway(chaos_config(fake_openai, private.url))
        load = Load(server.url)
        limits = httpx.Limits(max_connections=32)
        async with (
            httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as client,
            # A fresh connection per probe: one idle past uvicorn's keep-alive could be
            # closed by the server just as the probe reuses it.
            httpx.AsyncClient(base_url=server.url, timeout=10, limits=NO_KEEPALIVE) as probe,
        ):
            workers = [
                asyncio.create_task(load.team_client(client, n, stream=n % 2 == 1))
                for n in range(10)
            ]
            workers.append(asyncio.create_task(load.metered_client(client)))
            try:
                await run_outage(load, probe, private)
            finally:
                load.stopping.set()
                await asyncio.gather(*workers)
            usage = await probe.get(
                "/v1/usage?period=total", headers={"authorization": f"Bearer {MASTER_KEY}"}
            )
        server.stop()  # before Redis goes: its last writes at shutdown have somewhere to go
    finally:
        await asyncio.to_thread(private.stop)

    problems = [o for o in load.outcomes if o.problem]
    assert problems == [], f"{len(problems)} of {len(load.outcomes)} requests went wrong"
    team = [o for o in load.outcomes if o.key == "team"]
    assert {o.status for o in team} == {200}
    metered = [o for o in load.outcomes if o.key == "metered"]
    assert {o.status for o in metered} == {200, 429}  # the limit kept working
    answered = [o for o in load.outcomes if o.status == 200]
    misses = sum(1 for o in answered if o.cache == "miss")
    assert fake_openai.count() == misses  # every miss, and only misses, reached the upstream
    assert any(o.cache == "hit" for o in answered if o.phase == "back")  # caching resumed
    assert usage.status_code == 200


async def redis_requests(redis_url: str, key: str) -> int:
    """Requests of ``key`` in Redis's all-time usage hash."""
    redis = Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=1)
    try:
        usage = await redis.hgetall(PREFIX + "usage:total")
    finally:
        await redis.aclose()
    return sum(
        int(value)
        for member, value in usage.items()
        if member.decode().split("\x1f")[::2] == [key, "requests"]
    )


async def test_usage_recorded_while_redis_was_down_reaches_it_when_it_is_back(gateway, fake_openai):
    """Regression: usage and spend recorded while Redis was away never reached it:
    other replicas' /v1/usage and budgets missed them for good."""
    master = {"authorization": f"Bearer {MASTER_KEY}"}
    private = await asyncio.to_thread(lambda: PrivateRedis().start())
    try:
        config = chaos_config(fake_openai, private.url)
        first = gateway(config)
        await asyncio.to_thread(private.kill)
        async with httpx.AsyncClient(base_url=first.url, timeout=30) as client:
            costs = []
            for i in range(5):
                response = await client.post(
                    "/v1/chat/completions",
                    json={"model": "fast", "messages": [{"role": "user", "content": f"q{i}"}]},
                    headers={"authorization": f"Bearer {TEAM_KEY}"},
                )
                assert response.status_code == 200
                costs.append(float(response.headers["x-arbiter-cost-usd"]))
            assert sum(costs) > 0
            await asyncio.to_thread(private.start)  # empty: what it holds came after

            async def caught_up() -> bool:
                await client.get("/v1/usage", headers=master)  # sends what Redis missed
                return await redis_requests(private.url, "team") == 5

            await until(caught_up, "the outage's usage to reach Redis")
        second = gateway(config)  # another replica: it knows only what is in Redis
        async with httpx.AsyncClient(base_url=second.url, headers=master, timeout=10) as client:
            usage = (await client.get("/v1/usage?period=total")).json()
            keys = (await client.get("/v1/keys")).json()["data"]
        [team] = [k for k in usage["keys"] if k["key"] == "team"]
        assert team["requests"] == 5
        assert team["cost_usd"] == pytest.approx(sum(costs))
        [team_key] = [k for k in keys if k["name"] == "team"]
        assert team_key["spend_total_usd"] == pytest.approx(sum(costs))
        assert fake_openai.count() == 5
    finally:
        await asyncio.to_thread(private.stop)

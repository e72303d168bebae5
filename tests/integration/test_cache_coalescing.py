"""Identical requests that arrive while the first is in flight wait for its answer instead
of calling the provider again; a leader that fails lets them try for themselves."""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import Any

import httpx

from tests.conftest import MASTER_KEY, openai_config
from tests.fakes.gated_upstream import GatedUpstream
from tests.fakes.openai_server import Reply

QUESTION = [{"role": "user", "content": "the same question, many times"}]


def config(upstream_url: str = "http://upstream.invalid/v1", **cache: Any) -> dict[str, Any]:
    settings = openai_config(upstream_url, "gpt-4o-mini")
    settings["cache"] = cache
    settings["routing"] = {"retries": 0}  # a single upstream 500 reaches the client
    return settings


async def ask(client: httpx.AsyncClient, *, stream: bool = False) -> httpx.Response:
    body = {"model": "gpt-4o-mini", "messages": QUESTION, "stream": stream}
    return await client.post("/v1/chat/completions", json=body)


async def until(condition, what: str, timeout_s: float = 15.0) -> None:
    """Poll ``condition`` (sync or async) until true, failing after a generous deadline."""
    deadline = time.monotonic() + timeout_s
    while not await _value(condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def inflight(client: httpx.AsyncClient, count: int):
    async def check() -> bool:
        text = (await client.get("/metrics")).text
        return f"arbiter_inflight_requests {float(count)}" in text

    return check


def client_for(server) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=server.url,
        headers={"authorization": f"Bearer {MASTER_KEY}"},
        timeout=30,
        limits=httpx.Limits(max_connections=100),
    )


async def test_fifty_identical_concurrent_requests_reach_the_upstream_once(gateway):
    upstream = GatedUpstream()
    server = gateway(config(), transport=upstream)
    async with client_for(server) as client:
        leader = asyncio.create_task(ask(client))
        await until(lambda: upstream.calls == 1, "the leader to reach the upstream")
        followers = [asyncio.create_task(ask(client, stream=i % 2 == 1)) for i in range(49)]
        await until(inflight(client, 50), "all fifty requests to be in flight")
        upstream.gate.set()
        replies = [await leader, *await asyncio.gather(*followers)]
    assert upstream.calls == 1
    assert all(r.status_code == 200 for r in replies)
    assert [r.headers["x-arbiter-cache"] for r in replies].count("hit") == 49
    expected = "answer 1 to: the same question, many times"
    for reply in replies:
        if reply.headers["content-type"].startswith("text/event-stream"):
            assert f'"content":"{expected[:6]}' in reply.text and reply.text.endswith("[DONE]\n\n")
        else:
            assert reply.json()["choices"][0]["message"]["content"] == expected


async def test_a_leader_that_fails_lets_the_waiting_requests_try_themselves(gateway):
    upstream = GatedUpstream(statuses=[500])
    server = gateway(config(), transport=upstream)
    async with client_for(server) as client:
        leader = asyncio.create_task(ask(client, stream=True))
        await until(lambda: upstream.calls == 1, "the leader to reach the upstream")
        followers = [asyncio.create_task(ask(client)) for _ in range(4)]
        await until(inflight(client, 5), "all five requests to be in flight")
        upstream.gate.set()
        failed = await leader
        answers = await asyncio.gather(*followers)
    assert failed.status_code == 502
    assert [r.status_code for r in answers] == [200] * 4
    assert all(r.headers["x-arbiter-cache"] == "miss" for r in answers)
    assert upstream.calls == 5


async def test_waiting_is_bounded_by_coalesce_wait_s(gateway):
    upstream = GatedUpstream()
    server = gateway(config(coalesce_wait_s=0.2), transport=upstream)
    async with client_for(server) as client:
        leader = asyncio.create_task(ask(client))
        await until(lambda: upstream.calls == 1, "the leader to reach the upstream")
        impatient = await asyncio.gather(*(ask(client) for _ in range(3)))
        assert not leader.done()  # still held at the gate
        upstream.gate.set()
        assert (await leader).status_code == 200
    assert [r.status_code for r in impatient] == [200] * 3
    assert upstream.calls == 4


async def test_coalescing_can_be_turned_off(gateway):
    upstream = GatedUpstream(gated_calls=(1, 2))
    server = gateway(config(coalesce=False), transport=upstream)
    async with client_for(server) as client:
        first = asyncio.create_task(ask(client))
        second = asyncio.create_task(ask(client))
        await until(lambda: upstream.calls == 2, "both requests to reach the upstream")
        upstream.gate.set()
        replies = await asyncio.gather(first, second)
    assert [r.headers["x-arbiter-cache"] for r in replies] == ["miss", "miss"]
    assert upstream.calls == 2


async def _value(result: Any) -> bool:
    return bool(await result) if inspect.isawaitable(result) else bool(result)


async def test_a_leader_whose_client_leaves_mid_stream_releases_the_waiting_requests(
    gateway, fake_openai
):
    server = gateway(config(upstream_url=fake_openai.url))
    words = " ".join(f"w{i}" for i in range(200))
    fake_openai.script.append(Reply(chunk_delay_s=0.05))  # ~10 s if read to the end
    question = [{"role": "user", "content": words}]
    body = {"model": "gpt-4o-mini", "messages": question}
    async with client_for(server) as client:
        async with client.stream(
            "POST", "/v1/chat/completions", json={**body, "stream": True}
        ) as leader:
            lines = leader.aiter_lines()  # held: dropping it would close the stream now
            assert (await lines.__anext__()).startswith("data: ")
            waiting = [
                asyncio.create_task(client.post("/v1/chat/completions", json=body))
                for _ in range(3)
            ]
            await until(inflight(client, 4), "the three requests to wait for the stream")
            assert not any(task.done() for task in waiting)
            assert fake_openai.count() == 1  # they wait for the stream, not the provider
        answers = await asyncio.gather(*waiting)  # the leader's client has gone
    assert [r.status_code for r in answers] == [200] * 3
    assert all(r.json()["choices"][0]["message"]["content"] == words for r in answers)
    assert fake_openai.streams_finished == 0
    assert fake_openai.count() == 4

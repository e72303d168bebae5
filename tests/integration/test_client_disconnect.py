"""A client that goes away mid-stream: the upstream request is cancelled, nothing leaks."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.conftest import MASTER_KEY, openai_config
from tests.fakes.openai_server import Reply


def task_count(server) -> int:
    async def count() -> int:
        return len(asyncio.all_tasks())

    return asyncio.run_coroutine_threadsafe(count(), server.loop).result(timeout=5)


def poll(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_disconnect_mid_stream_cancels_the_upstream(gateway, fake_openai):
    server = gateway(openai_config(fake_openai.url, "gpt-4o-mini"))
    baseline = task_count(server)
    words = " ".join(f"w{i}" for i in range(200))
    fake_openai.script.append(Reply(chunk_delay_s=0.05))  # ~10 s if read to the end
    body = {
        "model": "gpt-4o-mini",
        "stream": True,
        "messages": [{"role": "user", "content": words}],
    }
    with httpx.stream(
        "POST",
        server.url + "/v1/chat/completions",
        json=body,
        headers={"authorization": f"Bearer {MASTER_KEY}"},
        timeout=10,
    ) as response:
        lines = (line for line in response.iter_lines() if line)
        for _ in range(4):  # the role chunk and a few words: the stream is flowing
            assert next(lines).startswith("data: ")
    # The client has gone. The upstream must see its reader go away promptly.
    assert poll(lambda: fake_openai.streams_abandoned == 1), "upstream stream was not cancelled"
    assert fake_openai.streams_finished == 0
    assert fake_openai.count() == 1
    assert poll(lambda: task_count(server) <= baseline), "tasks leaked after the disconnect"
    metrics = httpx.get(server.url + "/metrics").text
    assert (
        'arbiter_requests_total{model="gpt-4o-mini",provider="openai",status="cancelled"} 1.0'
        in metrics
    )
    assert "arbiter_inflight_requests 0.0" in metrics
    # What was streamed before the client left is still accounted for.
    completion = [
        line
        for line in metrics.splitlines()
        if line.startswith(
            'arbiter_tokens_total{kind="completion",model="gpt-4o-mini",provider="openai"}'
        )
    ]
    assert completion and float(completion[0].split()[-1]) >= 1

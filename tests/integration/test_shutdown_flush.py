"""SIGTERM loses no spend: what a key spent up to the last streamed token is in Redis
after ``arbiter serve`` exits 0, for budgets and ``/v1/usage`` everywhere to see.

To prove that the shutdown flush is what writes it, Redis stalls (``CLIENT PAUSE``)
just before: the gateway's next Redis call times out, and for a moment after it
the gateway leaves Redis alone and keeps what it records in memory. SIGTERM comes
in that moment, with streams still running; their spend, and that of the request
that met the stall, can only reach Redis through the flush at shutdown.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import yaml

from gateway.app import create_app
from tests.conftest import MASTER_KEY, make_settings
from tests.fakes.private_redis import PrivateRedis
from tests.fakes.serving import ServerThread, free_port, serve_gateway

TEAM_KEY = "sk-flush-team-0123456789"
INPUT_PRICE, OUTPUT_PRICE = 1000.0, 2000.0  # USD per million tokens: visible sums
STREAMS = 3
PREFIX = "arbiter:"


def flush_config(redis_url: str) -> dict[str, Any]:
    return {
        "server": {"master_key": MASTER_KEY, "shutdown_grace_s": 20},
        "state": {"redis_url": redis_url, "key_prefix": PREFIX},
        "providers": {"local": {"type": "mock"}},
        "models": {
            "priced": {
                "deployments": [
                    {
                        "provider": "local",
                        "model": "m",
                        "input_cost_per_mtok": INPUT_PRICE,
                        "output_cost_per_mtok": OUTPUT_PRICE,
                        "mock": {"reply": "echo", "tokens_per_s": 20},  # streams take ~1 s
                    }
                ]
            }
        },
        "cache": {"enabled": False},
        "keys": [{"name": "team", "key": TEAM_KEY, "budget_usd": 1000}],
    }


def serve(tmp_path: Path, config: dict[str, Any], port: int) -> subprocess.Popen[bytes]:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return serve_gateway(path, port)


def cost(usage: dict[str, int]) -> float:
    return (usage["prompt_tokens"] * INPUT_PRICE + usage["completion_tokens"] * OUTPUT_PRICE) / 1e6


def ask(url: str, text: str) -> float:
    """One JSON completion; what it cost, from its header."""
    response = httpx.post(
        url + "/v1/chat/completions",
        json={"model": "priced", "messages": [{"role": "user", "content": text}]},
        headers={"authorization": f"Bearer {TEAM_KEY}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return float(response.headers["x-arbiter-cost-usd"])


def stream_through_shutdown(url: str, text: str, started: threading.Barrier) -> dict[str, int]:
    """A stream that has begun when SIGTERM comes; its usage, from its usage chunk."""
    body = {
        "model": "priced",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": text}],
    }
    with httpx.stream(
        "POST",
        url + "/v1/chat/completions",
        json=body,
        headers={"authorization": f"Bearer {TEAM_KEY}"},
        timeout=30,
    ) as response:
        lines = (line for line in response.iter_lines() if line)
        first = next(lines)
        assert first.startswith("data: ")
        started.wait(timeout=20)
        rest = list(lines)
    assert rest[-1] == "data: [DONE]"
    usage: dict[str, int] = json.loads(rest[-2][len("data: ") :])["usage"]
    return usage


@pytest.fixture
def private_redis():
    private = PrivateRedis().start()
    yield private
    private.stop()


def test_spend_recorded_as_sigterm_arrives_is_in_redis_after_exit(request, tmp_path, private_redis):
    config = flush_config(private_redis.url)
    port = free_port()
    proc = serve(tmp_path, config, port)
    url = f"http://127.0.0.1:{port}"
    usages: list[dict[str, int]] = []
    admin = redis.Redis.from_url(private_redis.url)
    request.addfinalizer(admin.close)
    try:
        costs = [ask(url, f"bill me for request {i}") for i in range(2)]
        admin.execute_command("CLIENT", "PAUSE", 1500, "ALL")  # Redis stalls for 1.5 s
        costs.append(ask(url, "bill me while Redis stalls"))  # waits out the 1 s timeout
        words = " ".join(f"w{i}" for i in range(20))
        started = threading.Barrier(STREAMS + 1)
        threads = [
            threading.Thread(
                target=lambda i=i: usages.append(
                    stream_through_shutdown(url, f"stream {i}: {words}", started)
                )
            )
            for i in range(STREAMS)
        ]
        for thread in threads:
            thread.start()
        started.wait(timeout=20)  # every stream is under way: its cost is not known yet
        proc.send_signal(signal.SIGTERM)
        for thread in threads:
            thread.join(timeout=30)
        output = proc.communicate(timeout=30)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    assert "could not be written" not in output
    assert len(usages) == STREAMS  # the streams were answered to the end
    expected = sum(costs) + sum(cost(u) for u in usages)
    assert float(admin.get(PREFIX + "spend:team:total") or 0) == pytest.approx(expected)

    # Another gateway on the same Redis: its /v1/usage and /v1/keys show all of it.
    with_master = {"authorization": f"Bearer {MASTER_KEY}"}
    second = ServerThread(create_app(make_settings(config))).start()
    try:
        usage = httpx.get(second.url + "/v1/usage?period=total", headers=with_master).json()
        keys = httpx.get(second.url + "/v1/keys", headers=with_master).json()["data"]
    finally:
        second.stop()
    [team] = usage["keys"]
    assert team["key"] == "team" and team["requests"] == 3 + STREAMS
    assert team["cost_usd"] == pytest.approx(expected)
    assert keys[0]["spend_total_usd"] == pytest.approx(expected)

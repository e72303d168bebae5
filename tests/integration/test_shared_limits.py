"""Two Arbiter processes behind a load balancer share one Redis: a key's rpm is one
limit across both, never one per process."""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from tests.conftest import MASTER_KEY, openai_config
from tests.fakes.redis_namespace import redis_namespace
from tests.fakes.serving import free_port

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-team-shared-0123456789"
RPM = 5


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARBITER_", "REDIS_URL"))}
    env["PYTHONPATH"] = str(ROOT)
    return env


def _serve(config: Path, port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config)]
    return subprocess.Popen(
        [*command, "--port", str(port)],
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _wait_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/ready").status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert process.poll() is None, "gateway exited during startup"
        assert time.monotonic() < deadline, "gateway did not become ready"
        time.sleep(0.1)


async def _burst(ports: list[int], per_process: int) -> list[int]:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    headers = {"authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(timeout=30) as client:
        answers = await asyncio.gather(
            *(
                client.post(
                    f"http://127.0.0.1:{port}/v1/chat/completions", json=body, headers=headers
                )
                for _ in range(per_process)
                for port in ports
            )
        )
    return [a.status_code for a in answers]


def test_two_processes_with_one_redis_share_the_rate_limit(tmp_path, fake_openai):
    with redis_namespace() as ns:
        config = openai_config(fake_openai.url, "gpt-4o-mini", state=ns.state())
        config["server"] = {"master_key": MASTER_KEY}
        config["keys"] = [{"name": "team", "key": KEY, "rpm": RPM}]
        path = tmp_path / "arbiter.yaml"
        path.write_text(yaml.safe_dump(config))
        ports = [free_port(), free_port()]
        processes = [_serve(path, port) for port in ports]
        try:
            for port, process in zip(ports, processes, strict=True):
                _wait_ready(port, process)
            started = time.monotonic()
            codes = asyncio.run(_burst(ports, per_process=8))
            elapsed = time.monotonic() - started
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=30)
    admitted = codes.count(200)
    # The whole burst of 5 is admitted; after it one request per 60/5 = 12 s frees up.
    assert RPM <= admitted <= RPM + math.floor(elapsed / (60 / RPM))
    assert codes.count(429) == len(codes) - admitted
    assert fake_openai.count() == admitted

"""No key value ever leaves Arbiter through what operators collect: log lines (its
own, uvicorn's, at debug level, JSON or text), /metrics, or responses, even when an
upstream echoes its key back in an error. (Text-format lines go through the same
redaction: tests/unit/test_logging_setup.py.)"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from gateway.logging_setup import JsonFormatter
from tests.conftest import MASTER_KEY, UPSTREAM_KEY, openai_config
from tests.fakes.openai_server import Reply
from tests.fakes.serving import free_port

ROOT = Path(__file__).resolve().parents[2]
VIRTUAL_KEY = "sk-virtual-team-0f9e8d7c6b"
WRONG_KEY = "sk-presented-but-unknown-1234"
SECRETS = (MASTER_KEY, UPSTREAM_KEY, VIRTUAL_KEY, WRONG_KEY)


def leaky_config(base_url: str) -> dict[str, Any]:
    config = openai_config(base_url, "gpt-4o-mini")
    config["models"]["rejected"] = {"deployments": [{"provider": "openai", "model": "bad-key"}]}
    config["routing"] = {"retries": 0}
    config["keys"] = [{"name": "team", "key": VIRTUAL_KEY}]
    config["logging"] = {"level": "debug", "log_bodies": True}
    return config


def traffic(url: str, fake_openai: Any) -> list[httpx.Response]:
    """Answers, a stream, refusals, and an upstream that echoes its key in an error."""

    def chat(key: str, model: str = "gpt-4o-mini", **extra: Any) -> httpx.Response:
        return httpx.post(
            url + "/v1/chat/completions",
            headers={"authorization": f"Bearer {key}"},
            json={"model": model, "messages": [{"role": "user", "content": "hi"}], **extra},
            timeout=10,
        )

    echo = {"error": {"message": f"Incorrect API key provided: {UPSTREAM_KEY}",
                      "type": "invalid_request_error", "code": "invalid_api_key"}}  # fmt: skip
    fake_openai.script.append(Reply(401, echo))
    responses = [
        chat(MASTER_KEY, "rejected"),
        chat(MASTER_KEY),
        chat(VIRTUAL_KEY, stream=True),
        chat(WRONG_KEY),
        httpx.get(url + "/v1/models", headers={"api-key": VIRTUAL_KEY}),
        httpx.get(url + "/metrics"),
    ]
    assert [r.status_code for r in responses] == [502, 200, 200, 401, 200, 200]
    assert fake_openai.count() == 3
    return responses


def exposed(responses: list[httpx.Response]) -> str:
    return "\n".join(f"{r.headers}\n{r.text}" for r in responses)


def test_no_key_in_logs_metrics_or_responses_in_process(gateway, fake_openai, caplog):
    caplog.set_level(logging.DEBUG)
    server = gateway(leaky_config(fake_openai.url))
    responses = traffic(server.url, fake_openai)
    formatter = JsonFormatter()
    lines = [formatter.format(record) for record in caplog.records]
    assert any('"logger":"arbiter.access"' in line for line in lines)
    for secret in SECRETS:
        assert secret not in exposed(responses)
        assert secret not in caplog.text
        assert not [line for line in lines if secret in line]


def test_no_key_in_anything_a_served_gateway_writes(tmp_path, fake_openai):
    config = leaky_config(fake_openai.url)
    config["server"] = {"master_key": "${ARBITER_MASTER_KEY}"}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ARBITER_MASTER_KEY": MASTER_KEY}
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--config", str(path),
             "--port", str(port)],
            cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/health/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        responses = traffic(url, fake_openai)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = log.read_text()
    lines = text.splitlines()
    access = [line for line in lines if "arbiter.access" in line]
    assert len(access) == 5  # three chat requests, the refused one, the model list
    parsed = [json.loads(line) for line in lines]  # uvicorn's lines are JSON too
    assert {"uvicorn.error", "arbiter", "arbiter.access"} <= {p["logger"] for p in parsed}
    for secret in SECRETS:
        assert secret not in text
        assert secret not in exposed(responses)

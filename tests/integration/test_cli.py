"""A new user runs the CLI: check the example config, serve it, get an answer."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.fakes.serving import free_port

ROOT = Path(__file__).resolve().parents[2]


def arbiter(*args: str, env: dict[str, str] | None = None, **kwargs) -> list[str]:
    return [sys.executable, "-m", "gateway.cli", *args]


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("OPENAI_API_KEY", "ARBITER_MASTER_KEY", "REDIS_URL", "ARBITER_CONFIG")
    }
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def test_check_lists_disabled_providers_and_deployments():
    result = subprocess.run(
        arbiter("check", "--config", "config.example.yaml"),
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "openai (openai): DISABLED - OPENAI_API_KEY is empty" in result.stdout
    assert "local (mock): enabled" in result.stdout
    assert "openai/gpt-4o-mini: disabled" in result.stdout
    assert "local/mock-1: enabled" in result.stdout


def test_check_rejects_an_invalid_config_naming_key_and_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "providers:\n  local:\n    type: mock\nmodels:\n  demo:\n    deployments:\n"
        "      - provider: local\n        model: m\n        wieght: 2\n"
    )
    result = subprocess.run(
        arbiter("check", "--config", str(bad)),
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "models.demo.deployments[0].wieght: unknown key 'wieght' (line 9)" in result.stderr


def test_check_uses_arbiter_config_from_the_environment():
    result = subprocess.run(
        arbiter("check"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=clean_env(ARBITER_CONFIG="config.example.yaml"),
        timeout=60,
    )
    assert result.returncode == 0 and "demo" in result.stdout


def test_serve_example_config_answers_demo():
    port = free_port()
    proc = subprocess.Popen(
        arbiter("serve", "--config", "config.example.yaml", "--port", str(port)),
        cwd=ROOT,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "server did not start"
            time.sleep(0.1)
        response = httpx.post(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            headers={"authorization": "Bearer sk-local-dev"},
            json={"model": "demo", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert response.status_code == 200
        assert response.json()["choices"][0]["message"]["content"] == "hi"
        # The disabled OpenAI deployment falls back to demo.
        response = httpx.post(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            headers={"authorization": "Bearer sk-local-dev"},
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "fallback"}]},
        )
        assert response.status_code == 200
        assert response.headers["x-arbiter-model"] == "demo"
    finally:
        proc.terminate()
        output = proc.communicate(timeout=30)[0].decode()
    assert "provider openai is disabled" in output
    assert proc.returncode == 0

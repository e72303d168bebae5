"""A gateway run with a default config (one process, no Redis, no tracing, no rankings
asked for) does not load the heavy packages only other configurations need: numpy
(ranking fits), redis (shared state), jsonschema (eval runs), botocore (Bedrock).

Each check runs in a fresh interpreter, so nothing another test imported counts."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ["numpy", "redis", "jsonschema", "botocore", "opentelemetry.sdk"]

SERVE_AND_ASK = textwrap.dedent(
    """
    import json, sys
    from starlette.testclient import TestClient
    from gateway.app import create_app
    from gateway.config import Settings

    config = json.loads(sys.argv[1])
    with TestClient(create_app(Settings.model_validate(config))) as client:
        auth = {"authorization": "Bearer sk-memory-test-0000"}
        body = {"model": "demo", "messages": [{"role": "user", "content": "hello"}]}
        for stream in (False, True):
            answer = client.post("/v1/chat/completions", json=dict(body, stream=stream),
                                 headers=auth)
            assert answer.status_code == 200, answer.text
        assert client.get("/metrics").status_code == 200
    print(json.dumps(sorted(m for m in sys.argv[2:] if m in sys.modules)))
    """
)


def loaded_after_serving(config: dict, modules: list[str]) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", SERVE_AND_ASK, json.dumps(config), *modules],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def default_config(**extra: object) -> dict:
    return {
        "server": {"master_key": "sk-memory-test-0000"},
        "providers": {"local": {"type": "mock"}},
        "models": {"demo": {"deployments": [{"provider": "local", "model": "mock-1"}]}},
        **extra,
    }


def test_serving_chat_with_a_default_config_loads_none_of_the_heavy_optional_packages():
    assert loaded_after_serving(default_config(), HEAVY) == []


def test_the_same_check_sees_redis_once_shared_state_is_configured():
    # Proves the check above can fail: with state.redis_url, the redis package is needed.
    # Nothing is asked of that Redis beyond startup; an unreachable one is fine.
    config = default_config(state={"redis_url": "redis://127.0.0.1:1/15"})
    assert loaded_after_serving(config, ["redis"]) == ["redis"]

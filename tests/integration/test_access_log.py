"""An operator finds any request in the access log by its id: one JSON line per
request, with who asked, what answered, how long it took, what it cost."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest

from gateway.logging_setup import JsonFormatter
from tests.conftest import ACCESS_LINE_FIELDS, MASTER_KEY, openai_config, settle

TEAM_KEY = "sk-team-access-log-11aa22"
FIELDS = set(ACCESS_LINE_FIELDS)


@pytest.fixture
def access_lines(caplog, gateway):
    """The access log as an operator reads it: JSON lines, parsed."""
    caplog.set_level(logging.INFO, logger="arbiter.access")
    formatter = JsonFormatter()

    def lines() -> list[dict[str, Any]]:
        settle(gateway)
        return [
            json.loads(formatter.format(r)) for r in caplog.records if r.name == "arbiter.access"
        ]

    return lines


def config(base_url: str, **logging_settings: Any) -> dict[str, Any]:
    cfg = openai_config(base_url, "gpt-4o-mini")
    cfg["models"]["gpt-4o-mini"]["deployments"][0].update(
        input_cost_per_mtok=1.0, output_cost_per_mtok=2.0
    )
    cfg["models"]["flaky"] = {
        "deployments": [{"provider": "openai", "model": "error-500"}],
        "fallbacks": ["gpt-4o-mini"],
    }
    cfg["models"]["broken"] = {"deployments": [{"provider": "openai", "model": "error-500"}]}
    cfg["routing"] = {"retries": 0}
    cfg["keys"] = [{"name": "team-a", "key": TEAM_KEY, "models": ["gpt-4o-mini"]}]
    if logging_settings:
        cfg["logging"] = logging_settings
    return cfg


def chat(url: str, model: str, text: str, *, key: str = MASTER_KEY, **extra: Any) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}", **extra.pop("headers", {})}
    return httpx.post(
        url + "/v1/chat/completions",
        headers=headers,
        json={"model": model, "messages": [{"role": "user", "content": text}], **extra},
        timeout=10,
    )


def test_each_request_is_one_json_line_with_every_field(gateway, fake_openai, access_lines):
    server = gateway(config(fake_openai.url))
    headers = {"x-request-id": "find-me-1"}
    response = chat(server.url, "gpt-4o-mini", "hello there", key=TEAM_KEY, headers=headers)
    assert response.status_code == 200
    [line] = [entry for entry in access_lines() if entry["request_id"] == "find-me-1"]
    assert FIELDS <= set(line)
    assert line["time"].endswith("Z") and line["level"] == "info"
    assert {k: line[k] for k in FIELDS - {"time", "latency_ms"}} == {
        "request_id": "find-me-1",
        "key": "team-a",
        "model_requested": "gpt-4o-mini",
        "model": "gpt-4o-mini",
        "provider": "openai",
        "upstream_model": "gpt-4o-mini",
        "attempts": 1,
        "status": "ok",
        "http_status": 200,
        "cache": "miss",
        "stream": False,
        "task": "general",
        "ttft_ms": None,
        "prompt_tokens": 6,
        "completion_tokens": 2,
        "cost_usd": pytest.approx((6 * 1.0 + 2 * 2.0) / 1e6),
    }
    assert line["latency_ms"] > 0
    assert "messages" not in line and "completion" not in line
    assert "hello there" not in json.dumps(access_lines())
    assert fake_openai.count() == 1


def test_a_stream_logs_time_to_first_token_and_its_usage(gateway, fake_openai, access_lines):
    server = gateway(config(fake_openai.url))
    response = chat(
        server.url, "gpt-4o-mini", "stream it", stream=True, stream_options={"include_usage": True}
    )
    assert response.status_code == 200
    [line] = access_lines()
    assert line["request_id"] == response.headers["x-request-id"]
    assert line["stream"] is True and line["status"] == "ok"
    assert 0 < line["ttft_ms"] <= line["latency_ms"]
    assert (line["prompt_tokens"], line["completion_tokens"]) == (6, 2)
    assert fake_openai.count() == 1


def test_failover_and_failure_say_what_was_tried(gateway, fake_openai, access_lines):
    server = gateway(config(fake_openai.url))
    assert chat(server.url, "flaky", "hi", headers={"x-request-id": "failover"}).status_code == 200
    assert chat(server.url, "broken", "hi", headers={"x-request-id": "failed"}).status_code == 502
    lines = {entry["request_id"]: entry for entry in access_lines()}
    assert lines["failover"]["model_requested"] == "flaky"
    assert lines["failover"]["model"] == "gpt-4o-mini"
    assert lines["failover"]["attempts"] == 2
    failed = lines["failed"]
    assert (failed["status"], failed["http_status"], failed["model"]) == ("error", 502, None)
    assert failed["error"] == "AllTargetsFailedError"
    assert failed["attempt_errors"] == ["UpstreamUnavailableError"]
    assert failed["attempts"] == 1
    assert "every deployment failed" in failed["error_message"]
    assert fake_openai.count() == 3


def test_refused_requests_are_logged_with_what_is_known(gateway, fake_openai, access_lines):
    server = gateway(config(fake_openai.url))
    bad_key = chat(server.url, "gpt-4o-mini", "hi", key="sk-not-a-key")
    unknown = chat(server.url, "nope", "hi")
    forbidden = chat(server.url, "flaky", "hi", key=TEAM_KEY, headers={"x-request-id": "nope-3"})
    assert (bad_key.status_code, unknown.status_code, forbidden.status_code) == (401, 404, 403)
    assert httpx.get(server.url + "/metrics").status_code == 200  # scrapes are not logged
    assert httpx.get(server.url + "/health/live").status_code == 200
    lines = access_lines()
    assert [(entry["path"], entry["http_status"], entry["request_id"]) for entry in lines] == [
        ("/v1/chat/completions", 401, bad_key.headers["x-request-id"]),
        ("/v1/chat/completions", 404, unknown.headers["x-request-id"]),
        ("/v1/chat/completions", 403, "nope-3"),
    ]
    assert all(entry["status"] == "error" and entry["method"] == "POST" for entry in lines)
    assert "sk-not-a-key" not in json.dumps(lines)
    assert fake_openai.count() == 0


def test_bodies_are_logged_only_when_asked(gateway, fake_openai, access_lines):
    server = gateway(config(fake_openai.url, log_bodies=True))
    assert chat(server.url, "gpt-4o-mini", "log my words").status_code == 200
    streamed = chat(server.url, "gpt-4o-mini", "and these too", stream=True)
    assert streamed.status_code == 200
    plain, stream = access_lines()
    assert plain["messages"] == [{"role": "user", "content": "log my words"}]
    assert plain["completion"] == "log my words"
    assert stream["messages"] == [{"role": "user", "content": "and these too"}]
    assert stream["completion"] == "and these too"
    assert fake_openai.count() == 2


def test_an_answer_from_the_cache_logs_the_text_it_served(gateway, fake_openai, access_lines):
    server = gateway({**config(fake_openai.url, log_bodies=True), "cache": {"enabled": True}})
    for stream in (False, False, True):
        assert chat(server.url, "gpt-4o-mini", "say it again", stream=stream).status_code == 200
    miss, hit, streamed_hit = access_lines()
    assert (miss["cache"], hit["cache"], streamed_hit["cache"]) == ("miss", "hit", "hit")
    assert hit["completion"] == streamed_hit["completion"] == "say it again"
    assert fake_openai.count() == 1


def test_the_access_log_can_be_turned_off(gateway, fake_openai, access_lines):
    server = gateway(config(fake_openai.url, access_log=False))
    assert chat(server.url, "gpt-4o-mini", "hi").status_code == 200
    assert chat(server.url, "gpt-4o-mini", "hi", key="sk-wrong").status_code == 401
    assert access_lines() == []
    assert fake_openai.count() == 1

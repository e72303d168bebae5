"""Secrets stay secret: keys from files, redacted reprs, no client-chosen upstreams."""

from __future__ import annotations

import logging

import httpx

from gateway.config import parse_settings
from tests.conftest import MASTER_KEY, UPSTREAM_KEY, openai_config


def test_provider_key_can_come_from_a_file(gateway, fake_openai, tmp_path):
    key_file = tmp_path / "openai.key"
    key_file.write_text(UPSTREAM_KEY + "\n")
    config = openai_config(fake_openai.url, "gpt-4o-mini")
    del config["providers"]["openai"]["api_key"]
    config["providers"]["openai"]["api_key_file"] = str(key_file)
    server = gateway(config)
    response = httpx.post(
        server.url + "/v1/chat/completions",
        headers={"authorization": f"Bearer {MASTER_KEY}"},
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert response.status_code == 200
    assert fake_openai.calls[0].headers["authorization"] == f"Bearer {UPSTREAM_KEY}"


def test_a_missing_key_file_disables_the_provider_with_a_reason(tmp_path):
    from gateway.runtime import plan_runtime

    settings = parse_settings(
        f"""
providers:
  openai: {{type: openai, api_key_file: {tmp_path}/absent.key}}
models:
  m: {{deployments: [{{provider: openai, model: gpt-4o}}]}}
""",
        environ={},
    )
    plan = plan_runtime(settings)
    assert "api_key_file" in plan.disabled["openai"]
    assert not plan.servable("m")


def test_config_and_targets_never_show_secrets_in_repr(caplog):
    from gateway.runtime import plan_runtime

    settings = parse_settings(
        f"""
server: {{master_key: {MASTER_KEY}}}
providers:
  openai: {{type: openai, api_key: {UPSTREAM_KEY}}}
models:
  m: {{deployments: [{{provider: openai, model: gpt-4o}}]}}
keys:
  - {{name: team, key: sk-team-visible-no-more}}
""",
        environ={},
    )
    plan = plan_runtime(settings)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("test").info("settings=%r plan=%r", settings, plan)
    text = repr(settings) + repr(plan) + caplog.text
    for secret in (MASTER_KEY, UPSTREAM_KEY, "sk-team-visible-no-more"):
        assert secret not in text


def test_a_client_cannot_choose_the_upstream_or_its_credentials(gateway, fake_openai):
    server = gateway(openai_config(fake_openai.url, "gpt-4o-mini"))
    response = httpx.post(
        server.url + "/v1/chat/completions",
        headers={
            "authorization": f"Bearer {MASTER_KEY}",
            "x-arbiter-base-url": "http://169.254.169.254/latest",
        },
        json={
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "hi"}],
            "base_url": "http://169.254.169.254/latest",
            "api_key": "sk-client-chosen",
        },
    )
    assert response.status_code == 200
    assert fake_openai.count() == 1  # the configured upstream got the call
    call = fake_openai.calls[0]
    assert call.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"

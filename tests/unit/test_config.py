"""The config file: interpolation, validation, and messages that point at the mistake."""

from __future__ import annotations

import pytest

from gateway.config import ConfigError, interpolate, parse_settings

MINIMAL = """
providers:
  local: {type: mock}
models:
  demo:
    deployments: [{provider: local, model: m}]
"""


def test_interpolation_uses_environment_and_defaults():
    env = {"A": "one", "EMPTY": ""}
    assert interpolate("${A} ${B:-two} ${EMPTY:-three} ${MISSING}", env) == "one two three "


def test_minimal_config_gets_defaults():
    settings = parse_settings(MINIMAL, environ={})
    assert settings.server.port == 8080
    assert settings.routing.retries == 2
    assert settings.cache.enabled is True


def test_secrets_are_redacted_in_repr():
    settings = parse_settings(MINIMAL + "server:\n  master_key: sk-very-secret\n", environ={})
    assert "sk-very-secret" not in repr(settings)
    assert "sk-very-secret" not in str(settings.model_dump())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (MINIMAL + "servr: {}\n", "servr: unknown key 'servr' (line 7)"),
        (MINIMAL.replace("provider: local", "provider: locl"), "unknown provider 'locl'"),
        (
            MINIMAL + "  other:\n    deployments: [{provider: local, model: m}]\n"
            "    fallbacks: [nope]\n",
            "models.other.fallbacks[0]: unknown model 'nope'",
        ),
        ("models: {}\n", "models: Dictionary should have at least 1 item"),
        (MINIMAL + "keys:\n  - name: a\n", "keys[0]: a key needs 'key' or 'key_sha256'"),
        (
            MINIMAL
            + "  routed:\n    candidates: [demo]\n    deployments: [{provider: local, model: m}]\n",
            "models.routed: a model needs either 'deployments' or 'candidates'",
        ),
        ("models: [", "not valid YAML"),
    ],
)
def test_invalid_configs_say_what_and_where(text, message):
    with pytest.raises(ConfigError) as info:
        parse_settings(text, environ={})
    assert message in str(info.value)

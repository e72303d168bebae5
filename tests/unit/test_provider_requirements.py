"""A provider missing what its type needs (cloud keys, a resource URL, a library)
is disabled with a reason that says what to set, never a crash."""

from __future__ import annotations

from gateway.runtime import plan_runtime
from tests.conftest import make_settings


def plan(provider: dict) -> object:
    return plan_runtime(
        make_settings(
            {
                "providers": {"up": provider, "local": {"type": "mock"}},
                "models": {
                    "chat": {"deployments": [{"provider": "up", "model": "m1"}]},
                    "demo": {"deployments": [{"provider": "local", "model": "mock-1"}]},
                },
            }
        )
    )


def test_bedrock_without_aws_keys_is_disabled_naming_them():
    result = plan({"type": "bedrock", "region": "eu-west-1"})
    assert result.disabled == {
        "up": "aws_access_key_id and aws_secret_access_key are empty "
        "(set in the config or the environment)"
    }
    assert result.routes["chat"].targets == ()
    assert "local" in result.adapters


def test_bedrock_with_half_the_keys_names_the_missing_one():
    result = plan({"type": "bedrock", "aws_access_key_id": "AKID", "aws_secret_access_key": ""})
    assert result.disabled["up"].startswith("aws_secret_access_key is empty")


def test_bedrock_with_keys_is_enabled_and_needs_no_api_key():
    result = plan(
        {"type": "bedrock", "aws_access_key_id": "AKID", "aws_secret_access_key": "secret"}
    )
    assert result.disabled == {}
    assert [t.provider_type for t in result.routes["chat"].targets] == ["bedrock"]


def test_azure_without_its_resource_url_is_disabled():
    result = plan({"type": "azure", "api_key": "k"})
    assert result.disabled == {"up": "base_url is empty (set in the config or the environment)"}


def test_cohere_and_mistral_need_a_key():
    assert plan({"type": "cohere"}).disabled["up"].startswith("api_key is empty")
    assert plan({"type": "mistral"}).disabled["up"].startswith("api_key is empty")


def test_an_unknown_preset_disables_the_provider_with_the_known_ones():
    result = plan({"type": "openai-compatible", "preset": "grok", "base_url": "http://x"})
    assert result.disabled["up"].startswith("unknown preset 'grok'; known: deepseek, fireworks")


def test_local_presets_need_no_key():
    result = plan({"type": "openai-compatible", "preset": "ollama"})
    assert result.disabled == {}

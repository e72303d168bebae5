"""Shared fixtures: fake upstream servers, a running Arbiter, and clients for it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from gateway.app import create_app
from gateway.config import Settings, parse_settings
from gateway.server import fast_server_options
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.faults import FaultyUpstream
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.serving import ServerThread, run_server

# What an access line records of a chat request, in the order it writes them
# (gateway/access_log.py).
ACCESS_LINE_FIELDS = (
    "time",
    "request_id",
    "key",
    "model_requested",
    "model",
    "provider",
    "upstream_model",
    "attempts",
    "status",
    "http_status",
    "cache",
    "stream",
    "task",
    "latency_ms",
    "ttft_ms",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
)

pytest_plugins = ["tests.fakes.provider_fixtures"]  # fake Azure, Mistral, Cohere, Bedrock

MASTER_KEY = "sk-test-master-0123456789"
UPSTREAM_KEY = "sk-upstream-secret-abcdef987654"


@pytest.fixture(scope="session", autouse=True)
def no_key_in_any_log() -> Iterator[None]:
    """Every log record of the whole run (Arbiter's at debug level, every other
    library's at its own level) is checked for the test keys: none may hold one."""
    from gateway.logging_setup import JsonFormatter

    leaks: list[str] = []
    formatter = JsonFormatter()

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            line = formatter.format(record)
            if MASTER_KEY in line or UPSTREAM_KEY in line:
                leaks.append(line)

    watch, arbiter = Watch(logging.DEBUG), logging.getLogger("arbiter")
    level = arbiter.level
    logging.getLogger().addHandler(watch)
    arbiter.setLevel(logging.DEBUG)
    yield
    arbiter.setLevel(level)
    logging.getLogger().removeHandler(watch)
    assert leaks == [], "a test key reached a log line"


@pytest.fixture(scope="session")
def fake_openai_server() -> Iterator[tuple[FakeOpenAI, ServerThread]]:
    fake = FakeOpenAI()
    with run_server(fake.app) as server:
        yield fake, server


@pytest.fixture
def fake_openai(fake_openai_server: tuple[FakeOpenAI, ServerThread]) -> Iterator[FakeOpenAI]:
    """The fake OpenAI upstream, with no recorded calls and an empty script."""
    fake, server = fake_openai_server
    fake.reset()
    fake.url = server.url + "/v1"  # type: ignore[attr-defined]
    yield fake
    fake.reset()


def make_settings(config: dict[str, Any] | str) -> Settings:
    """Settings from a config dict (or YAML text), with the test master key by default."""
    text = config if isinstance(config, str) else yaml.safe_dump(config)
    data = yaml.safe_load(text)
    data.setdefault("server", {}).setdefault("master_key", MASTER_KEY)
    return parse_settings(yaml.safe_dump(data), environ={})


@pytest.fixture
def gateway() -> Iterator[Callable[..., ServerThread]]:
    """Starts Arbiter on a free port for a config, served as ``arbiter serve`` serves it
    (its HTTP protocol); stops every one at the end of the test."""
    started: list[ServerThread] = []

    def start(config: dict[str, Any] | str, **kwargs: Any) -> ServerThread:
        app = create_app(make_settings(config), **kwargs)
        server = ServerThread(app, http=fast_server_options()["http"]).start()
        started.append(server)
        return server

    start.started = started  # type: ignore[attr-defined]
    yield start
    for server in started:
        server.stop()


def settle(gateway: Callable[..., ServerThread]) -> None:
    """Waits until every gateway the test started has run the hooks of the answers it
    sent (they run right after the answer): logs, traces and hooks are then complete."""
    for server in gateway.started:  # type: ignore[attr-defined]
        server.settle()


def openai_config(base_url: str, *models: str, **extra: Any) -> dict[str, Any]:
    """A config with one OpenAI provider and one Arbiter model per upstream model name.

    The response cache is off: tests built on this count upstream calls and repeat
    identical requests. Tests about the cache set ``cache`` themselves."""
    config: dict[str, Any] = {
        "providers": {
            "openai": {
                "type": "openai",
                "base_url": base_url,
                "api_key": UPSTREAM_KEY,
                "timeout_s": 5,
            }
        },
        "models": {m: {"deployments": [{"provider": "openai", "model": m}]} for m in models},
        "cache": {"enabled": False},
    }
    config.update(extra)
    return config


@pytest.fixture(scope="session")
def fake_anthropic_server() -> Iterator[tuple[FakeAnthropic, ServerThread]]:
    fake = FakeAnthropic(UPSTREAM_KEY)
    with run_server(fake.app) as server:
        fake.url = server.url
        yield fake, server


@pytest.fixture
def fake_anthropic(
    fake_anthropic_server: tuple[FakeAnthropic, ServerThread],
) -> Iterator[FakeAnthropic]:
    """The fake Anthropic upstream, with no recorded calls and an empty script."""
    fake, _ = fake_anthropic_server
    fake.reset()
    yield fake
    fake.reset()


@pytest.fixture(scope="session")
def fake_gemini_server() -> Iterator[tuple[FakeGemini, ServerThread]]:
    fake = FakeGemini(UPSTREAM_KEY)
    with run_server(fake.app) as server:
        fake.url = server.url
        yield fake, server


@pytest.fixture
def fake_gemini(fake_gemini_server: tuple[FakeGemini, ServerThread]) -> Iterator[FakeGemini]:
    """The fake Gemini upstream, with no recorded calls and an empty script."""
    fake, _ = fake_gemini_server
    fake.reset()
    yield fake
    fake.reset()


@pytest.fixture
def faulty() -> Iterator[Callable[..., FaultyUpstream]]:
    """Starts fault-injecting upstreams (tests/fakes/faults.py); stops them all at the end."""
    started: list[FaultyUpstream] = []

    def start(name: str, **options: Any) -> FaultyUpstream:
        upstream = FaultyUpstream(name, **options).start()
        started.append(upstream)
        return upstream

    yield start
    for upstream in started:
        upstream.stop()


def deployments_config(
    *upstreams: FaultyUpstream, model: str = "chat", strategy: str = "priority", **routing: Any
) -> dict[str, Any]:
    """One model served by one deployment per fake upstream (provider = upstream name),
    with the response cache off."""
    return {
        "providers": {
            u.name: {"type": "openai-compatible", "base_url": u.url, "timeout_s": 5}
            for u in upstreams
        },
        "models": {
            model: {
                "strategy": strategy,
                "deployments": [
                    {"provider": u.name, "model": f"{u.name}-model"} for u in upstreams
                ],
            }
        },
        "routing": {"backoff_base_s": 0.01, "backoff_max_s": 2, **routing},
        "cache": {"enabled": False},  # these tests count upstream calls
    }


def metric_value(server: ServerThread, name: str, **labels: str) -> float | None:
    """One sample from the gateway's /metrics, or None when it is not there."""
    text = httpx.get(server.url + "/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return None

"""Fuzzing the gateway from its own OpenAPI document: no 5xx, no hang, every error an envelope."""

from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from gateway.app import create_app
from tests.conftest import MASTER_KEY, make_settings
from tests.fakes.serving import run_server

CONFIG = {
    "providers": {"local": {"type": "mock"}},
    "models": {"demo": {"deployments": [{"provider": "local", "model": "mock-1"}]}},
}


@pytest.fixture(scope="module")
def live_gateway():
    app = create_app(make_settings(CONFIG))
    with run_server(app) as server:
        yield app, server


@pytest.fixture(scope="module")
def api_schema(live_gateway):
    app, server = live_gateway
    return schemathesis.openapi.from_dict(app.openapi())


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_breaks_the_gateway(case, live_gateway):
    _, server = live_gateway
    headers = {"authorization": f"Bearer {MASTER_KEY}"}
    response = case.call(base_url=server.url, headers=headers, timeout=10)
    assert response.status_code < 500, response.text
    assert response.headers.get("x-request-id")
    if response.status_code >= 400:
        body = json.loads(response.content)
        assert set(body["error"]) == {"message", "type", "param", "code"}

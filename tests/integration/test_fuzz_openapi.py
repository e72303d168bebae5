"""Fuzzing the gateway from its own OpenAPI document: no 5xx, no hang, every error an envelope.

Cases come from schemathesis's hypothesis strategies for each operation of
``/openapi.json``, sent to a live gateway on loopback.
"""

from __future__ import annotations

import json

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from gateway.app import create_app
from tests.conftest import MASTER_KEY, make_settings
from tests.fakes.serving import run_server

CONFIG = {
    "providers": {"local": {"type": "mock"}},
    "models": {"demo": {"deployments": [{"provider": "local", "model": "mock-1"}]}},
}
APP = create_app(make_settings(CONFIG))
OPERATIONS = [
    result.ok() for result in schemathesis.openapi.from_dict(APP.openapi()).get_all_operations()
]


@pytest.fixture(scope="module")
def live_gateway():
    with run_server(APP) as server:
        yield server


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
def test_no_input_breaks_the_gateway(operation, live_gateway):
    headers = {"authorization": f"Bearer {MASTER_KEY}"}

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy())
    def check(case) -> None:
        kwargs = case.as_transport_kwargs(base_url=live_gateway.url, headers=headers)
        kwargs.pop("verify", None)
        response = httpx.request(**kwargs, timeout=10)
        assert response.status_code < 500, response.text
        assert response.headers.get("x-request-id")
        if response.status_code >= 400:
            body = json.loads(response.content)
            assert set(body["error"]) == {"message", "type", "param", "code"}

    check()

"""A JSON answer reaches the client before the gateway's bookkeeping runs: the
client waits for its answer, not for metrics, the usage ledger or the access log.
The answer still carries everything its headers promise, its cost included."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.context import RequestContext
from tests.conftest import MASTER_KEY
from tests.fakes.priced_app import priced_chat_app


class Journal:
    """Records, in order, what the client received and when the hooks ran."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.start: dict[str, Any] = {}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.start = message
            self.events.append("headers sent")
        else:
            self.events.append("body sent")

    async def on_request(self, ctx: RequestContext) -> None:
        return None

    def on_response(self, ctx: RequestContext) -> None:
        self.events.append(f"hooks ran ({ctx.cache}, cost {ctx.cost_usd})")


def _scope() -> dict[str, Any]:
    """What uvicorn passes for ``POST /v1/chat/completions``, as far as Arbiter reads it."""
    headers = [(b"authorization", f"Bearer {MASTER_KEY}".encode())]
    return {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": headers}


@pytest.fixture
async def app():
    async with priced_chat_app() as started:
        yield started


async def ask(app, journal: Journal) -> None:
    body = orjson.dumps({"model": "priced", "messages": [{"role": "user", "content": "Capital?"}]})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    await app(_scope(), receive, journal.send)


async def test_the_answer_is_sent_before_the_hooks_run_and_carries_its_cost(app) -> None:
    journal = Journal()
    app.state.hooks.append(journal)

    await ask(app, journal)

    cost = (10 * 1.0 + 2 * 2.0) / 1_000_000
    assert journal.events == ["headers sent", "body sent", f"hooks ran (miss, cost {cost})"]
    headers = dict(journal.start["headers"])
    assert journal.start["status"] == 200
    assert float(headers[b"x-arbiter-cost-usd"]) == pytest.approx(cost)
    assert headers[b"x-arbiter-cache"] == b"miss"


async def test_a_cache_hit_is_sent_before_the_hooks_run_and_costs_nothing(app) -> None:
    await ask(app, Journal())  # stored
    journal = Journal()
    app.state.hooks.append(journal)

    await ask(app, journal)

    assert journal.events == ["headers sent", "body sent", "hooks ran (hit, cost 0.0)"]
    headers = dict(journal.start["headers"])
    assert headers[b"x-arbiter-cache"] == b"hit"
    assert headers[b"x-arbiter-cost-usd"] == b"0.0000000000"

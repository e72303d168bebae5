"""What a client sees of the chat route's fast paths: keys however their header is
written, headers sent more than once, a hit's headers in JSON and in SSE, the hooks
that are and are not called before routing, and a hit's line in the usage ledger."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.context import RequestContext
from tests.conftest import MASTER_KEY
from tests.fakes.priced_app import priced_chat_app

BEARER = (b"authorization", f"Bearer {MASTER_KEY}".encode())


class Reply:
    """What the client got: status, headers in order, body."""

    def __init__(self) -> None:
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = b""

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status, self.headers = message["status"], list(message["headers"])
        else:
            self.body += message.get("body", b"")

    def names(self) -> list[bytes]:
        return [name for name, _ in self.headers]

    def header(self, name: bytes) -> bytes | None:
        return dict(self.headers).get(name)


class Recorder:
    """A hook that notes which of its calls it got, and the task it was told."""

    def __init__(self, acts_on_request: bool = True) -> None:
        self.acts_on_request = acts_on_request
        self.calls: list[str] = []

    async def on_request(self, ctx: RequestContext) -> None:
        self.calls.append(f"request {ctx.task}")

    def on_response(self, ctx: RequestContext) -> None:
        self.calls.append(f"response {ctx.cache}")


@pytest.fixture
async def app():
    async with priced_chat_app() as started:
        yield started


async def ask(
    app: Any, *headers: tuple[bytes, bytes], stream: bool = False, question: str = "Capital?"
) -> Reply:
    request: dict[str, Any] = {
        "model": "priced",
        "messages": [{"role": "user", "content": question}],
    }
    if stream:
        request["stream"] = True
    body = orjson.dumps(request)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "headers": list(headers),
    }
    reply = Reply()
    await app(scope, receive, reply.send)
    return reply


@pytest.mark.parametrize(
    "header",
    [
        BEARER,
        (b"authorization", f"bearer {MASTER_KEY}".encode()),
        (b"authorization", f"Bearer   {MASTER_KEY}  ".encode()),
        (b"api-key", MASTER_KEY.encode()),
    ],
    ids=["Bearer", "lower-case scheme", "padded", "api-key"],
)
async def test_a_key_is_accepted_however_its_header_is_written_every_time(app, header) -> None:
    for _ in range(3):  # the first time, then as a key already seen
        assert (await ask(app, header)).status == 200


async def test_a_wrong_key_is_refused_after_the_right_one_was_accepted(app) -> None:
    assert (await ask(app, BEARER)).status == 200
    wrong = (b"authorization", f"Bearer {MASTER_KEY}x".encode())
    assert (await ask(app, wrong)).status == 401
    assert (await ask(app, (b"authorization", b"Basic " + MASTER_KEY.encode()))).status == 401
    assert (await ask(app)).status == 401
    assert (await ask(app, BEARER)).status == 200


async def test_a_header_sent_twice_counts_with_its_first_value(app) -> None:
    recorder = Recorder()
    app.state.hooks.append(recorder)
    await ask(app, BEARER, (b"x-arbiter-task", b" Math "), (b"x-arbiter-task", b"Poetry"))
    first = await ask(
        app, BEARER, (b"cache-control", b"No-Store"), (b"cache-control", b"max-age=1")
    )
    assert first.header(b"x-arbiter-cache") == b"bypass"
    assert recorder.calls[0] == "request Math"


async def test_a_json_hit_shows_what_answered_then_its_age_and_cost(app) -> None:
    miss = await ask(app, BEARER)
    hit = await ask(app, BEARER)
    assert miss.names() == [
        b"content-type",
        b"content-length",
        b"x-arbiter-model",
        b"x-arbiter-provider",
        b"x-arbiter-attempts",
        b"x-arbiter-cache",
        b"x-arbiter-cost-usd",
        b"x-request-id",
    ]
    assert hit.names() == [*miss.names()[:6], b"age", b"x-arbiter-cost-usd", b"x-request-id"]
    assert [hit.header(name) for name in hit.names()[2:8]] == [
        b"priced",
        b"openai",
        b"0",
        b"hit",
        b"0",
        b"0.0000000000",
    ]
    assert miss.header(b"x-arbiter-attempts") == b"1"
    assert hit.body == miss.body


async def test_a_streamed_hit_sends_the_sse_headers_first_and_replays_the_answer(app) -> None:
    await ask(app, BEARER)
    hit = await ask(app, BEARER, stream=True)
    assert hit.names() == [
        b"content-type",
        b"content-length",
        b"cache-control",
        b"x-accel-buffering",
        b"x-arbiter-model",
        b"x-arbiter-provider",
        b"x-arbiter-attempts",
        b"x-arbiter-cache",
        b"age",
        b"x-request-id",
    ]
    assert hit.header(b"content-type") == b"text/event-stream; charset=utf-8"
    assert hit.header(b"x-arbiter-cache") == b"hit"
    assert b"Paris." in hit.body and hit.body.endswith(b"data: [DONE]\n\n")


async def test_a_hook_may_replace_one_of_the_gateways_headers_in_its_place(app) -> None:
    class Relabel(Recorder):
        async def on_request(self, ctx: RequestContext) -> None:
            ctx.response_headers["x-arbiter-provider"] = "elsewhere"

    app.state.hooks.append(Relabel())
    reply = await ask(app, BEARER)
    assert reply.names()[2:6] == [
        b"x-arbiter-model",
        b"x-arbiter-provider",
        b"x-arbiter-attempts",
        b"x-arbiter-cache",
    ]
    assert reply.header(b"x-arbiter-provider") == b"elsewhere"


async def test_a_hook_that_never_acts_on_requests_still_hears_every_response(app) -> None:
    passive, active = Recorder(acts_on_request=False), Recorder()
    app.state.hooks.append(passive)
    await ask(app, BEARER)
    app.state.hooks.append(active)  # added once requests are being served
    await ask(app, BEARER)
    assert passive.calls == ["response miss", "response hit"]
    assert active.calls == ["request general", "response hit"]


async def test_a_hit_counts_as_a_request_without_tokens_or_cost_in_the_usage(app) -> None:
    await ask(app, BEARER)
    await ask(app, BEARER)
    await ask(app, BEARER, question="Another?")
    [row] = await app.state.ledger.rows(["total"])
    assert (row.key, row.model, row.requests) == ("master", "priced", 3)
    assert (row.prompt_tokens, row.completion_tokens) == (20, 4)
    assert row.cost_usd == pytest.approx(2 * (10 * 1.0 + 2 * 2.0) / 1_000_000)

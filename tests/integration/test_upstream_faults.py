"""An upstream that breaks in any way a network can: the client gets a clean answer.

Each fault comes from a raw TCP upstream (tests/fakes/raw_tcp.py). With a second
deployment behind it, the client never notices: the second one answers. Alone,
the client gets OpenAI's error envelope (502 ``upstream_error`` or 504
``upstream_timeout``); a stream that had already started ends with one error
event and ``data: [DONE]``. Never a hang, never a 500. ``routing.retries`` is 0
so every upstream sees exactly one request per attempt.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.conftest import MASTER_KEY, UPSTREAM_KEY
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.raw_tcp import (
    DONE,
    HOLD,
    Plan,
    RawUpstream,
    json_reply,
    reset,
    silence,
    sse_chunk,
    sse_reply,
)
from tests.fakes.serving import ServerThread

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
TIMEOUT_S = 1.0  # the faulty provider's timeout_s; the healthy one has 5 s
PROMPT = "hello there"

ROLE = sse_chunk("", role=True)
HEL = sse_chunk("Hel")
GARBAGE = b"\x00\x9f\xff\xfe junk \x80\r\n" + b"data: \xff\xfe{{{ not json\n\n"
ERROR_EVENT = (
    b'data: {"error": {"message": "The server is overloaded", "type": "server_error",'
    b' "param": null, "code": null}}\n\n'
)
NAMED_ERROR_EVENT = b'event: error\ndata: {"message": "The server is overloaded"}\n\n'
HTML = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
HALF_EVENT = b'data: {"id": "chatcmpl-raw", "object": "chat.comp'


@dataclass(frozen=True)
class Fault:
    plan: Plan
    status: int  # what a client of a single deployment gets
    code: str


def _bad_gateway(plan: Plan) -> Fault:
    return Fault(plan, 502, "upstream_error")


def _timeout(plan: Plan) -> Fault:
    return Fault(plan, 504, "upstream_timeout")


# Faults before the first byte of an answer reaches the client: failover is still possible.
JSON_FAULTS = {
    "connection reset before any byte": _bad_gateway(reset()),
    "read timeout": _timeout(silence()),
    "malformed JSON with a 200": _bad_gateway(json_reply(b'{"id": "x", "choices": [{"ind')),
    "a 200 with an HTML page": _bad_gateway(json_reply(HTML, content_type="text/html")),
    "body shorter than its content-length": _bad_gateway(
        Plan((json_reply(b'{"id": "x"}').steps[0][:-3],))
    ),
    "slow drip past the timeout": _timeout(
        Plan((json_reply(b'{"id": "x", "choices": []}').steps[0][:-10],), end="hang")
    ),
}
STREAM_FAULTS_BEFORE_START = {
    "connection reset before any byte": _bad_gateway(reset()),
    "headers, then nothing in time": _timeout(sse_reply(finished=False, end="hang")),
    "truncated mid-event, connection dropped": _bad_gateway(sse_reply(HALF_EVENT, finished=False)),
    "truncated mid-event, clean end without [DONE]": _bad_gateway(sse_reply(HALF_EVENT)),
    "garbage bytes": _bad_gateway(sse_reply(GARBAGE, ROLE, HEL, DONE)),
    "an SSE error event": _bad_gateway(sse_reply(ERROR_EVENT)),
    "a named SSE error event": _bad_gateway(sse_reply(NAMED_ERROR_EVENT)),
    "an HTML page instead of a stream": _bad_gateway(json_reply(HTML, content_type="text/html")),
}
# Faults after the role chunk and "Hel" reached the client: the upstream holds there
# until the test has read them, so the fault cannot arrive in the same network read.
STREAM_FAULTS_AFTER_START = {
    "slow drip past the timeout": _timeout(
        sse_reply(ROLE, HEL, HOLD, b'data: {"id"', finished=False, end="hang")
    ),
    "truncated mid-event, connection dropped": _bad_gateway(
        sse_reply(ROLE, HEL, HOLD, HALF_EVENT, finished=False)
    ),
    "truncated mid-event, clean end without [DONE]": _bad_gateway(
        sse_reply(ROLE, HEL, HOLD, HALF_EVENT)
    ),
    "finish chunk but no [DONE]": _bad_gateway(
        sse_reply(ROLE, HEL, HOLD, sse_chunk(finish="stop"))
    ),
    "garbage bytes": _bad_gateway(sse_reply(ROLE, HEL, HOLD, GARBAGE, sse_chunk("lo"), DONE)),
    "an SSE error event": _bad_gateway(sse_reply(ROLE, HEL, HOLD, ERROR_EVENT)),
    "a named SSE error event": _bad_gateway(sse_reply(ROLE, HEL, HOLD, NAMED_ERROR_EVENT)),
}


@pytest.fixture
def raw() -> Iterator[Callable[[Plan], RawUpstream]]:
    """Starts raw TCP upstreams following a plan; stops them all at the end."""
    started: list[RawUpstream] = []

    def start(plan: Plan) -> RawUpstream:
        upstream = RawUpstream(plan).start()
        started.append(upstream)
        return upstream

    yield start
    for upstream in started:
        upstream.stop()


def fault_config(faulty: RawUpstream, healthy: FakeOpenAI | None = None, **timeout: float):
    """Model ``chat``: the faulty deployment first, then (if given) a healthy one."""
    providers: dict[str, Any] = {
        "faulty": {
            "type": "openai",
            "base_url": faulty.url,
            "api_key": UPSTREAM_KEY,
            "timeout_s": timeout.get("timeout_s", TIMEOUT_S),
        }
    }
    deployments = [{"provider": "faulty", "model": "faulty-1"}]
    if healthy is not None:
        providers["openai"] = {
            "type": "openai",
            "base_url": healthy.url,  # type: ignore[attr-defined]
            "api_key": UPSTREAM_KEY,
            "timeout_s": 5,
        }
        deployments.append({"provider": "openai", "model": "gpt-4o-mini"})
    return {
        "providers": providers,
        "models": {"chat": {"deployments": deployments}},
        "routing": {"retries": 0},  # one request per deployment: counts are exact
        "cache": {"enabled": False},
    }


def chat(server: ServerThread, *, stream: bool = False) -> httpx.Response:
    body = {"model": "chat", "stream": stream, "messages": [{"role": "user", "content": PROMPT}]}
    return httpx.post(server.url + "/v1/chat/completions", json=body, headers=AUTH, timeout=15)


def events(response: httpx.Response) -> list[Any]:
    """The stream's data payloads, parsed; ``[DONE]`` kept as the string."""
    found: list[Any] = []
    for line in response.text.splitlines():
        if line.startswith("data: "):
            data = line[len("data: ") :]
            found.append(data if data == "[DONE]" else json.loads(data))
    return found


def streamed_text(payloads: list[Any]) -> str:
    return "".join(
        choice["delta"].get("content") or ""
        for p in payloads
        if isinstance(p, dict)
        for choice in p.get("choices", [])
    )


def assert_envelope(response: httpx.Response, fault: Fault) -> None:
    assert response.status_code == fault.status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert (error["type"], error["code"]) == ("api_error", fault.code)
    assert UPSTREAM_KEY not in response.text and "Traceback" not in response.text


@pytest.mark.parametrize("name", list(JSON_FAULTS))
def test_json_fault_fails_over_to_the_next_deployment(name, gateway, raw, fake_openai):
    faulty = raw(JSON_FAULTS[name].plan)
    server = gateway(fault_config(faulty, fake_openai))
    response = chat(server)
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == PROMPT
    assert response.headers["x-arbiter-provider"] == "openai"
    assert response.headers["x-arbiter-attempts"] == "2"
    assert (faulty.requests, fake_openai.count()) == (1, 1)


@pytest.mark.parametrize("name", list(JSON_FAULTS))
def test_json_fault_on_the_only_deployment_is_a_clean_error(name, gateway, raw):
    fault = JSON_FAULTS[name]
    faulty = raw(fault.plan)
    server = gateway(fault_config(faulty))
    assert_envelope(chat(server), fault)
    assert faulty.requests == 1


@pytest.mark.parametrize("name", list(STREAM_FAULTS_BEFORE_START))
def test_stream_fault_before_the_first_chunk_fails_over(name, gateway, raw, fake_openai):
    faulty = raw(STREAM_FAULTS_BEFORE_START[name].plan)
    server = gateway(fault_config(faulty, fake_openai))
    response = chat(server, stream=True)
    assert response.status_code == 200, response.text
    assert response.headers["x-arbiter-provider"] == "openai"
    payloads = events(response)
    assert payloads[-1] == "[DONE]"
    assert not any("error" in p for p in payloads if isinstance(p, dict))
    assert streamed_text(payloads) == PROMPT
    assert (faulty.requests, fake_openai.count()) == (1, 1)


@pytest.mark.parametrize("name", list(STREAM_FAULTS_BEFORE_START))
def test_stream_fault_before_the_first_chunk_on_the_only_deployment_is_a_clean_error(
    name, gateway, raw
):
    fault = STREAM_FAULTS_BEFORE_START[name]
    faulty = raw(fault.plan)
    server = gateway(fault_config(faulty))
    assert_envelope(chat(server, stream=True), fault)
    assert faulty.requests == 1


@pytest.mark.parametrize("name", list(STREAM_FAULTS_AFTER_START))
def test_stream_fault_after_it_started_ends_with_one_error_event_and_done(
    name, gateway, raw, fake_openai
):
    """Bytes already reached the client, so there is no failover: what was streamed
    stays, then one OpenAI error event, then ``[DONE]``."""
    fault = STREAM_FAULTS_AFTER_START[name]
    faulty = raw(fault.plan)
    server = gateway(fault_config(faulty, fake_openai))
    body = {"model": "chat", "stream": True, "messages": [{"role": "user", "content": PROMPT}]}
    with httpx.stream(
        "POST", server.url + "/v1/chat/completions", json=body, headers=AUTH, timeout=15
    ) as response:
        assert response.status_code == 200
        assert response.headers["x-arbiter-provider"] == "faulty"
        lines = (line for line in response.iter_lines() if line)
        seen: list[str] = []
        for line in lines:  # the role chunk, then "Hel"
            seen.append(line)
            if '"Hel"' in line:
                break
        faulty.release()  # now the upstream breaks
        seen += lines
    payloads = [json.loads(x[6:]) if x != "data: [DONE]" else "[DONE]" for x in seen]
    errors = [p for p in payloads if isinstance(p, dict) and "error" in p]
    assert len(errors) == 1, payloads
    assert payloads[-2:] == [errors[0], "[DONE]"]
    assert (errors[0]["error"]["type"], errors[0]["error"]["code"]) == ("api_error", fault.code)
    assert streamed_text(payloads) == "Hel"
    assert (faulty.requests, fake_openai.count()) == (1, 0)
    assert UPSTREAM_KEY not in "".join(seen)


def test_slow_upstreams_do_not_block_the_event_loop(gateway, raw, fake_openai):
    """Eight requests wait on an upstream that holds its answers: the same gateway
    still answers /health/live and serves another model meanwhile."""
    slow = raw(
        json_reply(b'{"id": "x", "object": "chat.completion", "choices": []}', before=(HOLD,))
    )
    config = fault_config(slow, timeout_s=30)
    config["providers"]["openai"] = {
        "type": "openai",
        "base_url": fake_openai.url,  # type: ignore[attr-defined]
        "api_key": UPSTREAM_KEY,
        "timeout_s": 5,
    }
    config["models"]["other"] = {"deployments": [{"provider": "openai", "model": "gpt-4o-mini"}]}
    server = gateway(config)

    async def scenario() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=server.url, headers=AUTH, timeout=60) as client:
            body = {"model": "chat", "messages": [{"role": "user", "content": PROMPT}]}
            held = [
                asyncio.create_task(client.post("/v1/chat/completions", json=body))
                for _ in range(8)
            ]
            deadline = time.monotonic() + 20
            while slow.requests < 8:  # all eight are waiting on the upstream
                assert time.monotonic() < deadline, f"only {slow.requests} reached the upstream"
                await asyncio.sleep(0.02)
            live = await client.get("/health/live", timeout=10)
            assert live.status_code == 200 and live.json() == {"status": "ok"}
            other = await client.post(
                "/v1/chat/completions",
                json={"model": "other", "messages": [{"role": "user", "content": "meanwhile"}]},
                timeout=10,
            )
            assert other.status_code == 200
            assert other.json()["choices"][0]["message"]["content"] == "meanwhile"
            metrics = (await client.get("/metrics", timeout=10)).text
            assert "arbiter_inflight_requests 8.0" in metrics
            assert all(not task.done() for task in held)
            slow.release()
            return list(await asyncio.gather(*held))

    answers = asyncio.run(scenario())
    assert [a.status_code for a in answers] == [200] * 8
    assert (slow.requests, fake_openai.count()) == (8, 1)

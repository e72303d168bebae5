"""Streams fail over while nothing has reached the client; once bytes are out, a
failure ends the stream with one OpenAI-shaped error event and a clean close."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from tests.conftest import MASTER_KEY, deployments_config, metric_value

PROMPT = "one two three four five"


def sdk(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=MASTER_KEY, max_retries=0)


def stream_text(server) -> str:
    chunks = sdk(server).chat.completions.create(
        model="chat", stream=True, messages=[{"role": "user", "content": PROMPT}]
    )
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


@pytest.fixture
def two(faulty):
    return faulty("a"), faulty("b")


def test_a_stream_whose_first_deployment_fails_comes_whole_from_the_next(gateway, two):
    a, b = two
    server = gateway(deployments_config(a, b, retries=0))
    a.fail_next(1, 500)
    assert stream_text(server) == PROMPT
    assert (a.count, b.count) == (1, 1)


def test_a_stream_whose_connection_is_reset_is_retried_before_any_byte(gateway, two):
    a, b = two
    server = gateway(deployments_config(a, b, retries=1))
    a.reset_next(1)
    assert stream_text(server) == PROMPT
    assert (a.count, b.count) == (2, 0)  # the retry on a worked


def test_a_stream_cut_before_its_first_chunk_fails_over(gateway, two):
    a, b = two
    server = gateway(deployments_config(a, b, retries=0))
    a.cut_next(1, after=0)
    assert stream_text(server) == PROMPT
    assert (a.count, b.count) == (1, 1)


def test_a_stream_cut_mid_way_ends_with_an_error_event_in_the_sdk(gateway, two):
    a, b = two
    server = gateway(deployments_config(a, b, retries=2))
    a.cut_next(1, after=3)  # the role chunk, "one ", "two ", then the connection drops
    received = []
    with pytest.raises(openai.APIError) as failure:
        for chunk in sdk(server).chat.completions.create(
            model="chat", stream=True, messages=[{"role": "user", "content": PROMPT}]
        ):
            received.append(chunk.choices[0].delta.content or "")
    assert "".join(received) == "one two "
    assert failure.value.body["type"] == "api_error"
    assert failure.value.body["code"] == "upstream_error"
    assert (a.count, b.count) == (1, 0)  # bytes were out: no failover, no retry
    assert (
        metric_value(server, "arbiter_requests_total", model="chat", provider="a", status="error")
        == 1
    )


def test_a_stream_cut_mid_way_is_closed_cleanly_on_the_wire(gateway, two):
    a, b = two
    server = gateway(deployments_config(a, b))
    a.cut_next(1, after=2)
    with httpx.stream(
        "POST",
        server.url + "/v1/chat/completions",
        json={"model": "chat", "stream": True, "messages": [{"role": "user", "content": PROMPT}]},
        headers={"authorization": f"Bearer {MASTER_KEY}"},
        timeout=10,
    ) as response:
        assert response.status_code == 200
        events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    errors = [json.loads(e) for e in events[:-1] if "error" in json.loads(e)]
    assert len(errors) == 1 and set(errors[0]["error"]) == {"message", "type", "param", "code"}
    assert [json.loads(e)["choices"][0]["delta"].get("content") for e in events[:2]] == [
        "",
        "one ",
    ]
    assert (a.count, b.count) == (1, 0)

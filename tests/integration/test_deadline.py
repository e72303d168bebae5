"""``routing.timeout_s`` is the most a client waits, whatever the upstream does.

The client below gives up a few seconds after the deadline: if Arbiter did not
keep it, the client's own timeout would fail the test.
"""

from __future__ import annotations

import json

import httpx

from tests.conftest import MASTER_KEY, deployments_config

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
DEADLINE_S = 0.5
CLIENT_PATIENCE_S = DEADLINE_S + 3.0


def ask(server, *, stream: bool = False) -> httpx.Response:
    return httpx.post(
        server.url + "/v1/chat/completions",
        json={"model": "chat", "stream": stream, "messages": [{"role": "user", "content": "hi"}]},
        headers=AUTH,
        timeout=CLIENT_PATIENCE_S,
    )


def test_a_hanging_upstream_gets_a_504_at_the_deadline(gateway, faulty):
    a, b = faulty("a"), faulty("b")
    config = deployments_config(a, b, retries=2, timeout_s=DEADLINE_S)
    config["providers"]["a"]["timeout_s"] = 30  # the provider would wait far longer
    server = gateway(config)
    a.delay_next(1, 10.0)
    response = ask(server)
    assert response.status_code == 504
    assert response.json()["error"]["code"] == "upstream_timeout"
    assert (a.count, b.count) == (1, 0)  # no time left to retry or fail over


def test_a_hanging_stream_gets_a_504_before_its_first_chunk(gateway, faulty):
    a = faulty("a")
    config = deployments_config(a, retries=2, timeout_s=DEADLINE_S)
    config["providers"]["a"]["timeout_s"] = 30
    server = gateway(config)
    a.delay_next(1, 10.0)
    response = ask(server, stream=True)
    assert response.status_code == 504
    assert a.count == 1


def test_a_retry_after_past_the_deadline_is_not_waited_for(gateway, faulty):
    a = faulty("a")
    server = gateway(deployments_config(a, retries=2, timeout_s=DEADLINE_S, backoff_max_s=30))
    a.fail_next(1, 503, retry_after=10)
    response = ask(server)
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "upstream_error"
    assert a.count == 1


def test_backoff_stops_retrying_at_the_deadline(gateway, faulty):
    a = faulty("a")
    server = gateway(
        deployments_config(a, retries=10, timeout_s=DEADLINE_S, backoff_base_s=0.2, backoff_max_s=5)
    )
    a.fail_next(100, 500)
    response = ask(server)
    assert response.status_code == 502
    # Waits of 0.1-0.2 s, then 0.2-0.4 s: no more than three attempts fit in half a
    # second, far from the eleven that routing.retries would allow.
    assert 1 <= a.count <= 3


def test_a_stream_still_running_at_the_deadline_ends_with_a_timeout_event(gateway, faulty):
    a = faulty("a")
    server = gateway(deployments_config(a, retries=2, timeout_s=DEADLINE_S))
    a.chunk_delay_s = 0.2  # seven events: well past the deadline
    with httpx.stream(
        "POST",
        server.url + "/v1/chat/completions",
        json={
            "model": "chat",
            "stream": True,
            "messages": [{"role": "user", "content": "one two three four five"}],
        },
        headers=AUTH,
        timeout=CLIENT_PATIENCE_S,
    ) as response:
        assert response.status_code == 200
        events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    last = json.loads(events[-2])
    assert last["error"]["code"] == "upstream_timeout"
    assert 1 <= len(events) - 2 < 7  # some chunks arrived, not all of them
    assert a.count == 1

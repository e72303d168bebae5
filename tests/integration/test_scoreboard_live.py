"""An operator sends traffic through Arbiter and reads the live scoreboard in /v1/rankings."""

from __future__ import annotations

import time

import httpx

from gateway.app import create_app
from routing.ranking.histogram import bucket_bounds, bucket_of
from tests.conftest import MASTER_KEY, make_settings
from tests.fakes.math_models import math_config, mock_upstream_calls, questions
from tests.fakes.redis_space import REDIS_URL, redis_space
from tests.fakes.serving import ServerThread

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}


def ask(client: httpx.Client, model: str, question: str, **extra) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": question}], **extra}
    response = client.post("/v1/chat/completions", json=body, headers=AUTH)
    assert response.status_code == 200, response.text
    return response


def rankings(client: httpx.Client, **params) -> dict:
    response = client.get("/v1/rankings", params=params, headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()


def row(board: dict, model: str) -> dict:
    return next(r for r in board["models"] if r["model"] == model)


def test_scoreboard_figures_match_the_injected_latency_and_the_counted_requests(gateway):
    arbiter = gateway(math_config(latency_ms={"math-good": 120, "math-cheap": 20}))
    with httpx.Client(base_url=arbiter.url, timeout=30) as client:
        for question, _ in questions(12, seed=1):
            ask(client, "math-good", question)
        for question, _ in questions(20, seed=2):
            ask(client, "math-cheap", question)
        for question, _ in questions(6, seed=3):
            streamed = {"stream": True, "stream_options": {"include_usage": True}}
            with client.stream(
                "POST",
                "/v1/chat/completions",
                json={
                    "model": "math-cheap",
                    "messages": [{"role": "user", "content": question}],
                    **streamed,
                },
                headers=AUTH,
            ) as response:
                assert response.status_code == 200
                response.read()
        board = rankings(client)
    assert mock_upstream_calls(arbiter) == 38
    good, cheap = row(board, "math-good"), row(board, "math-cheap")
    assert good["requests"] == 12 and cheap["requests"] == 26
    assert good["error_rate"] == 0.0 and cheap["error_rate"] == 0.0
    # latency is never below what the mock sleeps, and lands in (or just above) its bucket
    for stats, injected in ((good, 0.120), (cheap, 0.020)):
        lowest = bucket_bounds(bucket_of(injected))[0] * 1000
        assert lowest <= stats["latency_p50_ms"] < 3 * injected * 1000
        assert stats["latency_p50_ms"] <= stats["latency_p95_ms"]
    assert bucket_bounds(bucket_of(0.020))[0] * 1000 <= cheap["ttft_p50_ms"]
    assert good["ttft_p50_ms"] is None  # never streamed
    # cost per million tokens is a blend of the two prices, by the real token mix
    assert 3.0 < good["cost_per_mtok"] < 12.0 and 0.1 < cheap["cost_per_mtok"] < 0.4
    assert good["tokens_per_s"] > 0
    assert set(board) >= {"task", "models", "tasks", "routed"}
    expected = {
        "model",
        "rank",
        "quality",
        "quality_low",
        "quality_high",
        "samples",
        "latency_p50_ms",
        "latency_p95_ms",
        "ttft_p50_ms",
        "tokens_per_s",
        "cost_per_mtok",
        "error_rate",
        "pareto",
    }
    assert expected <= set(good)


def test_a_virtual_key_sees_only_its_models_and_a_bad_task_is_refused(gateway):
    config = math_config()
    config["keys"] = [{"name": "team-a", "key": "sk-team-a-1234", "models": ["math-ok"]}]
    arbiter = gateway(config)
    with httpx.Client(base_url=arbiter.url, timeout=30) as client:
        team = {"authorization": "Bearer sk-team-a-1234"}
        board = client.get("/v1/rankings", headers=team).json()
        assert [r["model"] for r in board["models"]] == ["math-ok"]
        assert board["routed"] == []
        assert client.get("/v1/rankings").status_code == 401
        refused = client.get("/v1/rankings", params={"task": "x" * 65}, headers=team)
        assert refused.status_code == 400
        assert refused.json()["error"]["type"] == "invalid_request_error"
    assert mock_upstream_calls(arbiter) == 0


def _start(config: dict) -> ServerThread:
    return ServerThread(create_app(make_settings(config))).start()


async def test_two_arbiters_with_one_redis_show_one_scoreboard():
    async with redis_space("arbiter-sb") as prefix:
        config = math_config(redis_url=REDIS_URL, key_prefix=prefix, sync_interval_s=0.1)
        first, second = _start(config), _start(config)
        try:
            with (
                httpx.Client(base_url=first.url, timeout=30) as a,
                httpx.Client(base_url=second.url, timeout=30) as b,
            ):
                for question, _ in questions(7, seed=4):
                    ask(a, "math-ok", question)
                for question, _ in questions(5, seed=5):
                    ask(b, "math-ok", question)
                deadline = time.monotonic() + 20
                while True:
                    views = [row(rankings(c), "math-ok")["requests"] for c in (a, b)]
                    if views == [12, 12] or time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
                assert views == [12, 12]
                assert rankings(a)["shared"] and rankings(b)["shared"]
            assert mock_upstream_calls(first) == 7 and mock_upstream_calls(second) == 5
        finally:
            first.stop()
            second.stop()


async def test_feedback_reaches_the_replica_that_did_not_answer():
    async with redis_space("arbiter-fb") as prefix:
        config = math_config(redis_url=REDIS_URL, key_prefix=prefix, sync_interval_s=0.1)
        first, second = _start(config), _start(config)
        try:
            with (
                httpx.Client(base_url=first.url, timeout=30) as a,
                httpx.Client(base_url=second.url, timeout=30) as b,
            ):
                request_id = ask(a, "math-good", "What is 2 + 3?").headers["x-request-id"]
                deadline = time.monotonic() + 20
                while True:  # the answer reaches Redis with the next sync
                    r = b.post("/v1/feedback", json={"request_id": request_id, "score": 1},
                               headers=AUTH)  # fmt: skip
                    if r.status_code != 404 or time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
                assert r.status_code == 204, r.text
                while True:
                    quality = row(rankings(a), "math-good")["quality"]
                    if quality is not None or time.monotonic() > deadline:
                        break
                    time.sleep(0.05)
                assert quality == 1.0 and row(rankings(b), "math-good")["samples"] == 1
            assert mock_upstream_calls(first) == 1 and mock_upstream_calls(second) == 0
        finally:
            first.stop()
            second.stop()


def test_with_redis_down_arbiter_still_serves_and_ranks_from_this_process(gateway):
    arbiter = gateway(math_config(redis_url="redis://127.0.0.1:1/0"))
    with httpx.Client(base_url=arbiter.url, timeout=30) as client:
        for question, _ in questions(3, seed=6):
            ask(client, "math-ok", question)
        board = rankings(client)
    assert not board["shared"]
    assert row(board, "math-ok")["requests"] == 3
    assert mock_upstream_calls(arbiter) == 3

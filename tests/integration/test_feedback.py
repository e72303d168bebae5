"""Users rate answers (scores and pairwise preferences); the leaderboard follows."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import MASTER_KEY
from tests.fakes.math_models import math_config, mock_upstream_calls, questions

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
TEAM = {"authorization": "Bearer sk-team-a-1234"}
OTHER = {"authorization": "Bearer sk-team-b-1234"}


@pytest.fixture
def arbiter(gateway):
    config = math_config()
    config["keys"] = [
        {"name": "team-a", "key": "sk-team-a-1234"},
        {"name": "team-b", "key": "sk-team-b-1234"},
    ]
    return gateway(config)


def ask(client: httpx.Client, model: str, question: str, headers=AUTH, **more) -> str:
    body = {"model": model, "messages": [{"role": "user", "content": question}], **more}
    response = client.post("/v1/chat/completions", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.headers["x-request-id"]


def board(client: httpx.Client, task: str = "general") -> dict:
    body = client.get("/v1/rankings", params={"task": task}, headers=AUTH).json()
    return {r["model"]: r for r in body["models"]} | {"_tasks": body["tasks"]}


def test_scores_turn_into_quality_with_an_interval_per_task(arbiter):
    with httpx.Client(base_url=arbiter.url, timeout=30) as client:
        ids = [ask(client, "math-ok", q, headers=TEAM) for q, _ in questions(10, seed=1)]
        for i, request_id in enumerate(ids):
            score = 1.0 if i < 7 else 0.0
            r = client.post(
                "/v1/feedback", json={"request_id": request_id, "score": score}, headers=TEAM
            )
            assert r.status_code == 204, r.text
        # thumbs up / down are true / false; the task comes from the original request
        math_id = ask(
            client, "math-good", "What is 2 + 2?", headers=TEAM, metadata={"task": "math"}
        )
        thumbs = client.post(
            "/v1/feedback", json={"request_id": math_id, "score": True}, headers=TEAM
        )
        assert thumbs.status_code == 204
        rows = board(client)
        ok = rows["math-ok"]
        assert ok["quality"] == 0.7 and ok["samples"] == 10
        assert ok["quality_low"] < 0.7 < ok["quality_high"]
        assert ok["quality_source"] == "feedback" and ok["rank"] == 1
        assert rows["math-good"]["quality"] is None  # its feedback was for the math task
        assert board(client, "math")["math-good"]["quality"] == 1.0
        assert "math" in rows["_tasks"]
        # rating again replaces the earlier rating instead of adding one
        client.post("/v1/feedback", json={"request_id": ids[-1], "score": 1.0}, headers=TEAM)
        assert board(client)["math-ok"]["quality"] == 0.8
        assert board(client)["math-ok"]["samples"] == 10
    assert mock_upstream_calls(arbiter) == 11


def test_pairwise_preferences_rank_models_by_bradley_terry(arbiter):
    with httpx.Client(base_url=arbiter.url, timeout=30) as client:
        for q, _ in questions(6, seed=2):
            good, cheap = ask(client, "math-good", q), ask(client, "math-cheap", q)
            r = client.post("/v1/feedback", json={"preferred": good, "other": cheap}, headers=AUTH)
            assert r.status_code == 204, r.text
        rows = board(client)
        assert rows["math-good"]["arena_score"] > rows["math-cheap"]["arena_score"]
        assert rows["math-good"]["votes"] == 6
        # no absolute scores: quality is the expected win rate, with its bootstrap interval
        assert rows["math-good"]["quality_source"] == "pairwise"
        assert rows["math-good"]["quality"] > 0.5 > rows["math-cheap"]["quality"]
        assert rows["math-good"]["rank"] == 1
    assert mock_upstream_calls(arbiter) == 12


def test_feedback_that_cannot_count_is_refused_with_the_error_envelope(arbiter):
    with httpx.Client(base_url=arbiter.url, timeout=30) as client:
        mine = ask(client, "math-ok", "What is 3 + 4?", headers=TEAM)
        same_model = ask(client, "math-ok", "What is 5 + 4?", headers=TEAM)
        cases = [
            ({"request_id": "never-seen", "score": 1}, TEAM, 404, "request_not_found"),
            ({"request_id": mine, "score": 1}, OTHER, 403, "model_not_allowed"),
            ({"request_id": mine, "score": 1.5}, TEAM, 400, "invalid_request_error"),
            ({"request_id": mine}, TEAM, 400, "invalid_request_error"),
            ({"preferred": mine, "other": same_model}, TEAM, 400, "invalid_request_error"),
            ({"preferred": mine, "other": mine}, TEAM, 400, "invalid_request_error"),
            (
                {"request_id": mine, "score": 1, "preferred": mine},
                TEAM,
                400,
                "invalid_request_error",
            ),
        ]
        for body, headers, status, code in cases:
            r = client.post("/v1/feedback", json=body, headers=headers)
            assert r.status_code == status, (body, r.text)
            assert r.json()["error"]["code"] == code, body
        assert client.post("/v1/feedback", json={"request_id": mine, "score": 1}).status_code == 401
        # the master key may rate anyone's answer
        r = client.post("/v1/feedback", json={"request_id": mine, "score": 1}, headers=AUTH)
        assert r.status_code == 204
    assert mock_upstream_calls(arbiter) == 2


def test_publishing_eval_results_needs_the_master_key_and_known_models(arbiter):
    results = {"task": "math", "results": [{"model": "math-ok", "score": 80, "samples": 100}]}
    with httpx.Client(base_url=arbiter.url, timeout=30) as client:
        r = client.post("/v1/rankings/quality", json=results, headers=TEAM)
        assert r.status_code == 403 and r.json()["error"]["type"] == "permission_error"
        unknown = {"results": [{"model": "nope", "score": 1, "samples": 2}]}
        r = client.post("/v1/rankings/quality", json=unknown, headers=AUTH)
        assert r.status_code == 404 and r.json()["error"]["param"] == "results.0.model"
        too_many = {"results": [{"model": "math-ok", "score": 3, "samples": 2}]}
        assert client.post("/v1/rankings/quality", json=too_many, headers=AUTH).status_code == 400
        assert client.post("/v1/rankings/quality", json=results, headers=AUTH).status_code == 204
        row = board(client, "math")["math-ok"]
        assert row["quality"] == 0.8 and row["samples"] == 100 and row["quality_source"] == "eval"
    assert mock_upstream_calls(arbiter) == 0

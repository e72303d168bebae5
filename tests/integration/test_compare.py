"""A user compares models side by side with one call, optionally with a judge."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.conftest import MASTER_KEY
from tests.fakes.judge_server import FakeJudge
from tests.fakes.math_models import TRUE_QUALITY, math_config, mock_upstream_calls
from tests.fakes.serving import run_server

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
ORDER = ["math-cheap", "math-good", "math-ok"]


@pytest.fixture(scope="module")
def judge_server():
    judge = FakeJudge()
    with run_server(judge.app) as server:
        yield judge, server


@pytest.fixture
def judge(judge_server):
    fake, server = judge_server
    fake.reset()
    fake.url = server.url + "/v1"
    yield fake
    fake.reset()


def with_judge(config: dict, judge: FakeJudge) -> dict:
    config["providers"]["judging"] = {
        "type": "openai-compatible",
        "base_url": judge.url,
        "timeout_s": 10,
    }
    config["models"]["judge"] = {"deployments": [{"provider": "judging", "model": "judge-1"}]}
    return config


def compare(client: httpx.Client, **body) -> httpx.Response:
    return client.post("/v1/compare", json=body, headers=AUTH)


def test_three_models_answer_side_by_side_concurrently(gateway):
    slow = {name: 400.0 for name in TRUE_QUALITY}  # generous: 1.2 s if asked one after another
    arbiter = gateway(math_config(latency_ms=slow))
    with httpx.Client(base_url=arbiter.url, timeout=30) as client:
        started = time.perf_counter()
        response = compare(
            client, models=ORDER, messages=[{"role": "user", "content": "What is 17 + 25?"}]
        )
        elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.text
    body = response.json()
    answers = body["answers"]
    assert [a["model"] for a in answers] == ORDER
    for answer in answers:
        assert answer["error"] is None
        assert answer["latency_ms"] >= 400
        assert answer["cost_usd"] > 0 and answer["usage"]["completion_tokens"] > 0
        assert answer["content"].strip().lstrip("-").isdigit()
        assert answer["request_id"].startswith(body["id"] + "-")
    assert answers[1]["content"] == "42"  # math-good gets this one right
    # concurrent, not sequential: well under the sum of the three latencies
    assert elapsed < sum(a["latency_ms"] for a in answers) / 1000
    assert body["latency_ms"] < sum(a["latency_ms"] for a in answers)
    assert mock_upstream_calls(arbiter) == 3


def test_compared_answers_count_on_the_scoreboard_and_take_feedback(gateway):
    arbiter = gateway(math_config())
    with httpx.Client(base_url=arbiter.url, timeout=30) as client:
        body = compare(
            client, models=ORDER, messages=[{"role": "user", "content": "What is 3 + 4?"}]
        ).json()
        good = body["answers"][1]["request_id"]
        cheap = body["answers"][0]["request_id"]
        r = client.post("/v1/feedback", json={"preferred": good, "other": cheap}, headers=AUTH)
        assert r.status_code == 204
        rows = {r["model"]: r for r in client.get("/v1/rankings", headers=AUTH).json()["models"]}
    assert all(rows[m]["requests"] == 1 for m in ORDER)
    assert rows["math-good"]["votes"] == 1
    assert mock_upstream_calls(arbiter) == 3


def test_a_judge_picks_winners_with_positions_swapped_and_votes_feed_the_ranking(gateway, judge):
    arbiter = gateway(with_judge(math_config(), judge))
    # A question math-good and math-ok get right and math-cheap gets wrong (per the mocks' seeds).
    messages = [{"role": "user", "content": "What is 10 + 12?"}]
    with httpx.Client(base_url=arbiter.url, timeout=30) as client:
        body = compare(client, models=ORDER, messages=messages, judge="judge").json()
        contents = {a["model"]: a["content"] for a in body["answers"]}
        right = {m for m, c in contents.items() if c == "22"}
        assert right == {"math-good", "math-ok"}
        verdict = body["verdict"]
        assert len(verdict["pairs"]) == 3
        for pair in verdict["pairs"]:
            a_right, b_right = pair["a"] in right, pair["b"] in right
            expected = (
                pair["a"]
                if a_right and not b_right
                else pair["b"]
                if b_right and not a_right
                else None
            )
            assert pair["winner"] == expected, pair
        assert verdict["ranking"][-1] == "math-cheap"
        assert verdict["wins"] == {"math-cheap": 0.0, "math-good": 1.5, "math-ok": 1.5}
        rows = {r["model"]: r for r in client.get("/v1/rankings", headers=AUTH).json()["models"]}
        assert sum(r["votes"] for r in rows.values()) == 6  # three pairs, two models each
    assert len(judge.calls) == 6  # every pair judged twice, positions swapped
    assert mock_upstream_calls(arbiter) == 3


def test_a_position_biased_judge_cancels_out_to_ties(gateway, judge):
    judge.biased = True  # always says the first answer shown is better
    arbiter = gateway(with_judge(math_config(), judge))
    with httpx.Client(base_url=arbiter.url, timeout=30) as client:
        body = compare(
            client,
            models=["math-good", "math-cheap"],
            messages=[{"role": "user", "content": "What is 17 + 25?"}],
            judge="judge",
        ).json()
    pair = body["verdict"]["pairs"][0]
    assert (pair["a_first"], pair["b_first"]) == ("A", "A")
    assert pair["winner"] is None
    assert body["verdict"]["wins"] == {"math-good": 0.5, "math-cheap": 0.5}
    assert len(judge.calls) == 2 and mock_upstream_calls(arbiter) == 2


def test_bad_compare_requests_get_the_error_envelope(gateway):
    config = math_config()
    config["keys"] = [{"name": "team-a", "key": "sk-team-a-1234", "models": ["math-ok"]}]
    arbiter = gateway(config)
    hi = [{"role": "user", "content": "hi"}]
    with httpx.Client(base_url=arbiter.url, timeout=30) as client:
        cases = [
            ({"messages": hi}, AUTH, 400, "models"),
            ({"models": [], "messages": hi}, AUTH, 400, "models"),
            ({"models": ["math-ok"] * 2, "messages": hi}, AUTH, 400, "models"),
            ({"models": ["m"] * 9, "messages": hi}, AUTH, 400, "models"),
            ({"models": ["math-ok", "nope"], "messages": hi}, AUTH, 404, "models.1"),
            ({"models": ["math-ok"], "messages": hi, "judge": "nope"}, AUTH, 404, "judge"),
            ({"models": ["math-ok"], "messages": hi, "stream": True}, AUTH, 400, "stream"),
            ({"models": ["math-ok"]}, AUTH, 400, "messages"),
            (
                {"models": ["math-ok", "math-good"], "messages": hi},
                {"authorization": "Bearer sk-team-a-1234"},
                403,
                "models.1",
            ),
        ]
        for body, headers, status, param in cases:
            r = client.post("/v1/compare", json=body, headers=headers)
            assert r.status_code == status, (body, r.text)
            assert r.json()["error"]["param"] == param, (body, r.text)
        assert client.post("/v1/compare", content=b"{", headers=AUTH).status_code == 400
    assert mock_upstream_calls(arbiter) == 0

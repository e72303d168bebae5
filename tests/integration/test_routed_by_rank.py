"""A team sends `auto` and Arbiter picks, per request, the best model under their constraints."""

from __future__ import annotations

from collections import Counter

import httpx

from tests.conftest import MASTER_KEY
from tests.fakes.math_models import (
    TRUE_QUALITY,
    is_right,
    math_config,
    mock_upstream_calls,
    questions,
)

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
NO_LATENCY = {name: 0.0 for name in TRUE_QUALITY}


def ask(client: httpx.Client, question: str, headers=None, **body) -> httpx.Response:
    payload = {"model": "auto", "messages": [{"role": "user", "content": question}], **body}
    return client.post("/v1/chat/completions", json=payload, headers={**AUTH, **(headers or {})})


def publish(client: httpx.Client, passes: dict[str, int], cases: int = 200) -> None:
    results = [{"model": m, "score": s, "samples": cases} for m, s in passes.items()]
    r = client.post("/v1/rankings/quality", json={"results": results}, headers=AUTH)
    assert r.status_code == 204, r.text


def test_prefer_cost_with_min_quality_routes_to_the_cheapest_model_that_clears_it(gateway):
    arbiter = gateway(math_config(latency_ms=NO_LATENCY))
    with httpx.Client(base_url=arbiter.url, timeout=30) as client:
        publish(client, {"math-good": 190, "math-ok": 160, "math-cheap": 120})
        answered = Counter()
        for question, _ in questions(100, seed=1):
            response = ask(client, question)
            assert response.status_code == 200, response.text
            answered[response.headers["x-arbiter-model"]] += 1
        assert answered["math-ok"] >= 90
        reason = response.headers["x-arbiter-route-reason"]
        assert "cheapest candidate meeting prefer cost, min_quality 0.75" in reason
        # the leaderboard explains the choice
        routed = client.get("/v1/rankings", headers=AUTH).json()["routed"][0]
        assert routed["model"] == "auto" and routed["choice"] == "math-ok"
        why = {c["model"]: c["why_not"] for c in routed["candidates"]}
        assert why["math-cheap"] == ["quality 0.600 < 0.75"] and why["math-ok"] == []
        assert sum(routed["picks"].values()) == 100
    assert mock_upstream_calls(arbiter) == 100


def test_a_request_tightens_the_constraints_with_headers_or_metadata(gateway):
    arbiter = gateway(math_config(latency_ms=NO_LATENCY, auto={"explore": 0.0}))
    with httpx.Client(base_url=arbiter.url, timeout=30) as client:
        publish(client, {"math-good": 190, "math-ok": 160, "math-cheap": 120})
        strict = ask(client, "What is 1 + 1?", headers={"x-arbiter-min-quality": "0.9"})
        assert strict.headers["x-arbiter-model"] == "math-good"
        loose = ask(client, "What is 1 + 2?", headers={"x-arbiter-min-quality": "0.1"})
        assert loose.headers["x-arbiter-model"] == "math-ok"  # never looser than the config
        capped = ask(client, "What is 1 + 3?", metadata={"max_cost_per_mtok": 0.5})
        assert capped.headers["x-arbiter-model"] == "math-good"  # nothing qualifies: best first
        assert capped.headers["x-arbiter-route-reason"].startswith("no candidate meets")
        quality = ask(client, "What is 1 + 4?", headers={"x-arbiter-prefer": "quality"})
        assert quality.headers["x-arbiter-model"] == "math-good"
        bad = ask(client, "What is 1 + 5?", headers={"x-arbiter-max-p95-latency-ms": "fast"})
        assert bad.status_code == 400
        assert bad.json()["error"]["param"] == "x-arbiter-max-p95-latency-ms"
        wrong = ask(client, "What is 1 + 6?", metadata={"prefer": "vibes"})
        assert wrong.status_code == 400 and wrong.json()["error"]["param"] == "metadata.prefer"
        # a plain model's metadata is the client's own business
        plain = {"model": "math-ok", "messages": [{"role": "user", "content": "1+8?"}],
                 "metadata": {"prefer": "vibes"}}  # fmt: skip
        assert client.post("/v1/chat/completions", json=plain, headers=AUTH).status_code == 200
        body = {"model": "auto", "stream": True, "messages": [{"role": "user", "content": "1+7?"}]}
        with client.stream("POST", "/v1/chat/completions", json=body, headers=AUTH) as streamed:
            assert streamed.headers["x-arbiter-model"] == "math-ok"
            assert streamed.headers["x-arbiter-route-reason"].startswith("exploit: math-ok")
            assert streamed.read().endswith(b"data: [DONE]\n\n")
    assert mock_upstream_calls(arbiter) == 6


def test_exploration_measures_every_candidate_then_settles_on_the_right_one(gateway):
    """Cold start: no scores at all. Users rate each answer; after a while Arbiter
    sends at least 90 % of `auto` traffic to the cheapest model that clears 0.75.
    (The dearest model need not be explored: a cheaper one already clears the bar.)"""
    arbiter = gateway(math_config(latency_ms=NO_LATENCY))
    asked = questions(350, seed=3)
    with httpx.Client(base_url=arbiter.url, timeout=30) as client:
        early = Counter()
        for i, (question, truth) in enumerate(asked[:250]):
            response = ask(client, question)
            assert response.status_code == 200
            model = response.headers["x-arbiter-model"]
            if i < 60:
                early[model] += 1
            answer = response.json()["choices"][0]["message"]["content"]
            score = 1.0 if is_right(answer, truth) else 0.0
            feedback = {"request_id": response.headers["x-request-id"], "score": score}
            assert client.post("/v1/feedback", json=feedback, headers=AUTH).status_code == 204
        # the cheap model was tried (and found wanting) before routing settled
        assert early["math-cheap"] >= 5 and early["math-ok"] >= 5
        settled = Counter(ask(client, q).headers["x-arbiter-model"] for q, _ in asked[250:])
        assert settled["math-ok"] >= 90
        rows = {r["model"]: r for r in client.get("/v1/rankings", headers=AUTH).json()["models"]}
        for model in ("math-ok", "math-cheap"):
            assert rows[model]["samples"] >= 5
            assert rows[model]["quality_low"] <= TRUE_QUALITY[model] <= rows[model]["quality_high"]
        assert rows["math-cheap"]["quality_high"] < 0.8
    assert mock_upstream_calls(arbiter) == 350

"""Every request's cost is price x tokens, told in a header, the metrics and the usage API;
usage an upstream leaves out is counted by Arbiter."""

from __future__ import annotations

import json

import httpx
import pytest

from providers.tokens import count_prompt_tokens, count_text_tokens
from providers.types import ChatRequest
from tests.conftest import MASTER_KEY, openai_config
from tests.fakes.openai_server import Reply

KEY = "sk-team-costs-0123456789"


def completion(usage: dict | None) -> Reply:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "x",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Paris is the capital."},
                "finish_reason": "stop",
            }
        ],
    }
    if usage is not None:
        body["usage"] = usage
    return Reply(body=body)


@pytest.fixture
def arbiter(gateway, fake_openai):
    config = openai_config(fake_openai.url, "priced", "listed", "unpriced")
    deployments = {name: m["deployments"][0] for name, m in config["models"].items()}
    deployments["priced"].update(
        input_cost_per_mtok=2.0, output_cost_per_mtok=8.0, cached_input_cost_per_mtok=0.5
    )
    deployments["listed"]["model"] = "gpt-4o-mini"  # no prices: the bundled table's
    deployments["unpriced"]["model"] = "in-house-llm"
    config["keys"] = [{"name": "team", "key": KEY}]
    return gateway(config)


def ask(server, model: str, **extra) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "capital of France?"}]}
    return httpx.post(
        server.url + "/v1/chat/completions",
        headers={"authorization": f"Bearer {KEY}"},
        json={**body, **extra},
        timeout=10,
    )


def usage_of(server) -> dict:
    return httpx.get(
        server.url + "/v1/usage",
        headers={"authorization": f"Bearer {MASTER_KEY}"},
        params={"period": "total"},
        timeout=10,
    ).json()


def test_cost_is_price_times_tokens_with_cached_prompt_tokens_cheaper(arbiter, fake_openai):
    fake_openai.script.append(
        completion(
            {
                "prompt_tokens": 1000,
                "completion_tokens": 500,
                "total_tokens": 1500,
                "prompt_tokens_details": {"cached_tokens": 400},
            }
        )
    )
    answer = ask(arbiter, "priced")
    assert answer.status_code == 200
    expected = (600 * 2.0 + 400 * 0.5 + 500 * 8.0) / 1e6
    assert answer.headers["x-arbiter-cost-usd"] == f"{expected:.10f}" == "0.0054000000"
    assert fake_openai.count() == 1


def test_a_deployment_without_prices_is_priced_from_the_table(arbiter, fake_openai):
    fake_openai.script.append(
        completion({"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500})
    )
    answer = ask(arbiter, "listed")
    assert float(answer.headers["x-arbiter-cost-usd"]) == pytest.approx(
        1000 * 0.15e-6 + 500 * 0.60e-6, abs=1e-12
    )
    assert fake_openai.count() == 1


def test_an_unpriced_model_has_no_cost_but_its_usage_is_recorded(arbiter, fake_openai):
    fake_openai.script.append(
        completion({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15})
    )
    answer = ask(arbiter, "unpriced")
    assert answer.status_code == 200
    assert "x-arbiter-cost-usd" not in answer.headers
    (row,) = usage_of(arbiter)["models"]
    assert (row["model"], row["requests"], row["total_tokens"], row["cost_usd"]) == (
        "unpriced",
        1,
        15,
        0.0,
    )
    assert fake_openai.count() == 1


def test_a_json_answer_without_usage_gets_counted_usage(arbiter, fake_openai):
    fake_openai.script.append(completion(None))
    answer = ask(arbiter, "listed")
    request = ChatRequest(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "capital of France?"}]
    )
    prompt = count_prompt_tokens(request)
    completion_tokens = count_text_tokens("Paris is the capital.", "o200k_base")
    assert answer.json()["usage"] == {
        "prompt_tokens": prompt,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt + completion_tokens,
    }
    assert float(answer.headers["x-arbiter-cost-usd"]) == pytest.approx(
        prompt * 0.15e-6 + completion_tokens * 0.60e-6, abs=1e-12
    )
    assert fake_openai.count() == 1


def _events(response: httpx.Response) -> list[dict]:
    lines = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    assert lines[-1] == "[DONE]"
    return [json.loads(line) for line in lines[:-1]]


@pytest.mark.parametrize("include_usage", [True, False])
def test_a_stream_whose_upstream_omits_usage_is_counted_and_billed(
    arbiter, fake_openai, include_usage
):
    fake_openai.script.append(Reply(chunks=["Paris ", "is ", "the ", "capital."], usage=False))
    extra = {"stream": True, "stream_options": {"include_usage": include_usage}}
    answer = ask(arbiter, "listed", **extra)
    assert answer.status_code == 200
    assert "x-arbiter-cost-usd" not in answer.headers  # headers leave before usage is known
    # Arbiter asked the upstream for usage; this upstream ignores the request.
    assert fake_openai.calls[0].body["stream_options"] == {"include_usage": True}
    request = ChatRequest(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "capital of France?"}]
    )
    prompt = count_prompt_tokens(request)
    completion_tokens = count_text_tokens("Paris is the capital.", "o200k_base")
    usage_chunks = [e for e in _events(answer) if e.get("usage")]
    if include_usage:
        (chunk,) = usage_chunks
        assert chunk["choices"] == []
        assert chunk["usage"] == {
            "prompt_tokens": prompt,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt + completion_tokens,
        }
    else:
        assert usage_chunks == []
    (row,) = usage_of(arbiter)["models"]
    assert (row["prompt_tokens"], row["completion_tokens"]) == (prompt, completion_tokens)
    assert row["cost_usd"] == pytest.approx(
        prompt * 0.15e-6 + completion_tokens * 0.60e-6, abs=1e-12
    )
    assert fake_openai.count() == 1


def test_spend_is_a_metric_per_model_provider_and_key(arbiter, fake_openai):
    for _ in range(2):
        fake_openai.script.append(
            completion({"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500})
        )
        assert ask(arbiter, "priced").status_code == 200
    metrics = httpx.get(arbiter.url + "/metrics", timeout=10).text
    line = next(
        line
        for line in metrics.splitlines()
        if line.startswith("arbiter_cost_usd_total{") and 'model="priced"' in line
    )
    assert 'key="team"' in line and 'provider="openai"' in line
    assert float(line.rsplit(" ", 1)[1]) == pytest.approx(2 * (1000 * 2 + 500 * 8) / 1e6)
    assert KEY not in metrics
    assert fake_openai.count() == 2

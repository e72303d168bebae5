"""An operator scrapes /metrics after a mix of traffic and sees exactly what happened:
answers, streams, an upstream error, a failover to a fallback model, a 4xx."""

from __future__ import annotations

from typing import Any

import httpx

from gateway.metrics import LATENCY_BUCKETS, TTFT_BUCKETS
from tests.conftest import MASTER_KEY, UPSTREAM_KEY, openai_config
from tests.metrics_text import Expected, scrape

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
TEAM_KEY = "sk-team-metrics-5f3a9c"
TIGHT_KEY = "sk-one-a-minute-8e2d71"
PRICES = {"input_cost_per_mtok": 1.0, "output_cost_per_mtok": 2.0}


def mix_config(base_url: str) -> dict[str, Any]:
    config = openai_config(base_url, "gpt-4o-mini")
    deployment = {"provider": "openai", "model": "gpt-4o-mini", **PRICES}
    config["models"] = {
        "gpt-4o-mini": {"deployments": [deployment]},
        "broken": {"deployments": [{"provider": "openai", "model": "error-500"}]},
        "flaky": {
            "deployments": [{"provider": "openai", "model": "error-500"}],
            "fallbacks": ["gpt-4o-mini"],
        },
        "picky": {"deployments": [{"provider": "openai", "model": "bad-request"}]},
    }
    config["routing"] = {"retries": 0}
    config["keys"] = [
        {"name": "team-metrics", "key": TEAM_KEY},
        {"name": "tight", "key": TIGHT_KEY, "rpm": 1},
    ]
    return config


def ask(url: str, model: str, text: str, *, key: str = MASTER_KEY, **extra: Any) -> httpx.Response:
    return httpx.post(
        url + "/v1/chat/completions",
        headers={"authorization": f"Bearer {key}"},
        json={"model": model, "messages": [{"role": "user", "content": text}], **extra},
        timeout=10,
    )


def fake_usage(text: str) -> tuple[int, int]:
    """Prompt and completion tokens the fake upstream reports for an echo of ``text``."""
    return len(text.split()) + 4, len(text.split())


def test_a_mix_of_requests_moves_each_counter_by_exactly_what_happened(gateway, fake_openai):
    server = gateway(mix_config(fake_openai.url))
    url = server.url
    before = scrape(url)
    expected = Expected()
    ok = {"model": "gpt-4o-mini", "provider": "openai"}
    prompt_tokens = completion_tokens = 0

    def answered(text: str, *, key_name: str = "master") -> None:
        nonlocal prompt_tokens, completion_tokens
        prompt, completion = fake_usage(text)
        prompt_tokens += prompt
        completion_tokens += completion
        expected.add("arbiter_requests_total", **ok, status="ok")
        expected.observe("arbiter_request_duration_seconds", **ok)
        expected.add(
            "arbiter_cost_usd_total", (prompt * 1.0 + completion * 2.0) / 1e6, **ok, key=key_name
        )
        expected.add("arbiter_cache_requests_total", result="miss")

    # Three answers, one of them on a virtual key.
    for text in ("hello there", "count these four words", "one"):
        assert ask(url, "gpt-4o-mini", text).status_code == 200
        answered(text)
    assert ask(url, "gpt-4o-mini", "on a team key", key=TEAM_KEY).status_code == 200
    answered("on a team key", key_name="team-metrics")

    # Two streams with usage: each also observes time to first token.
    for text in ("stream me please", "and me"):
        response = ask(
            url, "gpt-4o-mini", text, stream=True, stream_options={"include_usage": True}
        )
        assert response.status_code == 200 and response.text.endswith("data: [DONE]\n\n")
        answered(text)
        expected.observe("arbiter_time_to_first_token_seconds", **ok)

    # An upstream 500 with nowhere to fall back: a 502 for the caller.
    assert ask(url, "broken", "hi").status_code == 502
    expected.add("arbiter_requests_total", model="broken", provider="", status="error")
    expected.add(
        "arbiter_upstream_errors_total", provider="openai", reason="UpstreamUnavailableError"
    )
    expected.add("arbiter_cache_requests_total", result="miss")

    # A failover: the first model's deployment fails, its fallback answers.
    response = ask(url, "flaky", "fall over")
    assert response.status_code == 200
    assert response.headers["x-arbiter-model"] == "gpt-4o-mini"
    assert response.headers["x-arbiter-attempts"] == "2"
    answered("fall over")
    expected.add(
        "arbiter_upstream_errors_total", provider="openai", reason="UpstreamUnavailableError"
    )

    # A 4xx the upstream gives back: the caller's fault, no fallback.
    assert ask(url, "picky", "hi", temperature=1.5).status_code == 400
    expected.add("arbiter_requests_total", model="picky", provider="", status="error")
    expected.add("arbiter_upstream_errors_total", provider="openai", reason="InvalidRequestError")
    expected.add("arbiter_cache_requests_total", result="miss")

    # A key over its rate limit: the first request is answered, the second refused
    # before routing (no upstream call, no cache lookup).
    assert ask(url, "gpt-4o-mini", "just once", key=TIGHT_KEY).status_code == 200
    answered("just once", key_name="tight")
    assert ask(url, "gpt-4o-mini", "again", key=TIGHT_KEY).status_code == 429
    expected.add("arbiter_requests_total", model="gpt-4o-mini", provider="", status="error")

    # Refused before a context: no model label can be trusted, nothing is counted.
    assert ask(url, "gpt-4o-mini", "hi", key="sk-wrong").status_code == 401
    assert ask(url, "no-such-model", "hi").status_code == 404

    expected.add("arbiter_tokens_total", prompt_tokens, **ok, kind="prompt")
    expected.add("arbiter_tokens_total", completion_tokens, **ok, kind="completion")
    after = scrape(url)
    expected.check(before, after)
    # Failed requests leave no empty latency series behind for their model.
    timed = {
        dict(labels)["model"] for labels in after.series("arbiter_request_duration_seconds_count")
    }
    assert timed == {"gpt-4o-mini"}
    assert fake_openai.count() == 4 + 2 + 1 + 2 + 1 + 1
    assert after.value("arbiter_inflight_requests") == 0


def test_histograms_use_buckets_for_llm_latencies(gateway, fake_openai):
    server = gateway(openai_config(fake_openai.url, "gpt-4o-mini"))
    assert ask(server.url, "gpt-4o-mini", "hi", stream=True).status_code == 200
    after = scrape(server.url)
    for name, buckets in (
        ("arbiter_request_duration_seconds_bucket", LATENCY_BUCKETS),
        ("arbiter_time_to_first_token_seconds_bucket", TTFT_BUCKETS),
    ):
        bounds = sorted(float(dict(labels)["le"]) for labels in after.series(name))
        assert bounds == [*map(float, buckets), float("inf")]
    assert LATENCY_BUCKETS[0] == 0.01 and LATENCY_BUCKETS[-1] == 120  # 10 ms to 2 min
    assert fake_openai.count() == 1


def test_every_interface_metric_is_exported(gateway, fake_openai):
    """INTERFACE.md's metric names, with their types, as a scraper sees them."""
    server = gateway(openai_config(fake_openai.url, "gpt-4o-mini"))
    families = scrape(server.url).families
    assert fake_openai.count() == 0
    expected = {
        "arbiter_requests": "counter",
        "arbiter_request_duration_seconds": "histogram",
        "arbiter_time_to_first_token_seconds": "histogram",
        "arbiter_tokens": "counter",
        "arbiter_cost_usd": "counter",
        "arbiter_cache_requests": "counter",
        "arbiter_upstream_errors": "counter",
        "arbiter_retries": "counter",
        "arbiter_fallbacks": "counter",
        "arbiter_deployment_up": "gauge",
        "arbiter_inflight_requests": "gauge",
    }
    assert {name: families.get(name) for name in expected} == expected


def test_labels_hold_names_never_keys_or_prompts(gateway, fake_openai):
    server = gateway(mix_config(fake_openai.url))
    prompt = "my secret plan is bananas-7f2e"
    assert ask(server.url, "gpt-4o-mini", prompt, key=TEAM_KEY).status_code == 200
    assert ask(server.url, "flaky", prompt).status_code == 200
    assert ask(server.url, "picky", prompt).status_code == 400
    assert ask(server.url, f"{prompt}-as-model", prompt).status_code == 404
    text = httpx.get(server.url + "/metrics").text
    for secret in (MASTER_KEY, TEAM_KEY, UPSTREAM_KEY, "bananas-7f2e"):
        assert secret not in text
    labels = {value for (_, series) in scrape(server.url).samples for _, value in series}
    configured = {"gpt-4o-mini", "flaky", "picky", "broken", "openai", "team-metrics", "master"}
    words = {
        "ok",
        "error",
        "prompt",
        "completion",
        "miss",
        "UpstreamUnavailableError",
        "InvalidRequestError",
        "",
    }
    assert labels - configured - words == {le for le in labels if _is_bound(le)}
    assert fake_openai.count() == 1 + 2 + 1


def _is_bound(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True

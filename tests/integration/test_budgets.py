"""A key with a budget is stopped once it has spent it, and the usage API adds up.

Each request below costs the same: the fake upstream reports 6 prompt and 2
completion tokens for "hello there", at $10 / $30 per million tokens:
6 x 10e-6 + 2 x 30e-6 = $0.00012.
"""

from __future__ import annotations

import hashlib

import httpx
import pytest

from tests.conftest import MASTER_KEY, openai_config
from tests.fakes.clock import FakeClock, use_clock
from tests.fakes.redis_namespace import redis_namespace

KEY = "sk-team-budget-0123456789"
DIGEST = hashlib.sha256(KEY.encode()).hexdigest()
COST = 0.00012


def config(fake_openai, budget: float, period: str = "total", **extra):
    config = openai_config(fake_openai.url, "gpt-4o-mini", **extra)
    deployment = config["models"]["gpt-4o-mini"]["deployments"][0]
    deployment.update(input_cost_per_mtok=10.0, output_cost_per_mtok=30.0)
    config["keys"] = [
        # The config holds only the key's digest, not the key.
        {"name": "team", "key_sha256": DIGEST, "budget_usd": budget, "budget_period": period},
        {"name": "other", "key": "sk-other-0123456789"},
    ]
    return config


def ask(server, key: str = KEY) -> httpx.Response:
    return httpx.post(
        server.url + "/v1/chat/completions",
        headers={"authorization": f"Bearer {key}"},
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello there"}]},
        timeout=10,
    )


def admin(server, path: str, key: str = MASTER_KEY) -> httpx.Response:
    return httpx.get(server.url + path, headers={"authorization": f"Bearer {key}"}, timeout=10)


def test_a_tiny_budget_stops_the_key_and_usage_equals_the_sum_of_costs(gateway, fake_openai):
    server = gateway(config(fake_openai, budget=0.0003))
    answers = [ask(server) for _ in range(3)]  # 0, 0.00012, 0.00024 spent before each
    assert [r.status_code for r in answers] == [200, 200, 200]
    costs = [float(r.headers["x-arbiter-cost-usd"]) for r in answers]
    assert costs == [pytest.approx(COST, abs=1e-12)] * 3

    refused = ask(server)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert (error["type"], error["code"]) == ("rate_limit_error", "budget_exceeded")
    assert "team" in error["message"] and "$0.0003" in error["message"]
    assert "retry-after" not in refused.headers  # a total budget never frees up
    assert fake_openai.count() == 3  # checked before the upstream call

    assert ask(server, "sk-other-0123456789").status_code == 200  # other keys go on
    assert fake_openai.count() == 4

    usage = admin(server, "/v1/usage?period=total").json()
    (team,) = [k for k in usage["keys"] if k["key"] == "team"]
    assert team["cost_usd"] == pytest.approx(sum(costs), abs=1e-9)
    assert (team["requests"], team["prompt_tokens"], team["completion_tokens"]) == (3, 18, 6)
    assert team["models"] == [
        {
            "model": "gpt-4o-mini",
            "requests": 3,
            "prompt_tokens": 18,
            "completion_tokens": 6,
            "total_tokens": 24,
            "cost_usd": pytest.approx(sum(costs), abs=1e-9),
        }
    ]
    assert usage["total"]["requests"] == 4
    assert usage["models"][0]["cost_usd"] == pytest.approx(4 * COST, abs=1e-9)

    keys = admin(server, "/v1/keys")
    listed = {k["name"]: k for k in keys.json()["data"]}
    assert listed["team"]["spend_usd"] == pytest.approx(sum(costs), abs=1e-9)
    assert listed["team"]["budget_remaining_usd"] == 0.0
    assert listed["other"]["budget_usd"] is None
    assert KEY not in keys.text and DIGEST not in keys.text and "sk-other" not in keys.text


def test_a_daily_budget_frees_up_at_utc_midnight(gateway, fake_openai):
    server = gateway(config(fake_openai, budget=0.0002, period="1d"))
    clock = FakeClock()  # noon UTC
    use_clock(server.config.app, clock)
    assert [ask(server).status_code for _ in range(3)] == [200, 200, 429]
    refused = ask(server)
    assert refused.headers["retry-after"] == str(12 * 3600)
    clock.advance(12 * 3600)
    assert ask(server).status_code == 200
    assert fake_openai.count() == 3


def test_a_30_day_budget_frees_up_when_old_spend_leaves_the_window(gateway, fake_openai):
    server = gateway(config(fake_openai, budget=0.0003, period="30d"))
    clock = FakeClock()
    use_clock(server.config.app, clock)
    assert [ask(server).status_code for _ in range(2)] == [200, 200]  # day 0: 0.00024
    clock.advance(10 * 86400)
    assert ask(server).status_code == 200  # day 10: 0.00036 in the window
    refused = ask(server)
    assert refused.status_code == 429
    # Day 0's spend leaves the window at midnight starting day 30: 19.5 days from now.
    assert refused.headers["retry-after"] == str(int(19.5 * 86400))
    clock.advance(19.5 * 86400)
    assert ask(server).status_code == 200
    assert fake_openai.count() == 4
    week = admin(server, "/v1/usage?period=7d").json()
    assert week["total"]["requests"] == 1  # only today's
    assert admin(server, "/v1/usage?period=total").json()["total"]["requests"] == 4


def test_spend_survives_a_restart_with_redis(gateway, fake_openai):
    with redis_namespace() as ns:
        first = gateway(config(fake_openai, budget=0.0002, state=ns.state()))
        assert [ask(first).status_code for _ in range(3)] == [200, 200, 429]
        first.stop()
        second = gateway(config(fake_openai, budget=0.0002, state=ns.state()))
        assert ask(second).status_code == 429
        assert fake_openai.count() == 2
        spend = {k["name"]: k["spend_usd"] for k in admin(second, "/v1/keys").json()["data"]}
        assert spend["team"] == pytest.approx(2 * COST, abs=1e-9)
        usage = admin(second, "/v1/usage?key=team").json()
        assert usage["total"]["requests"] == 2
        assert f"{ns.prefix}spend:team:total" in ns.keys()  # under the configured prefix
        second.stop()  # flushes what it recorded before the namespace is cleared


def test_usage_and_keys_are_for_the_master_key_only(gateway, fake_openai):
    server = gateway(config(fake_openai, budget=1.0))
    for path in ("/v1/usage", "/v1/keys"):
        forbidden = admin(server, path, key=KEY)
        assert forbidden.status_code == 403
        assert forbidden.json()["error"]["code"] == "insufficient_permissions"
        assert httpx.get(server.url + path, timeout=10).status_code == 401
    bad = admin(server, "/v1/usage?start=2025-06-10&end=2025-06-01")
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "end"
    assert fake_openai.count() == 0

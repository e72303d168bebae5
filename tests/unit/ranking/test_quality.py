"""Quality from evals and feedback: pass rates with Wilson intervals, per model and task."""

from __future__ import annotations

import random

from providers.base import Target
from providers.types import ChatRequest
from routing.ranking.constraints import RoutingRequest, current_request
from routing.ranking.quality import MeasuredQuality, QualityStore, wilson_interval
from routing.state import SharedState
from tests.fakes.redis_space import REDIS_URL, redis_space


def test_wilson_interval_covers_the_true_rate_about_95_percent_of_the_time():
    rng = random.Random(4)
    covered = 0
    for _ in range(1000):
        passes = sum(rng.random() < 0.8 for _ in range(200))
        low, high = wilson_interval(passes, 200)
        covered += low <= 0.8 <= high
    assert 930 <= covered <= 970
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(10, 10)
    assert high > 0.999999 and 0.65 < low < 0.75  # no zero-width interval at 100 %


async def test_eval_results_replace_and_feedback_accumulates():
    store = QualityStore()
    await store.publish_eval("math", {"good": (190, 200), "ok": (160, 200)})
    await store.publish_eval("math", {"good": (95, 100)})  # a re-run replaces, never adds
    good = store.quality("good", "math")
    assert good.mean == 0.95 and good.samples == 100
    assert good.low < 0.95 < good.high
    assert store.quality("good", "general") is None
    await store.add_feedback("math", ("ok",), 1.0)
    await store.add_feedback("math", ("ok",), 0.0)
    ok = store.quality("ok", "math")
    assert ok.samples == 202 and abs(ok.mean - 161 / 202) < 1e-12
    assert store.sources("ok", "math") == ("eval", "feedback")
    assert store.tasks() == ["math"]


async def test_replicas_share_quality_through_redis():
    async with redis_space("q") as prefix:
        a_state = SharedState.from_url(REDIS_URL, prefix=prefix)
        b_state = SharedState.from_url(REDIS_URL, prefix=prefix)
        a, b = QualityStore(), QualityStore()
        a.attach(a_state)
        b.attach(b_state)
        await a.publish_eval("general", {"m": (8, 10)})
        await b.add_feedback("general", ("m",), 1.0)
        await a.refresh()
        await b.refresh()
        for store in (a, b):
            assert store.quality("m", "general").samples == 11
            assert abs(store.quality("m", "general").mean - 9 / 11) < 1e-12
        await a_state.aclose()
        await b_state.aclose()


async def test_measured_quality_orders_deployments_for_the_quality_strategy():
    def target(n: int, configured: float | None = None) -> Target:
        return Target(id=f"gpt/p{n}/gpt#{n}", model_name="gpt", provider=f"p{n}",
                      provider_type="openai", model="gpt", base_url="http://x",
                      quality=configured)  # fmt: skip

    store = QualityStore()
    source = MeasuredQuality(store, min_samples=10)
    request = ChatRequest(model="gpt", messages=[{"role": "user", "content": "hi"}])
    assert source.quality(target(0, configured=0.7), request) == 0.7  # nothing measured yet
    await store.publish_eval("general", {"gpt": (80, 100)})
    assert source.quality(target(0), request) == 0.8  # the model's score
    for _ in range(10):
        await store.add_feedback("general", ("gpt", "gpt/p1/gpt#1"), 0.0)
    assert source.quality(target(1), request) == 0.0  # its own, once it has enough
    assert source.quality(target(0), request) == 80 / 110
    await store.publish_eval("code", {"gpt": (99, 100)})
    token = current_request.set(RoutingRequest(task="code"))
    try:
        assert source.quality(target(0), request) == 0.99  # the request's task first
    finally:
        current_request.reset(token)
    code = request.model_copy(update={"metadata": {"task": "code"}})
    assert source.quality(target(0), code) == 0.99

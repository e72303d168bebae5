"""A routed model picks per request the best candidate that meets its constraints."""

from __future__ import annotations

import random
from collections import Counter

from providers.base import Target
from providers.types import ChatRequest
from routing.executor import Attempt
from routing.ranking.constraints import Constraints, RoutingRequest, current_request
from routing.ranking.quality import QualityStore
from routing.ranking.scoreboard import Scoreboard
from routing.ranking.selector import CandidateSelector
from routing.routes import ModelRoute, RoutedModel

PRICES = {"good": (3.0, 12.0), "ok": (0.5, 2.0), "cheap": (0.1, 0.4)}
TRUE_QUALITY = {"good": 0.95, "ok": 0.8, "cheap": 0.6}
REQUEST = ChatRequest(model="auto", messages=[{"role": "user", "content": "What is 2 + 2?"}])


def route(name: str, *, live: bool = True, quality: float | None = None) -> ModelRoute:
    inp, out = PRICES.get(name, (1.0, 1.0))
    target = Target(
        id=f"{name}/local/{name}#0",
        model_name=name,
        provider="local",
        provider_type="mock",
        model=name,
        base_url="http://x",
        input_cost_per_mtok=inp,
        output_cost_per_mtok=out,
        quality=quality,
    )
    return ModelRoute(name=name, targets=(target,) if live else ())


def auto(**kwargs) -> RoutedModel:
    kwargs.setdefault("prefer", "cost")
    kwargs.setdefault("min_quality", 0.75)
    return RoutedModel(name="auto", candidates=("good", "ok", "cheap"), **kwargs)


def selector(quality: QualityStore, *, routes=None, board=None, seed=1) -> CandidateSelector:
    routes = routes or {n: route(n) for n in PRICES}
    return CandidateSelector(board or Scoreboard(), quality, routes, rng=random.Random(seed))


async def measured() -> QualityStore:
    store = QualityStore()
    await store.publish_eval("general", {"good": (190, 200), "ok": (160, 200), "cheap": (120, 200)})
    return store


async def test_prefer_cost_routes_to_the_cheapest_model_clearing_min_quality():
    pick = selector(await measured())
    chosen = Counter(pick.pick(auto(), REQUEST)[0] for _ in range(1000))
    assert chosen["ok"] >= 900
    assert list(pick.pick(auto(explore=0.0), REQUEST)) == ["ok", "good", "cheap"]
    decision = pick.last["auto"]
    assert decision.met and not decision.explored
    assert "ok is the cheapest candidate meeting prefer cost, min_quality 0.75" in decision.reason


async def test_other_preferences_and_caps():
    store = await measured()
    pick = selector(store)
    assert pick.decide(auto(prefer="quality"), "general", exploit_only=True).model == "good"
    capped = auto(prefer="quality", max_cost_per_mtok=2.0)
    assert pick.decide(capped, "general", exploit_only=True).model == "ok"
    # "cheapest model within N points of the best quality"
    assert pick.decide(auto(max_quality_gap=0.2), "general", exploit_only=True).model == "ok"
    assert pick.decide(auto(max_quality_gap=0.1), "general", exploit_only=True).model == "good"


async def test_prefer_latency_uses_the_measured_p95():
    board = Scoreboard()
    for name, latency in (("good", 0.05), ("ok", 0.8), ("cheap", 0.01)):
        for _ in range(20):
            board.on_attempt(Attempt(name, route(name).targets[0], stream=False, latency_s=latency))
    await board.sync()
    pick = selector(await measured(), board=board)
    assert pick.decide(auto(prefer="latency"), "general", exploit_only=True).model == "good"
    slow_cap = auto(prefer="cost", max_p95_latency_ms=500)
    assert pick.decide(slow_cap, "general", exploit_only=True).model == "good"


async def test_a_request_may_tighten_the_constraints_but_never_loosen_them():
    pick = selector(await measured())
    config = auto(explore=0.0)
    token = current_request.set(RoutingRequest(constraints=Constraints(min_quality=0.9)))
    try:
        assert pick.pick(config, REQUEST)[0] == "good"
        current_request.set(RoutingRequest(constraints=Constraints(min_quality=0.5)))
        assert pick.pick(config, REQUEST)[0] == "ok"
        context = RoutingRequest(constraints=Constraints(prefer="quality"))
        current_request.set(context)
        assert pick.pick(config, REQUEST)[0] == "good"
        assert context.decision is not None and context.decision.model == "good"
    finally:
        current_request.reset(token)
    metadata = REQUEST.model_copy(update={"metadata": {"max_cost_per_mtok": "0.5"}})
    assert pick.pick(auto(explore=0.0, min_quality=None), metadata)[0] == "cheap"


async def test_when_nothing_qualifies_the_request_is_still_served_best_quality_first():
    pick = selector(await measured())
    decision = pick.decide(auto(min_quality=0.99), "general", exploit_only=True)
    assert not decision.met
    assert decision.order == ("good", "ok", "cheap")
    assert decision.reason.startswith("no candidate meets")


async def test_a_model_without_a_live_deployment_goes_last():
    routes = {n: route(n) for n in PRICES}
    routes["ok"] = route("ok", live=False)
    pick = selector(await measured(), routes=routes)
    assert pick.decide(auto(), "general", exploit_only=True).order == ("good", "cheap", "ok")


async def test_task_scores_first_then_general_then_the_configured_quality():
    store = await measured()
    await store.publish_eval("code", {"cheap": (95, 100), "ok": (10, 100)})
    pick = selector(store)
    assert pick.decide(auto(), "code", exploit_only=True).model == "cheap"
    assert pick.decide(auto(), "poetry", exploit_only=True).model == "ok"  # general scores
    routes = {n: route(n, quality=TRUE_QUALITY[n]) for n in PRICES}
    cold = selector(QualityStore(), routes=routes)
    assert cold.decide(auto(), "general", exploit_only=True).model == "ok"


async def test_thompson_sampling_explores_then_settles_on_the_cheapest_good_enough_model():
    """Cold start, no scores: feedback on each answer teaches the router."""
    store = QualityStore()
    pick = selector(store, seed=11)
    world = random.Random(5)
    config = auto()
    first = Counter()
    for i in range(600):
        model = pick.pick(config, REQUEST)[0]
        if i < 100:
            first[model] += 1
        score = 1.0 if world.random() < TRUE_QUALITY[model] else 0.0
        await store.add_feedback("general", (model,), score)
    assert len(first) == 3  # early on, every candidate gets measured
    settled = Counter(pick.pick(config, REQUEST)[0] for _ in range(300))
    assert settled["ok"] >= 0.9 * 300
    for model in TRUE_QUALITY:
        assert store.quality(model, "general").samples >= 5

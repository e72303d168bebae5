"""Each strategy orders a model's deployments the way its name promises."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

from providers.base import Target
from providers.types import ChatRequest
from routing.routes import ModelRoute
from routing.strategies import (
    RequestFacts,
    StrategyOrder,
    build_strategies,
    by_cost,
    by_latency,
    by_least_busy,
    by_quality,
    by_weight,
    expected_cost,
)


def target(name: str, **fields) -> Target:
    return Target(
        id=f"m/{name}",
        model_name="m",
        provider=name,
        provider_type="mock",
        model=name,
        base_url="",
        **fields,
    )


@dataclass
class Measured:
    """Stats as strategies read them, set by hand."""

    latencies: dict[str, float] = field(default_factory=dict)
    ttfts: dict[str, float] = field(default_factory=dict)
    busy: dict[str, int] = field(default_factory=dict)
    completion: float | None = None

    def latency(self, target_id: str) -> float:
        return self.latencies.get(target_id, 0.0)

    def ttft(self, target_id: str) -> float:
        return self.ttfts.get(target_id, self.latency(target_id))

    def inflight(self, target_id: str) -> int:
        return self.busy.get(target_id, 0)

    def expected_completion(self, model: str) -> float | None:
        return self.completion


def facts(text: str = "hi", **fields) -> RequestFacts:
    return RequestFacts(
        ChatRequest(model="m", messages=[{"role": "user", "content": text}], **fields)
    )


def names(targets) -> list[str]:
    return [t.provider for t in targets]


# -- cost ----------------------------------------------------------------------

CHEAP_OUTPUT = target("cheap-output", input_cost_per_mtok=3.0, output_cost_per_mtok=1.0)
CHEAP_INPUT = target("cheap-input", input_cost_per_mtok=0.5, output_cost_per_mtok=8.0)


def test_cost_picks_the_deployment_cheapest_for_this_request():
    candidates = [CHEAP_INPUT, CHEAP_OUTPUT]
    long_answer = facts("short question", max_tokens=2000)
    assert names(by_cost(long_answer, candidates, Measured())) == ["cheap-output", "cheap-input"]
    long_prompt = facts("word " * 3000, max_tokens=5)
    assert names(by_cost(long_prompt, candidates, Measured())) == ["cheap-input", "cheap-output"]


def test_cost_counts_prompt_tokens_with_tiktoken_and_max_tokens_for_the_answer():
    request = facts("hello there", max_completion_tokens=100)
    cost = expected_cost(request, CHEAP_OUTPUT, Measured())
    assert request.prompt_tokens == 9  # 3 priming + 3 framing + "user" (1) + "hello there" (2)
    assert cost == (9 * 3.0 + 100 * 1.0) / 1e6


def test_cost_without_max_tokens_uses_the_models_running_average():
    request = facts("word " * 300)
    short_answers = Measured(completion=1)
    long_answers = Measured(completion=5000)
    assert names(by_cost(request, [CHEAP_OUTPUT, CHEAP_INPUT], short_answers))[0] == "cheap-input"
    assert names(by_cost(request, [CHEAP_INPUT, CHEAP_OUTPUT], long_answers))[0] == "cheap-output"


def test_cost_ties_go_to_the_faster_deployment_and_unpriced_ones_go_last():
    slow = target("slow", input_cost_per_mtok=1.0, output_cost_per_mtok=1.0)
    fast = target("fast", input_cost_per_mtok=1.0, output_cost_per_mtok=1.0)
    unpriced = target("unpriced")
    stats = Measured(latencies={"m/slow": 2.0, "m/fast": 0.2})
    assert names(by_cost(facts(), [unpriced, slow, fast], stats)) == ["fast", "slow", "unpriced"]


# -- latency -------------------------------------------------------------------


def test_latency_prefers_the_fastest_and_weighs_requests_in_flight():
    a, b, c = target("a"), target("b"), target("c")
    stats = Measured(latencies={"m/a": 0.3, "m/b": 0.1, "m/c": 0.2})
    assert names(by_latency(facts(), [a, b, c], stats)) == ["b", "c", "a"]
    stats.busy = {"m/b": 3}  # 0.1 * (3 + 1) = 0.4
    assert names(by_latency(facts(), [a, b, c], stats)) == ["c", "a", "b"]


def test_latency_of_a_stream_is_its_time_to_first_token():
    a, b = target("a"), target("b")
    stats = Measured(latencies={"m/a": 1.0, "m/b": 2.0}, ttfts={"m/a": 0.5, "m/b": 0.1})
    assert names(by_latency(facts(), [a, b], stats)) == ["a", "b"]
    assert names(by_latency(facts(stream=True), [a, b], stats)) == ["b", "a"]


def test_latency_tries_an_unmeasured_deployment_first():
    known, new = target("known"), target("new")
    stats = Measured(latencies={"m/known": 0.05})
    assert names(by_latency(facts(), [known, new], stats)) == ["new", "known"]


# -- weighted ------------------------------------------------------------------


def test_weighted_picks_are_exact_for_a_seeded_random_source():
    heavy, light = target("heavy", weight=3.0), target("light", weight=1.0)
    rng = random.Random(1)
    firsts = [by_weight(facts(), [heavy, light], Measured(), rng=rng)[0].provider for _ in range(8)]
    expected_rng = random.Random(1)
    expected = ["heavy" if expected_rng.random() * 4.0 < 3.0 else "light" for _ in range(8)]
    assert firsts == expected
    assert firsts == ["heavy", "light", "light", "heavy", "heavy", "heavy", "heavy", "light"]


def test_weighted_splits_traffic_by_weight_and_keeps_everyone_as_failover():
    a, b, c = target("a", weight=6.0), target("b", weight=3.0), target("c", weight=1.0)
    rng = random.Random(1)
    orders = [by_weight(facts(), [a, b, c], Measured(), rng=rng) for _ in range(10000)]
    share = Counter(order[0].provider for order in orders)
    assert abs(share["a"] / 10000 - 0.6) < 0.02
    assert abs(share["b"] / 10000 - 0.3) < 0.02
    assert abs(share["c"] / 10000 - 0.1) < 0.02
    assert all(sorted(names(order)) == ["a", "b", "c"] for order in orders)


# -- least busy, quality, the table --------------------------------------------


def test_least_busy_prefers_the_fewest_requests_in_flight():
    a, b, c = target("a"), target("b"), target("c")
    stats = Measured(busy={"m/a": 4, "m/b": 1, "m/c": 2})
    assert names(by_least_busy(facts(), [a, b, c], stats)) == ["b", "c", "a"]


def test_quality_prefers_the_best_configured_score_and_unscored_go_last():
    good, ok, unknown = target("good", quality=0.9), target("ok", quality=0.7), target("unknown")
    source = build_strategies()["quality"]
    assert names(source(facts(), [unknown, ok, good], Measured())) == ["good", "ok", "unknown"]


def test_quality_reads_scores_from_any_quality_source():
    class Measurements:
        def quality(self, target: Target, request: ChatRequest) -> float | None:
            return {"a": 0.2, "b": 0.8}[target.provider]

    a, b = target("a", quality=0.9), target("b", quality=0.1)
    ordered = by_quality(facts(), [a, b], Measured(), source=Measurements())
    assert names(ordered) == ["b", "a"]


def test_each_model_is_ordered_by_its_own_strategy():
    a = target("a", input_cost_per_mtok=2.0, output_cost_per_mtok=2.0)
    b = target("b", input_cost_per_mtok=1.0, output_cost_per_mtok=1.0)
    order = StrategyOrder(Measured(), build_strategies(rng=random.Random(0)))
    request = facts().request
    assert names(order(ModelRoute("m", (a, b), strategy="cost"), request)) == ["b", "a"]
    assert names(order(ModelRoute("m", (a, b), strategy="priority"), request)) == ["a", "b"]

"""Latency memory: bad news at once, good news gradually, fading while unmeasured;
and the latency strategy built on it, simulated on a clock the test controls."""

from __future__ import annotations

import math

import pytest

from providers.base import Target
from providers.types import ChatRequest
from routing.stats import DeploymentStats, RemoteReport
from routing.strategies import RequestFacts, by_latency


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_a_slow_sample_counts_at_once_and_fast_ones_bring_it_down_gradually(clock):
    stats = DeploymentStats(decay_s=10.0, clock=clock)
    assert stats.latency("a") == 0.0  # never measured: worth a try
    stats.observe_latency("a", 0.1)
    stats.observe_latency("a", 2.0)
    assert stats.latency("a") == 2.0
    stats.observe_latency("a", 0.1)
    assert stats.latency("a") == pytest.approx(1.05)  # half-way down
    stats.observe_latency("a", 0.1)
    assert stats.latency("a") == pytest.approx(0.575)


def test_an_unmeasured_deployment_fades_so_it_gets_probed_again(clock):
    stats = DeploymentStats(decay_s=10.0, clock=clock)
    stats.observe_latency("a", 1.0)
    clock.now += 10.0
    assert stats.latency("a") == pytest.approx(math.exp(-1))
    clock.now += 1000.0
    assert stats.latency("a") < 1e-9


def test_ttft_falls_back_to_latency_until_a_stream_is_measured(clock):
    stats = DeploymentStats(clock=clock)
    stats.observe_latency("a", 0.8)
    assert stats.ttft("a") == 0.8
    stats.observe_ttft("a", 0.2)
    assert stats.ttft("a") == 0.2


def test_in_flight_counts_this_process_and_what_others_reported(clock):
    stats = DeploymentStats(clock=clock)
    stats.begin("a")
    stats.begin("a")
    stats.end("a")
    assert stats.inflight("a") == 1
    stats.merge_remote({"a": [RemoteReport(0.5, clock.now, 0.0, 0.0, 4)]})
    assert stats.inflight("a") == 5
    assert stats.latency("a") == 0.5  # another worker measured it


def test_the_highest_estimate_of_any_process_wins(clock):
    stats = DeploymentStats(decay_s=10.0, clock=clock)
    stats.observe_latency("a", 0.1)
    stats.merge_remote(
        {
            "a": [
                RemoteReport(0.3, clock.now, 0.0, 0.0, 0),
                RemoteReport(2.0, clock.now - 10, 0, 0, 0),
            ]
        }
    )
    assert stats.latency("a") == pytest.approx(max(0.3, 2.0 * math.exp(-1)))
    report = stats.report(["a", "b"])
    assert set(report) == {"a"} and report["a"].latency == 0.1


def test_running_average_of_completion_tokens_per_model(clock):
    stats = DeploymentStats(clock=clock)
    assert stats.expected_completion("m") is None
    stats.observe_completion("m", 100)
    stats.observe_completion("m", 200)
    assert stats.expected_completion("m") == pytest.approx(110.0)


# -- the latency strategy over time ---------------------------------------------


def target(name: str) -> Target:
    return Target(
        id=name, model_name="m", provider=name, provider_type="mock", model=name, base_url=""
    )


def route(stats: DeploymentStats, clock: Clock, latency: dict[str, float], n: int) -> list[str]:
    """Send ``n`` requests one after another; each takes its deployment's latency."""
    request = RequestFacts(ChatRequest(model="m", messages=[{"role": "user", "content": "x"}]))
    candidates = [target("slow"), target("fast")]
    picks = []
    for _ in range(n):
        chosen = by_latency(request, candidates, stats)[0].id
        clock.now += latency[chosen]
        stats.observe_latency(chosen, latency[chosen])
        picks.append(chosen)
    return picks


def test_latency_moves_traffic_off_a_slow_deployment_and_back_once_it_recovers(clock):
    stats = DeploymentStats(decay_s=2.0, clock=clock)
    slow, recovered = {"slow": 0.305, "fast": 0.005}, {"slow": 0.005, "fast": 0.005}
    assert route(stats, clock, slow, 20).count("fast") >= 16  # >= 80 % within 20 requests
    # 30 s of traffic: the slow one is probed every decay_s * ln(0.305 / 0.005) = 8.2 s.
    assert route(stats, clock, slow, 6000).count("slow") == 3
    picks = route(stats, clock, recovered, 4000)
    found = picks.index("slow")
    assert found * 0.005 < 8.3  # found again at its next probe
    assert picks[found:].count("slow") / len(picks[found:]) == pytest.approx(0.5, abs=0.01)

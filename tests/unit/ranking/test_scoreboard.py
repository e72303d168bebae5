"""The scoreboard after a scripted load: counts exact, quantiles to the bucket, costs exact."""

from __future__ import annotations

from providers.base import Target
from providers.errors import UpstreamUnavailableError
from routing.executor import Attempt
from routing.ranking.histogram import bucket_of
from routing.ranking.scoreboard import Scoreboard
from routing.state import SharedState
from tests.fakes.redis_space import REDIS_URL, redis_space


def target(model: str, n: int = 0, inp: float | None = 1.0, out: float | None = 3.0) -> Target:
    return Target(
        id=f"{model}/local/up-{model}#{n}",
        model_name=model,
        provider="local",
        provider_type="mock",
        model=f"up-{model}",
        base_url="http://x",
        input_cost_per_mtok=inp,
        output_cost_per_mtok=out,
    )


def ok(
    model: str,
    latency: float,
    *,
    dep: int = 0,
    ttft: float | None = None,
    prompt: int = 100,
    completion: int = 50,
) -> Attempt:
    usage = {"prompt_tokens": prompt, "completion_tokens": completion}
    return Attempt(
        model,
        target(model, dep),
        stream=ttft is not None,
        latency_s=latency,
        ttft_s=ttft,
        usage=usage,
    )


def failed(model: str) -> Attempt:
    return Attempt(
        model, target(model), stream=False, latency_s=0.01, error=UpstreamUnavailableError("boom")
    )


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_figures_after_a_scripted_load():
    board = Scoreboard(window_s=600, slice_s=60, clock=Clock())
    for _ in range(90):
        board.on_attempt(ok("fast", 0.040))
    for _ in range(10):
        board.on_attempt(ok("fast", 0.400, dep=1))
    for _ in range(5):
        board.on_attempt(failed("fast"))
    await board.sync()

    stats = board.model("fast")
    assert stats.requests == 105 and stats.errors == 5
    assert stats.success_rate == 100 / 105
    assert bucket_of(stats.latency_p50_s) == bucket_of(0.040)
    assert bucket_of(stats.latency_p95_s) == bucket_of(0.400)
    # 100 successes x (100 prompt + 50 completion) tokens at $1 / $3 per Mtok
    assert abs(stats.cost_per_request_usd - (100 * 1 + 50 * 3) / 1e6) < 1e-12
    assert abs(stats.cost_per_mtok - (100 * 1 + 50 * 3) / 150) < 1e-9
    assert abs(stats.tokens_per_s - 100 * 50 / (90 * 0.040 + 10 * 0.400)) < 1e-6
    deployments = board.deployments()
    assert deployments["fast/local/up-fast#0"].requests == 95
    assert deployments["fast/local/up-fast#1"].requests == 10
    assert bucket_of(deployments["fast/local/up-fast#1"].latency_p50_s) == bucket_of(0.4)


async def test_time_to_first_token_and_generation_speed_of_streams():
    board = Scoreboard(clock=Clock())
    for _ in range(20):
        board.on_attempt(ok("streamer", 1.0, ttft=0.2, completion=80))
    await board.sync()
    stats = board.model("streamer")
    assert bucket_of(stats.ttft_p50_s) == bucket_of(0.2)
    assert abs(stats.tokens_per_s - 80 / 0.8) < 1e-6  # tokens over the time after the first one


async def test_unpriced_models_have_no_cost_and_the_window_slides():
    clock = Clock()
    board = Scoreboard(window_s=300, slice_s=60, clock=clock)
    free = Attempt(
        "free",
        target("free", inp=None, out=None),
        stream=False,
        latency_s=0.1,
        usage={"prompt_tokens": 5, "completion_tokens": 5},
    )
    board.on_attempt(free)
    await board.sync()
    assert board.model("free").cost_per_mtok is None
    clock.now += 200
    board.on_attempt(ok("free", 0.1))
    await board.sync()
    assert board.model("free").requests == 2
    clock.now += 200  # the first request has left the five-minute window
    await board.sync()
    assert board.model("free").requests == 1
    clock.now += 400
    await board.sync()
    assert board.model("free") is None


async def test_two_processes_with_one_redis_show_one_scoreboard():
    async with redis_space("sb") as prefix:
        boards, states = [], []
        for _ in range(2):
            state = SharedState.from_url(REDIS_URL, prefix=prefix)
            board = Scoreboard(clock=Clock())
            board.attach(state)
            boards.append(board)
            states.append(state)
        for _ in range(30):
            boards[0].on_attempt(ok("m", 0.05))
        for _ in range(12):
            boards[1].on_attempt(ok("m", 0.05))
        boards[1].on_attempt(failed("m"))
        await boards[0].sync()
        await boards[1].sync()
        await boards[0].sync()  # reads what the second one flushed
        for board in boards:
            assert board.shared
            stats = board.model("m")
            assert (stats.requests, stats.errors) == (43, 1)
            assert bucket_of(stats.latency_p50_s) == bucket_of(0.05)
        boards[0].on_attempt(ok("m", 0.05))
        await boards[0].sync()
        assert boards[0].model("m").requests == 44  # counted once, not again at the next sync
        await boards[0].sync()
        assert boards[0].model("m").requests == 44
        for state in states:
            await state.aclose()


async def test_redis_down_falls_back_to_this_process_and_keeps_the_tallies():
    errors: list[str] = []
    state = SharedState.from_url("redis://127.0.0.1:1/0", on_error=errors.append)
    board = Scoreboard(clock=Clock())
    board.attach(state)
    for _ in range(3):
        board.on_attempt(ok("m", 0.05))
    await board.sync()
    assert not board.shared
    assert board.model("m").requests == 3
    assert errors  # counted as a shared-state failure
    await state.aclose()

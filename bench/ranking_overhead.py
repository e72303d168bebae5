"""What ranking adds to each request, and what one background sync costs.

    PYTHONPATH=. python bench/ranking_overhead.py

Times, in-process and without the network, the per-request work ranking puts
on the hot path: the request hook (constraints, routing context), the routed
model's pick, the scoreboard's record of the attempt and the hook's response
bookkeeping; then one ``sync`` of a scoreboard holding a busy minute.
"""

from __future__ import annotations

import asyncio
import time

from gateway.auth import Caller
from gateway.context import RequestContext
from gateway.ranking import RankingHook
from providers.base import Target
from providers.types import ChatRequest
from routing.executor import Attempt
from routing.ranking import RankingService
from routing.routes import ModelRoute, RoutedModel

N = 20_000


def routes(models: int) -> dict[str, ModelRoute]:
    out = {}
    for i in range(models):
        name = f"model-{i}"
        target = Target(
            id=f"{name}/p/{name}#0",
            model_name=name,
            provider="p",
            provider_type="mock",
            model=name,
            base_url="http://x",
            input_cost_per_mtok=1.0 + i,
            output_cost_per_mtok=2.0 + i,
        )
        out[name] = ModelRoute(name=name, targets=(target,))
    return out


async def main() -> None:
    table = routes(20)
    auto = RoutedModel("auto", tuple(list(table)[:5]), prefer="cost", min_quality=0.7)
    service = RankingService(table, {"auto": auto}, seed=1)
    await service.quality.publish_eval("general", {m: (80, 100) for m in table})
    hook = RankingHook(service, table)
    chat = ChatRequest(model="auto", messages=[{"role": "user", "content": "hi"}])
    caller = Caller(name="team", models=None)
    plain_headers = {"content-type": "application/json"}
    headers = {**plain_headers, "x-arbiter-min-quality": "0.75"}
    usage = {"prompt_tokens": 20, "completion_tokens": 30}
    target = table["model-1"].targets[0]
    attempt = Attempt("model-1", target, False, 0.05, None, None, usage)
    plain = ChatRequest(model="model-1", messages=[{"role": "user", "content": "hi"}])

    async def served(model: str, request: ChatRequest, pick: bool) -> None:
        ctx = RequestContext("r", caller, request, headers=headers if pick else plain_headers)
        await hook.on_request(ctx)
        if pick:
            service.selector.pick(auto, request)
        service.scoreboard.on_attempt(attempt)
        ctx.model, ctx.provider, ctx.upstream_model, ctx.usage = model, "p", model, usage
        hook.on_response(ctx)

    for label, model, request, pick in (
        ("plain model (hook, record, remember)", "model-1", plain, False),
        ("routed model with a constraint header (the same, plus the pick)", "model-1", chat, True),
    ):
        started = time.perf_counter()
        for _ in range(N):
            await served(model, request, pick)
        per_request = (time.perf_counter() - started) / N * 1e6
        print(f"{label}: {per_request:.1f} µs per request")
    started = time.perf_counter()
    for _ in range(N):
        service.selector.pick(auto, chat)
    print(f"  of which the pick: {(time.perf_counter() - started) / N * 1e6:.1f} µs")
    for i in range(60_000):  # a busy minute over every model
        name = f"model-{i % 20}"
        target = table[name].targets[0]
        service.scoreboard.on_attempt(
            Attempt(name, target, False, 0.01 * (i % 97), None, None, usage)
        )
    started = time.perf_counter()
    await service.sync()
    print(f"one sync (local state, 40 entries): {(time.perf_counter() - started) * 1e3:.1f} ms")


if __name__ == "__main__":
    asyncio.run(main())

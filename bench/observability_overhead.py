"""What metrics, the access log and tracing add to one request.

    python bench/observability_overhead.py [-n 20000]

Times, per finished request, the ``on_response`` of: the metrics hook; the access
log hook with its JSON line formatted and queued to the background writer (the
writer thread writes to /dev/null); the same with ``log_bodies``; the tracing hook
with two attempt spans and no exporter; and one /metrics render. Single process,
no network.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time
from collections.abc import Callable

from gateway.access_log import AccessLogHook
from gateway.auth import Caller
from gateway.context import RequestContext
from gateway.logging_setup import BackgroundStreamHandler, JsonFormatter
from gateway.metrics import Metrics, MetricsHook
from providers.types import ChatRequest

CHAT = ChatRequest.model_validate(
    {"model": "demo", "messages": [{"role": "user", "content": "How far is the moon?"}]}
)
USAGE = {"prompt_tokens": 14, "completion_tokens": 40, "total_tokens": 54}


def _context() -> RequestContext:
    ctx = RequestContext("0123456789abcdef", Caller(name="team-a", models=None), CHAT)
    ctx.model, ctx.provider, ctx.upstream_model, ctx.attempts = "demo", "local", "mock-1", 1
    ctx.latency_s, ctx.usage, ctx.cost_usd = 0.25, USAGE, 0.000123
    ctx.response = {"choices": [{"message": {"content": "About 384,400 km."}}]}
    return ctx


def _per_call_us(run: Callable[[], object], n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        run()
    return (time.perf_counter() - started) / n * 1e6


def _tracing_us(ctx: RequestContext, n: int) -> float | None:
    """A request span and two attempt spans (one failed), no exporter."""
    try:
        from gateway.config import TracingSettings
        from gateway.tracing import TracingHook, build_provider
    except RuntimeError:  # the otel extra is not installed
        return None
    from providers.base import Target
    from providers.errors import UpstreamUnavailableError
    from routing.executor import Attempt

    hook = TracingHook(build_provider(TracingSettings(enabled=True, exporter="none")))
    target = Target("demo/local/mock-1#0", "demo", "local", "mock", "mock-1", "http://mock/v1")
    failed = Attempt("demo", target, stream=False, latency_s=0.1)
    failed.error = UpstreamUnavailableError("upstream said 500", provider="local")
    answered = Attempt("demo", target, stream=False, latency_s=0.15, usage=USAGE)

    async def run() -> float:
        started = time.perf_counter()
        for _ in range(n):
            await hook.on_request(ctx)
            hook.on_attempt(failed)
            hook.on_attempt(answered)
            hook.on_response(ctx)
        return (time.perf_counter() - started) / n * 1e6

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=20000)
    n = parser.parse_args().n

    metrics = Metrics()
    hook = MetricsHook(metrics)
    ctx = _context()
    metrics_us = _per_call_us(lambda: (metrics.inflight.inc(), hook.on_response(ctx)), n)

    access = logging.getLogger("arbiter.access")
    with open(os.devnull, "w") as sink:
        handler = BackgroundStreamHandler(sink)
        handler.setFormatter(JsonFormatter(secrets=["sk-a-secret-value"]))
        access.addHandler(handler)
        access.setLevel(logging.INFO)
        access.propagate = False
        plain = AccessLogHook(secrets=["sk-a-secret-value"])
        bodies = AccessLogHook(log_bodies=True)
        access_us = _per_call_us(lambda: plain.on_response(ctx), n)
        bodies_us = _per_call_us(lambda: bodies.on_response(ctx), n)
        access.removeHandler(handler)
        handler.close()

    print(f"metrics hook on_response        {metrics_us:8.2f} us/request")
    print(f"access log line (json, queued)  {access_us:8.2f} us/request")
    print(f"access log line with bodies     {bodies_us:8.2f} us/request")
    tracing_us = _tracing_us(ctx, max(n // 4, 1))
    if tracing_us is not None:
        print(f"tracing, request + 2 attempts   {tracing_us:8.2f} us/request")
    render_us = _per_call_us(metrics.render, max(n // 100, 1))
    print(f"/metrics render                 {render_us:8.2f} us/scrape")


if __name__ == "__main__":
    main()

"""Runs a request against a model's deployments: in policy order, then fallbacks.

The executor decides *where* to send and *what next* on failure; the network is
``providers.transport``'s job. Observers hear about every attempt (metrics,
health, scoreboard) without the executor knowing what they do.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from providers import transport
from providers.base import ProviderAdapter, Target
from providers.errors import (
    AllTargetsFailedError,
    ContextWindowExceededError,
    GatewayError,
    ModelNotFoundError,
)
from providers.tokens import StreamMeter, completion_text, estimate_usage
from providers.types import ChatChunk, ChatRequest, ChatResponse
from routing.routes import ModelRoute, RoutedModel

__all__ = [
    "Attempt",
    "AttemptObserver",
    "Completion",
    "Executor",
    "StreamResult",
    "Upstream",
]


@dataclass(frozen=True, slots=True)
class Upstream:
    """A provider at run time: its adapter and its one shared client."""

    adapter: ProviderAdapter
    client: httpx.AsyncClient


@dataclass(slots=True)
class Attempt:
    """One upstream attempt, as observers see it."""

    model: str
    target: Target
    stream: bool
    latency_s: float = 0.0
    ttft_s: float | None = None
    error: GatewayError | None = None
    usage: dict[str, int] | None = None


class AttemptObserver(Protocol):
    def on_attempt(self, attempt: Attempt) -> None: ...


@dataclass(slots=True)
class Completion:
    response: ChatResponse
    model: str
    target: Target
    attempts: int


@dataclass(slots=True)
class StreamResult:
    """A stream that has produced its first chunk: failover is over, bytes may flow."""

    first: ChatChunk
    rest: AsyncIterator[ChatChunk]
    model: str
    target: Target
    attempts: int
    attempt: Attempt = field(repr=False)


OrderTargets = Callable[[ModelRoute, ChatRequest], Sequence[Target]]
PickCandidates = Callable[[RoutedModel, ChatRequest], Sequence[str]]


def order_by_priority(route: ModelRoute, request: ChatRequest) -> Sequence[Target]:
    return route.targets


def candidates_in_order(routed: RoutedModel, request: ChatRequest) -> Sequence[str]:
    return routed.candidates


class Executor:
    def __init__(
        self,
        routes: Mapping[str, ModelRoute],
        upstreams: Mapping[str, Upstream],
        *,
        routed: Mapping[str, RoutedModel] | None = None,
        order_targets: OrderTargets = order_by_priority,
        pick_candidates: PickCandidates = candidates_in_order,
        observers: Sequence[AttemptObserver] = (),
    ) -> None:
        self.routes = routes
        self.routed = routed or {}
        self.upstreams = upstreams
        self.order_targets = order_targets
        self.pick_candidates = pick_candidates
        self.observers = list(observers)

    def knows(self, model: str) -> bool:
        return model in self.routes or model in self.routed

    def plan(self, model: str, request: ChatRequest) -> list[ModelRoute]:
        """The routes to try, in order: the model (or a routed model's picks), then fallbacks."""
        if model in self.routed:
            names = list(self.pick_candidates(self.routed[model], request))
        elif model in self.routes:
            names = [model]
        else:
            raise ModelNotFoundError(f"The model '{model}' does not exist", param="model")
        plan: list[ModelRoute] = []
        seen: set[str] = set()
        for name in names:
            for step in (name, *self.routes[name].fallbacks):
                if step not in seen and step in self.routes:
                    seen.add(step)
                    plan.append(self.routes[step])
        return plan

    def _tries(self, model: str, request: ChatRequest) -> list[tuple[ModelRoute, Target]]:
        return [
            (route, target)
            for route in self.plan(model, request)
            for target in self.order_targets(route, request)
        ]

    def _notify(self, attempt: Attempt) -> None:
        for observer in self.observers:
            observer.on_attempt(attempt)

    def _context_fallbacks(
        self, route: ModelRoute, request: ChatRequest
    ) -> list[tuple[ModelRoute, Target]]:
        return [
            (self.routes[name], target)
            for name in route.context_window_fallbacks
            for target in self.order_targets(self.routes[name], request)
        ]

    async def complete(self, request: ChatRequest) -> Completion:
        errors: list[GatewayError] = []
        queue = self._tries(request.model, request)
        attempts = 0
        while queue:
            route, target = queue.pop(0)
            upstream = self.upstreams[target.provider]
            attempts += 1
            attempt = Attempt(route.name, target, stream=False)
            started = time.perf_counter()
            try:
                response = await transport.complete(
                    upstream.adapter, upstream.client, request, target
                )
            except GatewayError as exc:
                attempt.latency_s = time.perf_counter() - started
                attempt.error = exc
                self._notify(attempt)
                errors.append(exc)
                if isinstance(exc, ContextWindowExceededError):
                    queue = self._context_fallbacks(route, request)
                    continue
                if not exc.fallback:
                    raise
                continue
            attempt.latency_s = time.perf_counter() - started
            if not response.get("usage"):  # an upstream that leaves usage out: count it
                response["usage"] = estimate_usage(request, completion_text(response), target.model)
            attempt.usage = response.get("usage")
            self._notify(attempt)
            return Completion(response, route.name, target, attempts)
        raise AllTargetsFailedError(errors)

    async def stream(self, request: ChatRequest) -> StreamResult:
        errors: list[GatewayError] = []
        queue = self._tries(request.model, request)
        attempts = 0
        while queue:
            route, target = queue.pop(0)
            upstream = self.upstreams[target.provider]
            attempts += 1
            attempt = Attempt(route.name, target, stream=True)
            started = time.perf_counter()
            chunks = transport.stream(upstream.adapter, upstream.client, request, target)
            try:
                first = await chunks.__anext__()
            except (GatewayError, StopAsyncIteration) as exc:
                await chunks.aclose()
                error = exc if isinstance(exc, GatewayError) else AllTargetsFailedError([])
                attempt.latency_s = time.perf_counter() - started
                attempt.error = error
                self._notify(attempt)
                errors.append(error)
                if isinstance(error, ContextWindowExceededError):
                    queue = self._context_fallbacks(route, request)
                    continue
                if not error.fallback:
                    raise error from None
                continue
            attempt.ttft_s = time.perf_counter() - started
            meter = StreamMeter(request, target.model)
            meter.observe(first)
            rest = self._observed(chunks, attempt, started, meter)
            return StreamResult(first, rest, route.name, target, attempts, attempt)
        raise AllTargetsFailedError(errors)

    async def _observed(
        self,
        chunks: AsyncGenerator[ChatChunk, None],
        attempt: Attempt,
        started: float,
        meter: StreamMeter,
    ) -> AsyncIterator[ChatChunk]:
        """Relays the rest of a stream and reports the attempt when it ends, however it ends.

        A stream whose upstream sent no usage gets a usage chunk counted locally; one
        cut short is charged for what it streamed."""
        try:
            async for chunk in chunks:
                meter.observe(chunk)
                usage = chunk.get("usage")
                if usage:
                    attempt.usage = usage
                yield chunk
            if not meter.usage_seen:
                closing = meter.usage_chunk()
                attempt.usage = closing["usage"]
                yield closing
        except GatewayError as exc:
            attempt.error = exc
            raise
        finally:
            await chunks.aclose()
            if attempt.usage is None:
                attempt.usage = meter.usage()
            attempt.latency_s = time.perf_counter() - started
            self._notify(attempt)

"""Runs a request against a model's deployments: in strategy order, then fallbacks.

The executor decides *where* to send and *what next* on failure; the network is
``providers.transport``'s job. For each request:

1. the plan: the model (or a routed model's picks), then each one's
   ``fallbacks``, in order; a model's deployments are ordered by its strategy
   (``order_targets``) only when the plan reaches it;
2. each deployment that ``health`` says is up is tried; a failure that is
   ``retryable`` is retried there (``retry``), then the next deployment, then
   the next model. A prompt too long for the model jumps to its
   ``context_window_fallbacks``. An error that is the caller's (a 400) ends it;
3. deployments cooling down are skipped; a cooldown that has ended is probed by
   one request. If *every* deployment in the plan is cooling down, each is tried
   once anyway, soonest-recovering first, rather than refusing the request;
4. the whole request, retries and waits included, ends by the deadline
   (``timeout_s``): a stream's first chunk must come by then, and its last too.

Streams fail over until their first chunk; after that the caller gets bytes and
a failure ends the stream (``gateway.api.chat`` renders it). Observers hear
about every attempt (metrics, scoreboard) without the executor knowing what they
do; ``stats`` and ``health`` are fed directly.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol, TypeVar

import httpx

from providers import transport
from providers.base import ProviderAdapter, Target
from providers.errors import (
    AllTargetsFailedError,
    ContextWindowExceededError,
    GatewayError,
    ModelNotFoundError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from providers.types import ChatChunk, ChatRequest, ChatResponse
from routing.health import HealthBook, Readiness
from routing.retry import RetryPolicy
from routing.routes import ModelRoute, RoutedModel
from routing.stats import DeploymentStats

__all__ = [
    "Attempt",
    "AttemptObserver",
    "Completion",
    "Executor",
    "StreamResult",
    "Upstream",
]

T = TypeVar("T")


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
    requested: str = ""  # the model the client asked for
    retry: bool = False  # repeats the previous attempt on the same deployment
    fallback: bool = False  # the model is one of the requested model's fallbacks
    probe: bool = False  # tries a deployment whose cooldown ended


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


@dataclass(slots=True)
class _Run:
    """One request's progress through its plan."""

    request: ChatRequest
    deadline: float  # event-loop time
    attempts: int = 0
    errors: list[GatewayError] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Try:
    """Where one attempt goes and what it is."""

    route: ModelRoute
    target: Target
    fallback: bool
    probe: bool = False
    retry: bool = False


_AttemptFn = Callable[[_Run, _Try], Awaitable[T]]


def _deadline_error(target: Target | None) -> UpstreamTimeoutError:
    return UpstreamTimeoutError(
        "the request did not finish within the gateway's deadline (routing.timeout_s)",
        provider=target.provider if target else None,
        target=target.id if target else None,
    )


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
        health: HealthBook | None = None,
        stats: DeploymentStats | None = None,
        retry: RetryPolicy | None = None,
        timeout_s: float = 120.0,
    ) -> None:
        self.routes = routes
        self.routed = routed or {}
        self.upstreams = upstreams
        self.order_targets = order_targets
        self.pick_candidates = pick_candidates
        self.observers = list(observers)
        self.health = health
        self.stats = stats or DeploymentStats()
        self.retry = retry or RetryPolicy(retries=0)
        self.timeout_s = timeout_s

    def knows(self, model: str) -> bool:
        return model in self.routes or model in self.routed

    def plan(self, model: str, request: ChatRequest) -> list[ModelRoute]:
        """The routes to try, in order: the model (or a routed model's picks), then fallbacks."""
        return [route for route, _ in self._steps(model, request)]

    def _steps(self, model: str, request: ChatRequest) -> list[tuple[ModelRoute, bool]]:
        """The plan, each route marked True when it is a fallback."""
        if model in self.routed:
            names = list(self.pick_candidates(self.routed[model], request))
        elif model in self.routes:
            names = [model]
        else:
            raise ModelNotFoundError(f"The model '{model}' does not exist", param="model")
        steps: list[tuple[ModelRoute, bool]] = []
        seen: set[str] = set()
        for name in names:
            for i, step in enumerate((name, *self.routes[name].fallbacks)):
                if step not in seen and step in self.routes:
                    seen.add(step)
                    steps.append((self.routes[step], i > 0))
        return steps

    def _notify(self, attempt: Attempt) -> None:
        for observer in self.observers:
            observer.on_attempt(attempt)

    # -- the plan --------------------------------------------------------------

    async def complete(self, request: ChatRequest) -> Completion:
        return await self._execute(request, self._complete_once)

    async def stream(self, request: ChatRequest) -> StreamResult:
        return await self._execute(request, self._stream_once)

    async def _execute(self, request: ChatRequest, once: _AttemptFn[T]) -> T:
        loop = asyncio.get_running_loop()
        run = _Run(request, deadline=loop.time() + self.timeout_s)
        steps = deque(self._steps(request.model, request))
        cooling: list[_Try] = []
        while steps:
            route, fallback = steps.popleft()
            targets = self.order_targets(route, request)
            for i, target in enumerate(targets):
                if loop.time() >= run.deadline:
                    run.errors.append(_deadline_error(target))
                    raise AllTargetsFailedError(run.errors)
                where = _Try(route, target, fallback)
                readiness = self.health.readiness(target) if self.health else Readiness.UP
                if readiness is Readiness.DOWN:
                    cooling.append(where)
                    continue
                if readiness is Readiness.PROBE:
                    if not await self.health.claim_probe(target):  # type: ignore[union-attr]
                        cooling.append(where)
                        continue
                    where = _Try(route, target, fallback, probe=True)
                more = partial(self._any_usable, targets[i + 1 :], steps)
                try:
                    return await self._on_target(run, where, more, once)
                except ContextWindowExceededError:
                    steps = deque(
                        (self.routes[name], True)
                        for name in route.context_window_fallbacks
                        if name in self.routes
                    )
                    break
                except GatewayError as exc:
                    if not exc.fallback:
                        raise
        if run.attempts == 0 and cooling:
            return await self._last_resort(run, cooling, once)
        raise AllTargetsFailedError(run.errors)

    async def _last_resort(self, run: _Run, cooling: list[_Try], once: _AttemptFn[T]) -> T:
        """Every deployment is cooling down: try each once, soonest to recover first."""
        health = self.health
        assert health is not None
        cooling.sort(key=lambda w: health.cooling_until(w.target))
        for where in cooling:
            if asyncio.get_running_loop().time() >= run.deadline:
                run.errors.append(_deadline_error(where.target))
                break
            try:
                return await once(run, _Try(where.route, where.target, where.fallback, probe=True))
            except GatewayError as exc:
                if not exc.fallback or isinstance(exc, ContextWindowExceededError):
                    raise
        raise AllTargetsFailedError(run.errors)

    def _any_usable(self, rest: Sequence[Target], steps: deque[tuple[ModelRoute, bool]]) -> bool:
        """Is anything left to fail over to? (Asked only after a failure.)"""
        later = (t for route, _ in steps for t in route.targets)
        for target in (*rest, *later):
            if self.health is None or self.health.readiness(target) is not Readiness.DOWN:
                return True
        return False

    async def _on_target(
        self, run: _Run, where: _Try, more: Callable[[], bool], once: _AttemptFn[T]
    ) -> T:
        """One deployment: an attempt, then retries while they make sense."""
        try:
            return await once(run, where)
        except GatewayError as exc:
            if where.probe:
                raise
            first = exc
        again = _Try(where.route, where.target, where.fallback, retry=True)
        health = self.health

        def may_retry(error: GatewayError) -> bool:
            if not more():
                return True  # nothing else to try: retrying beats giving up
            if error.retry_after is not None:
                return False  # the provider said when; meanwhile go elsewhere
            return health is None or health.readiness(where.target) is Readiness.UP

        return await self.retry.retry(
            lambda: once(run, again), first, deadline=run.deadline, may_retry=may_retry
        )

    # -- one attempt -----------------------------------------------------------

    def _begin(self, run: _Run, where: _Try, stream: bool) -> Attempt:
        run.attempts += 1
        self.stats.begin(where.target.id)
        return Attempt(
            where.route.name,
            where.target,
            stream,
            requested=run.request.model,
            retry=where.retry,
            fallback=where.fallback,
            probe=where.probe,
        )

    def _failed(self, run: _Run, attempt: Attempt, error: GatewayError, started: float) -> None:
        target = attempt.target
        attempt.latency_s = time.perf_counter() - started
        attempt.error = error
        self.stats.end(target.id)
        if isinstance(error, UpstreamTimeoutError):
            self.stats.observe_latency(target.id, attempt.latency_s)  # at least this slow
        if self.health is not None:
            self.health.record_failure(target, error, probe=attempt.probe)
        run.errors.append(error)
        self._notify(attempt)

    def _abandoned(self, attempt: Attempt) -> None:
        """The caller went away mid-attempt: free what the attempt held."""
        self.stats.end(attempt.target.id)
        if attempt.probe and self.health is not None:
            self.health.release_probe(attempt.target)

    def _observe_usage(self, attempt: Attempt) -> None:
        usage = attempt.usage
        if usage and usage.get("completion_tokens") is not None:
            self.stats.observe_completion(attempt.model, int(usage["completion_tokens"]))

    def _stream_ended(
        self, attempt: Attempt, error: GatewayError | None, started: float, *, cancelled: bool
    ) -> None:
        target = attempt.target
        attempt.latency_s = time.perf_counter() - started
        attempt.error = error
        self.stats.end(target.id)
        if error is not None:
            if self.health is not None:
                self.health.record_failure(target, error)
        elif not cancelled:  # a stream cut short by its reader says nothing of latency
            self.stats.observe_latency(target.id, attempt.latency_s)
            self._observe_usage(attempt)
        self._notify(attempt)

    async def _complete_once(self, run: _Run, where: _Try) -> Completion:
        target = where.target
        upstream = self.upstreams[target.provider]
        attempt = self._begin(run, where, stream=False)
        started = time.perf_counter()
        try:
            async with asyncio.timeout_at(run.deadline):
                response = await transport.complete(
                    upstream.adapter, upstream.client, run.request, target
                )
        except GatewayError as exc:
            self._failed(run, attempt, exc, started)
            raise
        except TimeoutError:
            error = _deadline_error(target)
            self._failed(run, attempt, error, started)
            raise error from None
        except BaseException:
            self._abandoned(attempt)
            raise
        attempt.latency_s = time.perf_counter() - started
        attempt.usage = response.get("usage")
        self.stats.end(target.id)
        self.stats.observe_latency(target.id, attempt.latency_s)
        self._observe_usage(attempt)
        if self.health is not None:
            self.health.record_success(target, probe=where.probe)
        self._notify(attempt)
        return Completion(response, where.route.name, target, run.attempts)

    async def _stream_once(self, run: _Run, where: _Try) -> StreamResult:
        target = where.target
        upstream = self.upstreams[target.provider]
        attempt = self._begin(run, where, stream=True)
        started = time.perf_counter()
        chunks = transport.stream(upstream.adapter, upstream.client, run.request, target)
        try:
            async with asyncio.timeout_at(run.deadline):
                first = await chunks.__anext__()
        except (GatewayError, StopAsyncIteration, TimeoutError) as exc:
            await chunks.aclose()
            if isinstance(exc, GatewayError):
                error = exc
            elif isinstance(exc, TimeoutError):
                error = _deadline_error(target)
            else:
                error = UpstreamUnavailableError(
                    f"{target.provider} ended the stream without sending anything",
                    provider=target.provider,
                    target=target.id,
                )
            self._failed(run, attempt, error, started)
            raise error from None
        except BaseException:
            await chunks.aclose()
            self._abandoned(attempt)
            raise
        attempt.ttft_s = time.perf_counter() - started
        self.stats.observe_ttft(target.id, attempt.ttft_s)
        if self.health is not None:
            self.health.record_success(target, probe=where.probe)
        rest = _ObservedStream(self, chunks, attempt, started, run.deadline)
        return StreamResult(first, rest, where.route.name, target, run.attempts, attempt)


class _ObservedStream:
    """The rest of a stream: relays chunks until the deadline, then reports the
    attempt exactly once, however it ends (finished, failed, or closed early)."""

    def __init__(
        self,
        executor: Executor,
        chunks: AsyncGenerator[ChatChunk, None],
        attempt: Attempt,
        started: float,
        deadline: float,
    ) -> None:
        self._executor = executor
        self._chunks = chunks
        self._attempt = attempt
        self._started = started
        self._deadline = deadline
        self._done = False

    def __aiter__(self) -> _ObservedStream:
        return self

    async def __anext__(self) -> ChatChunk:
        if self._done:
            raise StopAsyncIteration
        try:
            async with asyncio.timeout_at(self._deadline):
                chunk = await self._chunks.__anext__()
        except StopAsyncIteration:
            await self._finish(None)
            raise
        except GatewayError as exc:
            await self._finish(exc)
            raise
        except TimeoutError:
            error = _deadline_error(self._attempt.target)
            await self._finish(error)
            raise error from None
        usage = chunk.get("usage")
        if usage:
            self._attempt.usage = usage
        return chunk

    async def aclose(self) -> None:
        """Closed before the end (the caller went away): not the deployment's fault."""
        await self._finish(None, cancelled=True)

    async def _finish(self, error: GatewayError | None, *, cancelled: bool = False) -> None:
        if self._done:
            return
        self._done = True
        await self._chunks.aclose()
        self._executor._stream_ended(self._attempt, error, self._started, cancelled=cancelled)

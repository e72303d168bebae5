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
a failure ends the stream (``gateway.api.relay`` renders it). Observers hear
about every attempt (metrics, scoreboard) without the executor knowing what they
do; ``stats`` and ``health`` are fed directly.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from providers import transport
from providers.base import Target
from providers.errors import (
    AllTargetsFailedError,
    ContextWindowExceededError,
    GatewayError,
    ModelNotFoundError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from providers.tokens import StreamMeter, completion_text, estimate_usage
from providers.types import ChatRequest
from routing.attempts import Attempt, AttemptObserver, Completion, StreamResult, Upstream
from routing.deadline import Deadline, DeadlineTimer
from routing.health import HealthBook, Readiness
from routing.observed_stream import ObservedStream, deadline_error
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
    deadline: Deadline
    attempts: int = 0
    errors: list[GatewayError] = field(default_factory=list)


@dataclass(slots=True)
class _Try:
    """Where one attempt goes and what it is."""

    route: ModelRoute
    target: Target
    fallback: bool
    probe: bool = False
    retry: bool = False


_AttemptFn = Callable[[_Run, _Try], Awaitable[T]]
_Steps = list[tuple[ModelRoute, bool]]


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
        self._deadlines = DeadlineTimer(timeout_s)
        self._plans: dict[str, _Steps] = {}  # served models' plans never change

    def knows(self, model: str) -> bool:
        return model in self.routes or model in self.routed

    def plan(self, model: str, request: ChatRequest) -> list[ModelRoute]:
        """The routes to try, in order: the model (or a routed model's picks), then fallbacks."""
        return [route for route, _ in self._steps(model, request)]

    def _steps(self, model: str, request: ChatRequest) -> _Steps:
        """The plan, each route marked True when it is a fallback."""
        if model in self.routed:
            return self._expand(self.pick_candidates(self.routed[model], request))
        steps = self._plans.get(model)
        if steps is None:
            if model not in self.routes:
                raise ModelNotFoundError(f"The model '{model}' does not exist", param="model")
            steps = self._plans[model] = self._expand([model])
        return steps

    def _expand(self, names: Sequence[str]) -> _Steps:
        steps: _Steps = []
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
        run = _Run(request, self._deadlines.start())
        try:
            return await self._execute(run, self._complete_once)
        finally:
            run.deadline.close()

    async def stream(self, request: ChatRequest) -> StreamResult:
        """Fails over until a first chunk arrives; the result's ``rest`` then owns the
        deadline and closes it when the stream ends."""
        run = _Run(request, self._deadlines.start())
        try:
            return await self._execute(run, self._stream_once)
        except BaseException:
            run.deadline.close()
            raise

    async def _execute(self, run: _Run, once: _AttemptFn[T]) -> T:
        request = run.request
        steps = self._steps(request.model, request)
        cooling: list[_Try] = []
        step = 0
        while step < len(steps):
            route, fallback = steps[step]
            step += 1
            # One deployment has one order: no strategy to ask.
            targets: Sequence[Target] = route.targets
            if len(targets) > 1:
                targets = self.order_targets(route, request)
            for i, target in enumerate(targets):
                if run.deadline.passed():
                    run.errors.append(deadline_error(target))
                    raise AllTargetsFailedError(run.errors)
                where = _Try(route, target, fallback)
                if self.health is not None:
                    readiness = self.health.readiness(target)
                    if readiness is Readiness.PROBE and await self.health.claim_probe(target):
                        where.probe = True
                    elif readiness is not Readiness.UP:
                        cooling.append(where)
                        continue
                try:
                    # The first attempt is awaited here, not in a helper: every
                    # coroutine layer costs on each resumption of the request.
                    try:
                        return await once(run, where)
                    except GatewayError as exc:
                        if where.probe or not exc.retryable or self.retry.retries <= 0:
                            raise
                        first = exc
                    rest = targets[i + 1 :]
                    return await self._retry(run, where, once, first, rest, steps[step:])
                except ContextWindowExceededError:
                    steps = [
                        (self.routes[name], True)
                        for name in route.context_window_fallbacks
                        if name in self.routes
                    ]
                    step = 0
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
            if run.deadline.passed():
                run.errors.append(deadline_error(where.target))
                break
            where.probe = True
            try:
                return await once(run, where)
            except GatewayError as exc:
                if not exc.fallback or isinstance(exc, ContextWindowExceededError):
                    raise
        raise AllTargetsFailedError(run.errors)

    def _any_usable(self, rest: Sequence[Target], steps: _Steps) -> bool:
        """Is anything left to fail over to? (Asked only after a failure.)"""
        later = (t for route, _ in steps for t in route.targets)
        for target in (*rest, *later):
            if self.health is None or self.health.readiness(target) is not Readiness.DOWN:
                return True
        return False

    async def _retry(
        self,
        run: _Run,
        where: _Try,
        once: _AttemptFn[T],
        first: GatewayError,
        rest: Sequence[Target],
        later: _Steps,
    ) -> T:
        """The first attempt on a deployment failed with ``first`` (retryable):
        retries there while they make sense."""
        again = _Try(where.route, where.target, where.fallback, retry=True)
        health = self.health
        more = self._any_usable(rest, later)

        def may_retry(error: GatewayError) -> bool:
            if not more:
                return True  # nothing else to try: retrying beats giving up
            if error.retry_after is not None:
                return False  # the provider said when; meanwhile go elsewhere
            return health is None or health.readiness(where.target) is Readiness.UP

        return await self.retry.retry(
            lambda: once(run, again), first, deadline=run.deadline.at, may_retry=may_retry
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
        self, attempt: Attempt, error: GatewayError | None, started: float, cancelled: bool
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
        deadline = run.deadline
        deadline.arm()
        try:
            response = await transport.complete(
                upstream.adapter, upstream.client, run.request, target
            )
        except GatewayError as exc:
            deadline.disarm()
            self._failed(run, attempt, exc, started)
            raise
        except asyncio.CancelledError:
            deadline.disarm()
            if not deadline.caused():
                self._abandoned(attempt)
                raise
            error = deadline_error(target)
            self._failed(run, attempt, error, started)
            raise error from None
        except BaseException:
            deadline.disarm()
            self._abandoned(attempt)
            raise
        deadline.disarm()
        attempt.latency_s = time.perf_counter() - started
        usage = response.get("usage")
        if not usage:  # the upstream omitted it: count it here
            usage = response["usage"] = estimate_usage(
                run.request, completion_text(response), target.model
            )
        attempt.usage = usage
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
        chunks = transport.stream_batches(upstream.adapter, upstream.client, run.request, target)
        deadline = run.deadline
        deadline.arm()
        try:
            first = await chunks.__anext__()
        except (GatewayError, StopAsyncIteration) as exc:
            deadline.disarm()
            await chunks.aclose()
            error = exc if isinstance(exc, GatewayError) else _empty_stream_error(target)
            self._failed(run, attempt, error, started)
            raise error from None
        except asyncio.CancelledError:
            deadline.disarm()
            caused = deadline.caused()
            await chunks.aclose()
            if not caused:
                self._abandoned(attempt)
                raise
            error = deadline_error(target)
            self._failed(run, attempt, error, started)
            raise error from None
        except BaseException:
            deadline.disarm()
            await chunks.aclose()
            self._abandoned(attempt)
            raise
        deadline.disarm()
        attempt.ttft_s = time.perf_counter() - started
        self.stats.observe_ttft(target.id, attempt.ttft_s)
        if self.health is not None:
            self.health.record_success(target, probe=where.probe)
        meter = StreamMeter(run.request, target.model)
        rest = ObservedStream(chunks, attempt, started, deadline, self._stream_ended, meter)
        rest.observe(first)
        return StreamResult(first, rest, where.route.name, target, run.attempts, attempt)


def _empty_stream_error(target: Target) -> UpstreamUnavailableError:
    return UpstreamUnavailableError(
        f"{target.provider} ended the stream without sending anything",
        provider=target.provider,
        target=target.id,
    )

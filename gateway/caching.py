"""The response cache step of a chat request: look up, coalesce, store.

Per request, ``ResponseCache.slot(ctx, headers)`` opens a ``CacheSlot``:

1. What the request may do with the cache: nothing when ``cache.enabled`` is
   off or the model opts out (``models.<m>.cache: false``); with
   ``Cache-Control: no-cache`` it skips the lookup but stores the fresh answer;
   with ``no-store`` it neither reads nor writes. Both are a ``bypass``.
2. Lookup by ``cache.keys.cache_key`` (scope: the virtual key's name, or
   ``global``). A hit fills the context as an answer from the cache: the model
   and provider that produced it, zero attempts, ``cost_usd = 0``; what the
   upstream call would have cost goes to ``arbiter_cache_saved_usd_total``. A
   JSON hit sends the stored JSON as it is; the answer is decoded into
   ``ctx.response`` only when a feature reads it (``_hits_are_read``).
3. A miss joins the in-process single flight for its key: the first request
   leads; identical ones that arrive meanwhile wait (at most
   ``cache.coalesce_wait_s``) for its answer, which they get as a hit. With
   Redis the leader also claims the key across processes; a process that finds
   it claimed polls for the entry instead of calling the provider, and takes
   the claim over if the other leader gives up.
4. The leader stores its answer (``store`` for JSON, ``record`` wraps a stream
   and stores the assembled answer at its end) and hands it to the waiters.
   Errors, cut streams and answers without a finish reason are never stored;
   the waiters of a leader that failed are released to try for themselves.

``ctx.cache`` (``hit``, ``miss``, ``bypass``) is what ``x-arbiter-cache`` says and
what ``gateway.metrics.MetricsHook`` counts in ``arbiter_cache_requests_total``;
this step adds ``result="error"`` for each lookup the store could not answer
(Redis away: the request is served from upstream, and counted a miss as well).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from types import TracebackType
from typing import TYPE_CHECKING

import orjson

from cache.base import CacheBackend
from cache.entry import CachedAnswer
from cache.flights import Flight, SingleFlight
from cache.keys import cache_key
from cache.memory import MemoryCache
from gateway.config import Settings
from gateway.context import RequestContext
from gateway.metrics import BoundValues, Metrics
from gateway.runtime import RuntimePlan
from providers.assembly import assemble_chunks, is_complete, replay_response
from providers.base import Target
from providers.pricing import usage_cost_usd
from providers.sse import DONE, encode_data
from providers.stream_chunk import Batch
from providers.types import ChatResponse
from routing.executor import Completion, StreamResult

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["CacheSlot", "ResponseCache", "cache_directives", "open_response_cache"]

log = logging.getLogger("arbiter.cache")

_NO_LOOKUP = frozenset({"no-cache", "no-store"})  # Cache-Control directives that skip it
_NONE: frozenset[str] = frozenset()
_POLL_FIRST_S = 0.01
_POLL_MAX_S = 0.25


def cache_directives(value: str | None) -> frozenset[str]:
    """The directives of a request's Cache-Control header, lower-cased (``no-cache``,
    ``no-store``); ``value``: the header's (None: absent)."""
    if not value:
        return frozenset()
    return frozenset(part.strip().lower() for part in value.split(",") if part.strip())


def _model_identities(plan: RuntimePlan, settings: Settings) -> dict[str, str]:
    """Model name → what it resolves to, for the cache key; opted-out models are absent."""
    identities: dict[str, str] = {}
    for name, route in plan.routes.items():
        if settings.models[name].cache:
            runs_on = [[t.provider, t.model] for t in route.targets]
            identities[name] = orjson.dumps([name, runs_on, list(route.fallbacks)]).decode()
    for name, routed in plan.routed.items():
        if settings.models[name].cache:
            identities[name] = orjson.dumps([name, "routed", list(routed.candidates)]).decode()
    return identities


class ResponseCache:
    """Built once at startup; ``slot`` is the per-request step."""

    def __init__(
        self, settings: Settings, plan: RuntimePlan, backend: CacheBackend, metrics: Metrics
    ) -> None:
        rules = settings.cache
        self.decode_hits = _hits_are_read(settings)
        self.backend = backend
        self.enabled = rules.enabled
        self.ttl_s = rules.ttl_s
        self.global_scope = rules.scope == "global"
        self.coalesce = rules.coalesce
        self.wait_s = rules.coalesce_wait_s
        self.identities = _model_identities(plan, settings)
        self.targets: dict[str, Target] = {
            t.id: t for route in plan.routes.values() for t in route.targets
        }
        self.flights: SingleFlight[CachedAnswer] = SingleFlight(max_age_s=self.wait_s)
        self.metrics = metrics
        self._errors = metrics.cache.labels("error")
        self._saved = BoundValues(metrics.cache_saved)
        self._shown_bytes = -1  # what arbiter_cache_stored_bytes was last set to
        self._pending: set[asyncio.Task[None]] = set()

    def scope_of(self, ctx: RequestContext) -> str:
        """Whose entries a request reads and writes: its key's (by name; the master key
        apart even from a virtual key named like it), or everyone's."""
        if self.global_scope:
            return "global"
        return "master" if ctx.caller.is_master else "key:" + ctx.caller.name

    def slot(self, ctx: RequestContext, cache_control: str | None) -> CacheSlot:
        """``cache_control``: the request's Cache-Control header (None: absent)."""
        return CacheSlot(self, ctx, cache_directives(cache_control) if cache_control else _NONE)

    def looked_up(self, *, failed: bool) -> None:
        if failed:
            self._errors.inc()
        self._show_stored_bytes()

    def _show_stored_bytes(self) -> None:
        """``arbiter_cache_stored_bytes`` follows the backend. Set only when it moved:
        a gauge's set takes a lock (and a file write in multiprocess mode), and on a
        hit the bytes have not moved."""
        stored = self.backend.stored_bytes()
        if stored != self._shown_bytes:
            self._shown_bytes = stored
            self.metrics.cache_bytes.set(stored)

    def saved(self, ctx: RequestContext, answer: CachedAnswer) -> float | None:
        cost = answer.saved_usd if answer.saved_usd is not None else self._saving(answer)
        if cost:
            self._saved[answer.model, answer.provider, ctx.caller.name].inc(cost)
        return cost

    def _saving(self, answer: CachedAnswer) -> float | None:
        """What a hit of ``answer`` saves at its deployment's prices (None: a
        deployment no longer configured)."""
        target = self.targets.get(answer.target_id)
        return None if target is None else usage_cost_usd(answer.usage, target)

    async def write(self, key: str, answer: CachedAnswer) -> None:
        if not self.backend.shared:
            # This process's prices are the ones its hits are priced at: price the
            # answer now and keep the number, not the usage.
            answer = answer.priced(self._saving(answer))
        await self.backend.set(key, answer, self.ttl_s)
        self._show_stored_bytes()

    def release_later(self, key: str) -> None:
        """Give up a cross-process claim without awaiting (safe while being cancelled)."""
        task = asyncio.get_running_loop().create_task(self.backend.release(key))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def wait_elsewhere(self, key: str) -> tuple[CachedAnswer | None, bool]:
        """Another process leads ``key``: poll for its answer until ``coalesce_wait_s``.
        Returns (answer, claimed): ``claimed`` when the other leader gave up and this
        process took the claim over."""
        deadline = time.monotonic() + self.wait_s
        pause = _POLL_FIRST_S
        while time.monotonic() < deadline:
            await asyncio.sleep(pause)
            pause = min(pause * 1.5, _POLL_MAX_S)
            answer = await self.backend.get(key)
            if answer is not None:
                return answer, False
            if await self.backend.claim(key, self.wait_s):
                # The leader may have stored its answer and let go between our two reads.
                answer = await self.backend.get(key)
                if answer is None:
                    return None, True
                await self.backend.release(key)
                return answer, False
        return None, False

    async def aclose(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        await self.backend.aclose()


class CacheSlot:
    """One request's use of the cache; ``async with`` guarantees that a leader that
    leaves without an answer (error, cancellation) releases its waiters."""

    def __init__(self, cache: ResponseCache, ctx: RequestContext, directives: frozenset[str]):
        self.cache = cache
        self.ctx = ctx
        self.answer: CachedAnswer | None = None
        identity = cache.identities.get(ctx.chat.model) if cache.enabled else None
        self.active = identity is not None
        self.read = self.active and not directives & _NO_LOOKUP
        self.write = self.active and "no-store" not in directives
        self.key = ""
        if identity is not None:
            self.key = cache_key(ctx.chat, model=identity, scope=cache.scope_of(ctx))
        self._flight: Flight[CachedAnswer] | None = None
        self._claimed = False
        self._handed_off = False

    async def __aenter__(self) -> CacheSlot:
        if not self.active:
            return self
        if not self.read:
            self.ctx.cache = "bypass"
            return self
        answer = await self.cache.backend.get(self.key)
        self.cache.looked_up(failed=not self.cache.backend.available)
        if answer is None and self.cache.coalesce:
            try:
                answer = await self._coalesce()
            except BaseException:  # cancelled while leading: __aexit__ will not run
                self._give_up()
                raise
        if answer is not None:
            self._hit(answer)
        return self

    async def _coalesce(self) -> CachedAnswer | None:
        cache = self.cache
        flight = cache.flights.join(self.key)
        if not flight.lead:
            return await cache.flights.wait(flight, cache.wait_s)
        self._flight = flight
        if not cache.backend.shared:
            return None  # no other process to agree with: this one leads
        self._claimed = await cache.backend.claim(self.key, cache.wait_s)
        if self._claimed:
            return None
        answer, self._claimed = await cache.wait_elsewhere(self.key)
        if answer is not None:
            cache.flights.end(flight, answer)
            self._flight = None
        return answer

    def _hit(self, answer: CachedAnswer) -> None:
        ctx = self.ctx
        self.answer = answer
        ctx.cache = "hit"
        ctx.model, ctx.provider, ctx.upstream_model = (
            answer.model,
            answer.provider,
            answer.upstream_model,
        )
        ctx.attempts = 0
        if ctx.chat.stream:
            ctx.ttft_s = time.perf_counter() - ctx.started
        ctx.usage = None  # a hit processes no tokens (CostHook.price prices it at 0)
        if self.cache.decode_hits:  # what the caller gets, for the body log and traces
            ctx.response = answer.response()
        age = int(time.time() - answer.stored_at)
        ctx.response_headers["age"] = str(age) if age > 0 else "0"
        saved = self.cache.saved(ctx, answer)
        if saved is not None:
            ctx.notes["cache_saved_usd"] = saved

    def replay(self) -> bytes:
        """A hit as the SSE body of a streamed answer, ``[DONE]`` included."""
        assert self.answer is not None
        chunks = replay_response(self.answer.response(), include_usage=self.ctx.chat.include_usage)
        return b"".join(encode_data(chunk) for chunk in chunks) + DONE

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._handed_off:
            self._give_up()

    def _give_up(self) -> None:
        """No answer to share: waiters go and try for themselves."""
        if self._flight is not None:
            self.cache.flights.end(self._flight, None)
            self._flight = None
        if self._claimed:
            self._claimed = False
            self.cache.release_later(self.key)

    async def _finish(self, response: ChatResponse, model: str, target: Target) -> bytes | None:
        """A whole answer: waiters get it, the store keeps it, then the claim goes.
        Returns the answer's JSON when it was encoded for the cache."""
        if not (is_complete(response) and model in self.cache.identities):
            self._give_up()
            return None
        answer = CachedAnswer.of(
            response, model, target.provider, target.model, target.id, time.time()
        )
        if self._flight is not None:
            self.cache.flights.end(self._flight, answer)
            self._flight = None
        if self.write:
            await self.cache.write(self.key, answer)
        if self._claimed:
            self._claimed = False
            await self.cache.backend.release(self.key)
        return answer.body

    async def store(self, completion: Completion) -> bytes | None:
        """The leader's JSON answer. Returns its JSON (``orjson.dumps`` of the
        response) when the cache encoded it, so the caller need not encode it again."""
        if not self.active:
            return None
        return await self._finish(completion.response, completion.model, completion.target)

    def record(self, result: StreamResult) -> AsyncIterator[Batch]:
        """The rest of a stream, relayed unchanged; stored assembled once it ends whole."""
        if not self.active:
            return result.rest
        self._handed_off = True
        return self._recorded(result, result.rest)

    async def _recorded(
        self, result: StreamResult, rest: AsyncIterator[Batch]
    ) -> AsyncIterator[Batch]:
        pieces = list(result.first)
        try:
            async for batch in rest:
                pieces += batch
                yield batch
            chunks = [piece.chunk for piece in pieces]  # parsed once the client has them
        except BaseException:  # an upstream error, or the client went away
            self._give_up()
            raise
        finally:
            await rest.aclose()  # type: ignore[attr-defined]
        await self._finish(assemble_chunks(chunks), result.model, result.target)


def _hits_are_read(settings: Settings) -> bool:
    """True when a feature reads a hit's answer as a dict (``ctx.response``): the
    access log's ``completion`` field (``logging.log_bodies``) and tracing's response
    attributes. Otherwise a JSON hit sends the stored bytes and never decodes them."""
    logging_ = settings.logging
    return (logging_.access_log and logging_.log_bodies) or settings.tracing.enabled


def open_response_cache(
    settings: Settings, plan: RuntimePlan, metrics: Metrics, redis: Redis | None
) -> ResponseCache:
    """At startup: Redis (the shared-state client, not a second pool) when
    ``state.redis_url`` is set, else an in-process LRU of ``cache.max_bytes``."""
    backend: CacheBackend
    if redis is not None:
        from cache.redis import RedisCache  # the redis package: only when configured

        backend = RedisCache(
            redis,
            prefix=settings.state.key_prefix + "cache:",
            on_error=lambda op: metrics.state_errors.labels(op).inc(),
        )
    else:
        backend = MemoryCache(settings.cache.max_bytes)
    return ResponseCache(settings, plan, backend, metrics)

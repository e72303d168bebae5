"""POST /v1/chat/completions: parse, authorise, run the hooks, route, answer as JSON or SSE."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.datastructures import Headers, State
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gateway.api.relay import SSE_CONTENT_TYPE, StreamRelay, raw_headers
from gateway.caching import CacheSlot
from gateway.context import RequestContext, RequestHook, acting_on_request
from gateway.costs import CostHook
from gateway.errors import render_error
from gateway.repeats import RepeatedBodies
from providers.errors import GatewayError, InvalidRequestError, ModelNotFoundError
from providers.types import ChatRequest
from routing.executor import Executor

__all__ = ["ChatEndpoint", "ClientHeaders", "parse_chat_request", "task_label"]

_SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
_JSON = b"application/json"
_MAX_TASK_LABEL = 64
_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "none", "dict", "list"})


def _is_type_tag(part: int | str) -> bool:
    """Pydantic names union branches in error locations ('str', 'list[ContentPart]')."""
    return isinstance(part, str) and (part in _TYPE_TAGS or "[" in part)


def parse_chat_request(body: bytes) -> ChatRequest:
    """The body as a validated ChatRequest, or a 400 naming the offending field."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequestError(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidRequestError("the request body must be a JSON object")
    try:
        return ChatRequest.from_client(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"] if not _is_type_tag(p)) or None
        message = f"{param}: {first['msg']}" if param else first["msg"]
        raise InvalidRequestError(message, param=param) from None


def task_label(headers: Mapping[str, str], chat: ChatRequest) -> str:
    """The task a request belongs to, for ranking: header, then metadata, then 'general'."""
    return _task_named(headers.get("x-arbiter-task"), chat)


def _task_named(label: str | None, chat: ChatRequest) -> str:
    """``task_label`` of the ``x-arbiter-task`` header's value (None: absent)."""
    if not label and chat.metadata and isinstance(chat.metadata.get("task"), str):
        label = chat.metadata["task"]
    if not label:
        return "general"
    return label.strip()[:_MAX_TASK_LABEL] or "general"


class ClientHeaders(Headers):
    """The request's headers, with each name's first value in a dict (``first``, by
    the lower-case name as bytes, as ASGI servers give names): a lookup is one dict
    read, where ``Headers`` scans the whole list for each, and ``Mapping.get`` of an
    absent header gets there through a ``KeyError`` (most headers a chat request looks
    up are absent: its task, cache-control)."""

    def __init__(self, *, scope: Scope) -> None:
        # As ``Headers(scope=scope)`` keeps them, without copying a list it is given.
        raw = scope["headers"]
        if type(raw) is not list:
            raw = scope["headers"] = list(raw)
        self._list = raw
        # reversed: the first of repeated headers is set last, and stays (as Headers.get)
        self.first: dict[bytes, bytes] = dict(reversed(raw))

    def get(self, key: str, default: Any = None) -> Any:
        value = self.first.get(key.lower().encode("latin-1"))
        return default if value is None else value.decode("latin-1")

    def __getitem__(self, key: str) -> str:
        value = self.first.get(key.lower().encode("latin-1"))
        if value is None:
            raise KeyError(key)
        return value.decode("latin-1")

    def __contains__(self, key: Any) -> bool:
        return isinstance(key, str) and key.lower().encode("latin-1") in self.first


def _answer_headers(ctx: RequestContext) -> dict[str, str]:
    return {
        "x-arbiter-model": ctx.model or "",
        "x-arbiter-provider": ctx.provider or "",
        "x-arbiter-attempts": str(ctx.attempts),
        "x-arbiter-cache": ctx.cache,
        **ctx.response_headers,
    }


_Shown = tuple[str | None, str | None, int, str]  # model, provider, attempts, cache
_Raw = list[tuple[bytes, bytes]]


class _GatewayHeaders(dict[_Shown, tuple[tuple[bytes, bytes], ...]]):
    """The four ``x-arbiter-*`` headers of ``_answer_headers`` as raw pairs, by what
    they show: a few combinations recur (models, providers, 0 or 1 attempts, hit or
    miss), each encoded once. Bounded: a model name may come from a shared cache's
    entry rather than the config."""

    def __missing__(self, shown: _Shown) -> tuple[tuple[bytes, bytes], ...]:
        model, provider, attempts, cache = shown
        pairs = (
            (b"x-arbiter-model", (model or "").encode("latin-1")),
            (b"x-arbiter-provider", (provider or "").encode("latin-1")),
            (b"x-arbiter-attempts", str(attempts).encode("latin-1")),
            (b"x-arbiter-cache", cache.encode("latin-1")),
        )
        if len(self) < _MAX_KEPT:
            self[shown] = pairs
        return pairs


class _HeaderNames(dict[str, bytes]):
    """The names of the headers hooks add (age, cost, route reason, rate limits), as
    latin-1 bytes, encoded once; bounded like ``_GatewayHeaders``."""

    def __missing__(self, name: str) -> bytes:
        encoded = name.encode("latin-1")
        if len(self) < _MAX_KEPT:
            self[name] = encoded
        return encoded


_MAX_KEPT = 1024
_GATEWAY_HEADERS = _GatewayHeaders()
_HEADER_NAMES = _HeaderNames()
_ANSWER_NAMES = frozenset(
    {"x-arbiter-model", "x-arbiter-provider", "x-arbiter-attempts", "x-arbiter-cache"}
)
_SSE_RAW = raw_headers(_SSE_HEADERS)
_SSE_NAMES = _ANSWER_NAMES | _SSE_HEADERS.keys()


def _answer_raw_headers(ctx: RequestContext, head: _Raw, stream: bool = False) -> _Raw:
    """``head``, then ``raw_headers`` of the answer's headers (``_answer_headers``,
    after the SSE ones for a stream), with what repeats from answer to answer
    encoded once."""
    added = ctx.response_headers
    if not (_SSE_NAMES if stream else _ANSWER_NAMES).isdisjoint(added):
        # A hook set one of the gateway's headers: as a dict merge places and values it.
        merged = {**_SSE_HEADERS, **_answer_headers(ctx)} if stream else _answer_headers(ctx)
        head += raw_headers(merged)
        return head
    if stream:
        head += _SSE_RAW
    head += _GATEWAY_HEADERS[ctx.model, ctx.provider, ctx.attempts, ctx.cache]
    names = _HEADER_NAMES
    for name, value in added.items():
        head.append((names[name], value.encode("latin-1")))
    return head


class ChatEndpoint:
    """The chat route as a plain ASGI app, reached without FastAPI's routing,
    dependency injection or exception middleware (``gateway.app.ArbiterApp``
    dispatches ``POST /v1/chat/completions`` here directly): on the hot path each
    layer is paid on every request. Errors are rendered here, as the envelope."""

    def __init__(self, state: State) -> None:
        self.state = state
        # What ``state`` holds (keyring, executor, hooks, cache, costs), read from the
        # dict State keeps it in: an attribute of State is found by ``__getattr__``,
        # after a failed lookup and its AttributeError, ~5,000 instructions a read.
        self.services: dict[str, Any] = state._state
        self.repeats = RepeatedBodies()  # bodies answered from the cache, parsed
        # The hooks whose on_request is awaited (``acting_on_request``), for the list
        # they were picked from: hooks are added after this endpoint is built.
        self._picked_from: tuple[Sequence[RequestHook] | None, int] = (None, 0)
        self._acting: list[RequestHook] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            response = await self.respond(scope, receive)
        except GatewayError as exc:
            response = render_error(exc, self.state.secrets)
        except ClientDisconnect:
            return  # gone before its body arrived: nobody to answer
        await response(scope, receive, send)

    async def respond(self, scope: Scope, receive: Receive) -> Response:
        services = self.services
        headers = ClientHeaders(scope=scope)
        first = headers.first
        caller = services["keyring"].authenticate_raw(
            first.get(b"authorization"), first.get(b"api-key")
        )
        body = await read_body(receive)
        repeats = self.repeats
        chat = repeats.get(body)
        if chat is None:
            chat = parse_chat_request(body)
        executor: Executor = services["executor"]
        if not executor.knows(chat.model):
            raise ModelNotFoundError(f"The model '{chat.model}' does not exist", param="model")
        caller.check_model(chat.model)
        scope_state = scope["state"]
        # The headers read on every request, straight from the dict:
        label, given = first.get(b"x-arbiter-task"), first.get(b"cache-control")
        task = _task_named(label.decode("latin-1") if label is not None else None, chat)
        cache_control = given.decode("latin-1") if given is not None else None
        ctx = RequestContext(scope_state["request_id"], caller, chat, task, headers)
        scope_state["context"] = ctx  # the middleware then leaves its access line to the hooks
        hooks: Sequence[RequestHook] = services["hooks"]
        costs: CostHook = services["costs"]
        try:
            for hook in self._acting_hooks(hooks):
                await hook.on_request(ctx)
            async with services["cache"].slot(ctx, cache_control) as cached:
                if cached.answer is not None:
                    repeats.remember(body, chat)  # an answered body is likely to come again
                    return _cached_answer(cached, ctx, hooks, costs)
                if chat.stream:
                    result = await executor.stream(chat)
                    result.rest = cached.record(result)
                else:
                    completion = await executor.complete(chat)
                    stored = await cached.store(completion)  # its JSON, when the cache encoded it
        except GatewayError as exc:
            ctx.fail(exc, hooks)
            raise
        if chat.stream:
            ctx.served_by(result.model, result.target, result.attempts)
            ctx.ttft_s = time.perf_counter() - ctx.started
            return StreamRelay(result, ctx, hooks, _answer_raw_headers(ctx, [], stream=True))
        ctx.served_by(completion.model, completion.target, completion.attempts)
        ctx.usage = completion.response.get("usage")
        ctx.response = completion.response
        costs.price(ctx)
        return FinishingAnswer(stored or orjson.dumps(completion.response), ctx, hooks)

    def _acting_hooks(self, hooks: Sequence[RequestHook]) -> list[RequestHook]:
        """``acting_on_request(hooks)``, picked again whenever ``hooks`` changed size."""
        picked_from, size = self._picked_from
        if picked_from is not hooks or size != len(hooks):
            self._acting = acting_on_request(hooks)
            self._picked_from = (hooks, len(hooks))
        return self._acting


async def read_body(receive: Receive) -> bytes:
    """The whole request body (the size limit is ``RequestContextMiddleware``'s)."""
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientDisconnect()
    if not message.get("more_body", False):
        return message.get("body", b"")  # in one message, as a small body comes
    chunks = [message.get("body", b"")]
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


class FinishingAnswer(Response):
    """A whole 200 answer, already bytes, sent as two ASGI messages without
    ``Response``'s header building; then its request is finished (``ctx.finish``:
    metrics, ledger, access log...). The client does not wait for the hooks: they
    run in the same step of the event loop as the send (uvicorn's final send does
    not yield), so nothing else observes the gap. The cost is priced before
    (``CostHook.price``): it is one of the headers."""

    def __init__(
        self,
        body: bytes,
        ctx: RequestContext,
        hooks: Sequence[RequestHook],
        media_type: bytes = _JSON,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        """``headers``: the answer's raw headers (default: ``_answer_raw_headers``)."""
        self.body = body
        self.status_code = 200
        head = [(b"content-type", media_type), (b"content-length", b"%d" % len(body))]
        self.raw_headers = _answer_raw_headers(ctx, head) if headers is None else head + headers
        self.ctx = ctx
        self.hooks = hooks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            await send({"type": "http.response.body", "body": self.body})
        finally:
            self.ctx.finish(self.hooks)


def _cached_answer(
    cached: CacheSlot, ctx: RequestContext, hooks: Sequence[RequestHook], costs: CostHook
) -> Response:
    """A cache hit: the stored answer, as JSON or replayed as a stream, same headers."""
    assert cached.answer is not None
    costs.price(ctx)
    if ctx.chat.stream:
        headers = _answer_raw_headers(ctx, [], stream=True)
        return FinishingAnswer(cached.replay(), ctx, hooks, SSE_CONTENT_TYPE, headers)
    return FinishingAnswer(cached.answer.body, ctx, hooks)  # the stored JSON, as it was sent

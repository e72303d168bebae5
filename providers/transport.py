"""The only module that talks to the network.

``complete`` and ``stream`` run one upstream attempt through an adapter; every
httpx exception is translated into the taxonomy (``_as_gateway_error``, also
offered as the ``map_transport_errors`` context manager).
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, Iterator
from contextlib import contextmanager

import aiohttp
import httpx

from providers.aiohttp_transport import AiohttpTransport
from providers.base import ProviderAdapter, Target
from providers.errors import GatewayError, UpstreamTimeoutError, UpstreamUnavailableError
from providers.h1_transport import H1Transport
from providers.stream_chunk import Batch, chunk_decoder
from providers.types import ChatChunk, ChatRequest, ChatResponse
from providers.upstream_client import UpstreamClient, read_body

__all__ = [
    "build_client",
    "complete",
    "map_transport_errors",
    "network_transport",
    "stream",
    "stream_batches",
]

_ERROR_BODY_LIMIT = 64 * 1024
# Which transport carries provider traffic: "h1" (default; Arbiter's own HTTP/1.1
# transport, the cheapest that passes the suite, see bench/README.md), "aiohttp"
# (the default when a proxy variable is set: it honours them) or "httpx" (httpcore).
TRANSPORT_ENV = "ARBITER_HTTP_TRANSPORT"
_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


def _proxy_configured() -> bool:
    return any(os.environ.get(n) or os.environ.get(n.lower()) for n in _PROXY_VARIABLES)


def network_transport(limits: httpx.Limits) -> httpx.AsyncBaseTransport:
    """The transport for real upstreams. Only the aiohttp one honours HTTP(S)_PROXY
    and ALL_PROXY, so it is the default when one is set; h1 and httpx's own (built
    here without a client) speak to upstreams directly."""
    proxied = _proxy_configured()
    kind = os.environ.get(TRANSPORT_ENV, "").strip().lower() or ("aiohttp" if proxied else "h1")
    if kind == "h1":
        return H1Transport(limits=limits)
    if kind == "httpx":
        return httpx.AsyncHTTPTransport(limits=limits)
    if kind != "aiohttp":
        raise ValueError(f"{TRANSPORT_ENV} must be 'h1', 'aiohttp' or 'httpx', not {kind!r}")
    return AiohttpTransport(limits=limits, trust_env=proxied)


def build_client(
    *,
    timeout_s: float,
    max_connections: int = 1000,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """The one place provider clients are built, so tests and benchmarks can swap
    the transport. One client per provider, shared by every request."""
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=30.0,
    )
    timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0))
    return UpstreamClient(
        transport=transport or network_transport(limits), timeout=timeout, limits=limits
    )


# What the transports raise when the network fails (aiohttp's own errors are mapped
# by its transport; they are the safety net).
_TRANSPORT_ERRORS = (httpx.HTTPError, httpx.StreamError, aiohttp.ClientError)


def _as_gateway_error(target: Target, exc: BaseException) -> GatewayError:
    """One of ``_TRANSPORT_ERRORS`` as the taxonomy's error."""
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeoutError(
            f"{target.provider} did not answer in time",
            provider=target.provider,
            target=target.id,
            debug=repr(exc),
        )
    return UpstreamUnavailableError(
        f"{target.provider} could not be reached ({type(exc).__name__})",
        provider=target.provider,
        target=target.id,
        debug=repr(exc),
    )


@contextmanager
def map_transport_errors(target: Target) -> Iterator[None]:
    try:
        yield
    except _TRANSPORT_ERRORS as exc:
        raise _as_gateway_error(target, exc) from None


async def _raise_for_status(
    adapter: ProviderAdapter, response: httpx.Response, target: Target
) -> None:
    """Raises the adapter's error for an error status (>= 400), read from at most
    ``_ERROR_BODY_LIMIT`` bytes of the body."""
    body = b""
    async for part in response.aiter_raw():
        body += part
        if len(body) > _ERROR_BODY_LIMIT:
            break
    await response.aclose()
    error = adapter.map_error(response.status_code, response.headers, body)
    error.provider = target.provider
    error.target = target.id
    error.upstream_status = response.status_code
    raise error


async def complete(
    adapter: ProviderAdapter,
    client: httpx.AsyncClient,
    request: ChatRequest,
    target: Target,
) -> ChatResponse:
    """One non-streaming attempt. (A plain try/except, not ``map_transport_errors``:
    a context manager costs ~4k instructions per request.)"""
    upstream = adapter.build_request(request, target)
    try:
        response = await client.send(upstream, stream=True)
        try:
            if response.status_code >= 400:
                await _raise_for_status(adapter, response, target)
            await read_body(response)
        except BaseException:
            await response.aclose()
            raise
    except _TRANSPORT_ERRORS as exc:
        raise _as_gateway_error(target, exc) from None
    try:
        return adapter.parse_response(response, request, target)
    except GatewayError as exc:
        exc.provider, exc.target = target.provider, target.id
        raise
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise UpstreamUnavailableError(
            f"{target.provider} sent a malformed response",
            provider=target.provider,
            target=target.id,
            debug=repr(exc),
        ) from None


async def stream_batches(
    adapter: ProviderAdapter,
    client: httpx.AsyncClient,
    request: ChatRequest,
    target: Target,
) -> AsyncGenerator[Batch, None]:
    """One streaming attempt: a batch of chunks per upstream read that made any,
    as the bytes arrive (nothing waits for more).

    The upstream response is closed when the iterator ends, fails or is closed
    early (a client that went away), so no connection leaks. The body is read
    from the transport's stream itself: ``Response.aiter_raw`` would add a
    generator, a re-chunker and a context manager to every read, and closes
    the response, which ``finally`` does here anyway.
    """
    upstream = adapter.build_request(request, target)
    decoder = chunk_decoder(adapter.new_stream_decoder(request, target))
    try:
        response = await client.send(upstream, stream=True)
    except _TRANSPORT_ERRORS as exc:
        raise _as_gateway_error(target, exc) from None
    try:
        body = response.stream
        if not isinstance(body, httpx.AsyncByteStream):
            raise RuntimeError("Attempted to call an async iterator on an sync stream.")
        try:
            if response.status_code >= 400:
                await _raise_for_status(adapter, response, target)
            async for data in body:
                batch = decoder.feed_chunks(data)
                if batch:
                    yield batch
        except _TRANSPORT_ERRORS as exc:
            raise _as_gateway_error(target, exc) from None
        batch = decoder.close_chunks()
        if batch:
            yield batch
    except GatewayError as exc:
        exc.provider = exc.provider or target.provider
        exc.target = exc.target or target.id
        raise
    finally:
        await response.aclose()


async def stream(
    adapter: ProviderAdapter,
    client: httpx.AsyncClient,
    request: ChatRequest,
    target: Target,
) -> AsyncGenerator[ChatChunk, None]:
    """``stream_batches``, one chunk at a time."""
    batches = stream_batches(adapter, client, request, target)
    try:
        async for batch in batches:
            for piece in batch:
                yield piece.chunk
    finally:
        await batches.aclose()

"""The only module that talks to the network.

``complete`` and ``stream`` run one upstream attempt through an adapter; every
httpx exception is translated into the taxonomy in ``map_transport_errors``.
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
from providers.stream_chunk import Batch, chunk_decoder
from providers.types import ChatChunk, ChatRequest, ChatResponse
from providers.upstream_client import UpstreamClient

__all__ = [
    "build_client",
    "complete",
    "map_transport_errors",
    "network_transport",
    "stream",
    "stream_batches",
]

_ERROR_BODY_LIMIT = 64 * 1024
# Which transport carries provider traffic: "aiohttp" (default; the fastest that
# passes the suite, see bench/README.md) or "httpx" (httpx's own httpcore transport).
TRANSPORT_ENV = "ARBITER_HTTP_TRANSPORT"
_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


def _proxy_configured() -> bool:
    return any(os.environ.get(n) or os.environ.get(n.lower()) for n in _PROXY_VARIABLES)


def network_transport(limits: httpx.Limits) -> httpx.AsyncBaseTransport:
    """The transport for real upstreams. The aiohttp one honours HTTP(S)_PROXY and
    ALL_PROXY when set; httpx's own, built here without a client, does not."""
    kind = os.environ.get(TRANSPORT_ENV, "aiohttp").strip().lower()
    if kind == "httpx":
        return httpx.AsyncHTTPTransport(limits=limits)
    if kind != "aiohttp":
        raise ValueError(f"{TRANSPORT_ENV} must be 'aiohttp' or 'httpx', not {kind!r}")
    return AiohttpTransport(limits=limits, trust_env=_proxy_configured())


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


@contextmanager
def map_transport_errors(target: Target) -> Iterator[None]:
    try:
        yield
    except httpx.TimeoutException as exc:
        raise UpstreamTimeoutError(
            f"{target.provider} did not answer in time",
            provider=target.provider,
            target=target.id,
            debug=repr(exc),
        ) from None
    except (httpx.HTTPError, httpx.StreamError, aiohttp.ClientError) as exc:
        # aiohttp's own errors are mapped by its transport; this is the safety net.
        raise UpstreamUnavailableError(
            f"{target.provider} could not be reached ({type(exc).__name__})",
            provider=target.provider,
            target=target.id,
            debug=repr(exc),
        ) from None


async def _raise_for_status(
    adapter: ProviderAdapter, response: httpx.Response, target: Target
) -> None:
    if response.status_code < 400:
        return
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
    """One non-streaming attempt."""
    upstream = adapter.build_request(request, target)
    with map_transport_errors(target):
        response = await client.send(upstream, stream=True)
        try:
            await _raise_for_status(adapter, response, target)
            await response.aread()
        finally:
            await response.aclose()
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
    early (a client that went away), so no connection leaks.
    """
    upstream = adapter.build_request(request, target)
    decoder = chunk_decoder(adapter.new_stream_decoder(request, target))
    with map_transport_errors(target):
        response = await client.send(upstream, stream=True)
    try:
        with map_transport_errors(target):
            await _raise_for_status(adapter, response, target)
            async for data in response.aiter_raw():
                batch = decoder.feed_chunks(data)
                if batch:
                    yield batch
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

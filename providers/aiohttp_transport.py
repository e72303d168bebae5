"""An httpx transport that sends requests with aiohttp.

httpx stays the client API (``httpx.Request``/``httpx.Response`` are the provider
contract's types and ``MockTransport`` serves the tests), but its default
transport (httpcore) costs about five times more CPU per request than aiohttp's
client on the same loop; see bench/README.md. This is the network half of
``providers/transport.py``: only ``build_client`` creates one.

Errors leave as httpx exceptions, so ``map_transport_errors`` keeps one job:

  aiohttp                                  httpx
  ConnectionTimeoutError (pool + connect)  ConnectTimeout
  SocketTimeoutError, other timeouts       ReadTimeout
  ClientConnectorError (refused, DNS, TLS) ConnectError
  ServerDisconnectedError, reset, OSError  ReadError (RemoteProtocolError before a response)
  ClientPayloadError (bad chunked, short)  RemoteProtocolError
  InvalidURL / NonHttpUrlClientError       UnsupportedProtocol
  any other aiohttp.ClientError            TransportError
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import aiohttp
import httpx
import yarl

__all__ = ["AiohttpTransport", "map_aiohttp_errors"]

# Send exactly the headers httpx.Request carries: no Accept-Encoding (bodies are
# relayed as sent), no aiohttp User-Agent, no guessed Accept or Content-Type.
_SKIP_AUTO_HEADERS = frozenset({"Accept", "Accept-Encoding", "Content-Type", "User-Agent"})
_MAX_HEADER_LINE = 64 * 1024  # aiohttp's default (8 KiB) is below what some upstreams send


@contextmanager
def map_aiohttp_errors(*, responded: bool) -> Iterator[None]:
    """aiohttp's exceptions as the httpx exceptions httpcore would have raised.

    ``responded``: the status line has arrived, so a dropped connection is a read
    error rather than a server that answered nothing."""
    try:
        yield
    except aiohttp.ConnectionTimeoutError as exc:
        raise httpx.ConnectTimeout(str(exc) or "connect timed out") from exc
    except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
        raise httpx.ReadTimeout(str(exc) or "read timed out") from exc
    except aiohttp.ClientConnectorError as exc:
        raise httpx.ConnectError(str(exc)) from exc
    except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
        if isinstance(exc, aiohttp.ClientPayloadError) or not responded:
            raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__) from exc
        raise httpx.ReadError(str(exc) or type(exc).__name__) from exc
    except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError) as exc:
        raise httpx.UnsupportedProtocol(str(exc)) from exc
    except aiohttp.ClientError as exc:
        raise httpx.TransportError(str(exc) or type(exc).__name__) from exc


class _ResponseStream(httpx.AsyncByteStream):
    """The body of an aiohttp response, chunk by chunk as it arrives."""

    __slots__ = ("_response",)

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        content = self._response.content
        with map_aiohttp_errors(responded=True):
            while True:
                chunk = await content.readany()
                if not chunk:
                    return
                yield chunk

    async def aclose(self) -> None:
        response = self._response
        if response.content.is_eof():
            response.release()  # read to the end: the connection goes back to the pool
        else:
            response.close()  # abandoned: drop the connection so the upstream stops


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One aiohttp session (one connection pool) behind one httpx client.

    The session is made on first use, inside the running loop. Cookies are never
    kept (a gateway must not carry one caller's upstream cookies to the next)."""

    def __init__(
        self,
        *,
        limits: httpx.Limits,
        ssl_context: ssl.SSLContext | bool = True,
        trust_env: bool = False,
    ) -> None:
        self._limits = limits
        self._ssl = ssl_context
        self._trust_env = trust_env  # proxy variables (and .netrc), as httpx's trust_env
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}

    def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self._limits.max_connections or 0,
            limit_per_host=0,
            keepalive_timeout=self._limits.keepalive_expiry or 15.0,
            ssl=self._ssl,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            skip_auto_headers=_SKIP_AUTO_HEADERS,
            timeout=aiohttp.ClientTimeout(total=None),
            trust_env=self._trust_env,
            max_line_size=_MAX_HEADER_LINE,
            max_field_size=_MAX_HEADER_LINE,
        )
        return self._session

    def _timeout(self, request: httpx.Request) -> aiohttp.ClientTimeout:
        """httpx's per-request timeouts as aiohttp's, built once per distinct value."""
        given = request.extensions.get("timeout") or {}
        key = (given.get("connect"), given.get("read"), given.get("pool"))
        timeout = self._timeouts.get(key)
        if timeout is None:
            connect, read, pool = key
            phase = None if connect is None or pool is None else connect + pool
            timeout = aiohttp.ClientTimeout(
                total=None, connect=phase, sock_connect=connect, sock_read=read
            )
            self._timeouts[key] = timeout
        return timeout

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session or self._open()
        try:
            data: bytes | httpx.AsyncByteStream | None = request.content or None
        except httpx.RequestNotRead:
            data = request.stream  # type: ignore[assignment]
        headers = [
            (name, value)
            for name, value in request.headers.multi_items()
            if name != "transfer-encoding"  # aiohttp frames the body itself
        ]
        with map_aiohttp_errors(responded=False):
            response = await session.request(
                request.method,
                # encoded=True: the path goes out byte for byte as httpx encoded it
                # (yarl would turn %3A into ':' and break signed requests)
                yarl.URL(str(request.url), encoded=True),
                headers=headers,
                data=data,
                allow_redirects=False,
                timeout=self._timeout(request),
                server_hostname=request.extensions.get("sni_hostname"),
            )
        extensions: dict[str, object] = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode("latin-1", "replace")
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            stream=_ResponseStream(response),
            request=request,
            extensions=extensions,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

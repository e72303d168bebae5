"""The httpx client that carries provider traffic, with a lean ``send``.

A provider request needs none of ``httpx.AsyncClient.send``'s per-request
machinery: adapters set auth headers themselves, redirects are never followed,
event hooks are unused, and a cookie jar is wrong for a gateway (one caller's
upstream cookies must never ride along on the next caller's request). What is
left is the client's timeout and the transport. Skipping the rest, including
httpx's INFO log line for every request, saves about 0.1 ms of CPU per request
(see bench/README.md).

The client is still an ``httpx.AsyncClient``: its transport is swappable (tests
pass ``httpx.MockTransport``) and ``aclose`` closes the pool.
"""

from __future__ import annotations

from typing import Any

import httpx

__all__ = [
    "JsonPost",
    "UpstreamClient",
    "read_body",
    "request_headers",
    "take_plain_body",
    "unread_plain_body",
]


def request_headers(url: httpx.URL, headers: dict[str, str]) -> httpx.Headers:
    """A deployment's fixed request headers, Host included, built once: ``JsonPost``
    copies them per request instead of normalising every name again. Content-Length
    is each request's own (``JsonPost`` adds it)."""
    fixed = {k: v for k, v in headers.items() if k.lower() != "content-length"}
    return httpx.Headers({"Host": url.netloc.decode("ascii"), **fixed})


class JsonPost(httpx.Request):
    """``httpx.Request("POST", url, headers=..., content=body)``, about four times
    cheaper (~9k instead of ~37k instructions): the URL is the deployment's,
    already parsed (``httpx.URL`` is immutable, so it is shared), the headers are
    copied from a template that is already normalised, and the body is the
    request's content from the start.

    ``httpx.Request.__init__`` would parse the URL again and copy the headers a
    second time, and ``Headers.__setitem__`` scans every header for duplicates;
    Content-Length is appended to the copy's list instead (the template never
    has one). The instance is an ordinary ``httpx.Request`` to everything that
    reads it (transports, ``httpx.MockTransport`` in tests).
    """

    def __init__(self, url: httpx.URL, headers: httpx.Headers, body: bytes) -> None:
        self.method = "POST"
        self.url = url
        copied = httpx.Headers(headers)
        length = b"%d" % len(body)
        copied._list.append((b"Content-Length", b"content-length", length))
        self.headers = copied
        self.extensions = {}
        self.stream = httpx.ByteStream(body)
        self._content = body  # what ``Request.read`` would store: ``.content`` works


def unread_plain_body(response: httpx.Response) -> bool:
    """Is the body still in the transport's stream, and not content-encoded?"""
    return (
        isinstance(response.stream, httpx.AsyncByteStream)
        and not response.is_stream_consumed
        and not response.is_closed
        and not _content_encoded(response.headers)
    )


def _content_encoded(headers: httpx.Headers) -> bool:
    """``"content-encoding" in headers``, from the list of (name, lowercased name,
    value) that ``httpx.Headers`` keeps: its lookup normalises the name and first
    works out the headers' charset, ~12k instructions for two headers and ~45k for
    an API's usual sixteen, where this scan costs a fraction."""
    return b"content-encoding" in [name for _, name, _ in headers._list]


async def take_plain_body(response: httpx.Response) -> bytes:
    """What ``Response.aread`` returns for an ``unread_plain_body``, read straight
    from the transport's stream and stored where ``aread`` stores it (``.content``
    then works), the response closed. httpx's own path (a decoder, a re-chunker,
    two async generators, byte counting, a context manager per layer) costs ~9 us
    per JSON answer for nothing when the body is not encoded."""
    stream = response.stream
    assert isinstance(stream, httpx.AsyncByteStream)
    response.is_stream_consumed = True
    pieces = [piece async for piece in stream]
    content = pieces[0] if len(pieces) == 1 else b"".join(pieces)
    response._content = content
    response.is_closed = True
    await stream.aclose()
    return content


async def read_body(response: httpx.Response) -> bytes:
    """The body of a response opened with ``stream=True``; the response is closed
    (its connection released) once it is read."""
    if unread_plain_body(response):
        return await take_plain_body(response)
    try:
        return await response.aread()
    finally:
        await response.aclose()


class UpstreamClient(httpx.AsyncClient):
    def __init__(
        self,
        *,
        transport: httpx.AsyncBaseTransport,
        timeout: httpx.Timeout,
        limits: httpx.Limits,
    ) -> None:
        super().__init__(
            timeout=timeout,
            limits=limits,
            transport=transport,
            follow_redirects=False,
            trust_env=False,  # the transport decides about proxies (see build_client)
        )
        self.network = transport
        self._timeout_extension = timeout.as_dict()

    async def send(
        self, request: httpx.Request, *, stream: bool = False, **options: Any
    ) -> httpx.Response:
        """Sends ``request`` as is; only ``stream`` is supported as an option."""
        if options:
            raise TypeError(f"UpstreamClient.send takes no {', '.join(options)}")
        if self.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        request.extensions.setdefault("timeout", self._timeout_extension)
        response = await self.network.handle_async_request(request)
        response.request = request
        if not stream:
            try:
                await response.aread()
            except BaseException:
                await response.aclose()
                raise
        return response

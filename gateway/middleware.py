"""Pure-ASGI middleware: request id, size limits, last-resort error rendering, and
the access line of requests that never reached a chat context.

Pure ASGI (not BaseHTTPMiddleware) so streaming responses pass through untouched.
One layer does all of it: every layer wraps ``send`` and adds a coroutine frame
that each response message and each resumption of the request pays for.
"""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.access_log import is_logged, log_without_context
from gateway.errors import render_error
from providers.errors import HeadersTooLargeError, InternalError, RequestTooLargeError

__all__ = ["RequestContextMiddleware"]

log = logging.getLogger("arbiter.errors")
_MAX_REQUEST_ID = 128
# Request ids: 32 hex digits, this process's random half then a counter. No
# syscall per request (uuid4 reads the OS's random source each time); distinct
# across workers and restarts through the random half.
_ID_PREFIX = os.urandom(8).hex()
_id_counter = itertools.count(1)


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_id_counter):016x}"


class RequestContextMiddleware:
    """Gives every request an id (the client's ``x-request-id`` if it sent one) and
    echoes it on every response; refuses bodies over ``max_body_bytes`` before
    reading them whole; renders any escaped exception as the OpenAI envelope. With
    ``access_log``, writes the access line of a request that never got a chat
    context (``gateway.access_log.log_without_context``)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        max_header_bytes: int = 65536,
        secrets: Iterable[str] = (),
        access_log: bool = False,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_header_bytes = max_header_bytes
        self.secrets = tuple(secrets)
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        logged = self.access_log and is_logged(scope["path"])
        arrived, began = (time.time(), time.perf_counter()) if logged else (0.0, 0.0)
        given = length = None
        header_bytes = 0
        framed = True  # the body's length is the declared one (not chunked)
        for key, value in scope["headers"]:  # one pass: id, declared length, total size
            header_bytes += len(key) + len(value)
            if key == b"x-request-id":
                given = value
            elif key == b"content-length":
                length = value
            elif key == b"transfer-encoding":
                framed = False
        request_id = given.decode("latin-1")[:_MAX_REQUEST_ID] if given else new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        id_header = (b"x-request-id", request_id.encode("latin-1"))
        status = 0  # none sent yet

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), id_header]
            await send(message)

        try:
            if header_bytes > self.max_header_bytes:
                await self._error(
                    send_with_id,
                    HeadersTooLargeError(
                        f"the request headers are larger than {self.max_header_bytes} bytes"
                    ),
                )
                return
            declared = int(length) if length is not None and length.isdigit() else None
            if declared is not None and declared > self.max_body_bytes:
                await self._error(send_with_id, self._too_large())
                return
            # A declared length within the limit is the server's to enforce (it reads no
            # more than Content-Length); only bodies of unknown length are counted here.
            if declared is None or not framed:
                receive = self._counting(receive)
            try:
                await self.app(scope, receive, send_with_id)
            except Exception as exc:  # noqa: BLE001 - the outermost handler, by design
                if status:
                    raise
                if isinstance(exc, RequestTooLargeError):
                    await self._error(send_with_id, exc)
                    return
                log.exception("unhandled error on %s", scope.get("path"))
                await self._error(send_with_id, InternalError("the gateway hit an internal error"))
        finally:
            if logged:
                log_without_context(scope, status or 500, arrived, began)

    def _counting(self, receive: Receive) -> Receive:
        """``receive``, refusing the body once it passes ``max_body_bytes``."""
        seen = 0

        async def receive_limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    raise self._too_large()
            return message

        return receive_limited

    def _too_large(self) -> RequestTooLargeError:
        return RequestTooLargeError(f"the request body is larger than {self.max_body_bytes} bytes")

    async def _error(self, send: Send, error: Exception) -> None:
        assert isinstance(error, (RequestTooLargeError, HeadersTooLargeError, InternalError))
        response = render_error(error, self.secrets)
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": response.raw_headers,
            }
        )
        await send({"type": "http.response.body", "body": response.body})

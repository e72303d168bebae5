"""The SSE answer of a streamed chat request: relays the upstream's batches as they come.

``StreamRelay`` is the response ``gateway.api.chat`` returns once a stream has
its first chunks (failover is over). Each batch (whatever one upstream read
decoded) goes to the server as one body message, so a burst of events costs one
write, not one per event; nothing waits for more. ``[DONE]`` rides on the last
message. A failure after the first byte ends the stream with one OpenAI-shaped
error event and ``[DONE]``, never a hang. A client that goes away stops the
relay at once, which closes the upstream stream (the provider stops generating).

The request's hooks run once the stream has ended, before its last bytes go
out, so whoever reads the metrics after the stream sees it counted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gateway.context import RequestContext, RequestHook
from gateway.errors import error_body, resolve_error
from providers.errors import GatewayError
from providers.sse import DONE, encode_data
from providers.stream_chunk import Batch
from providers.types import ChatChunk
from routing.attempts import StreamResult

__all__ = ["StreamRelay", "sse_body"]

# Ends a request: its latency, then every hook's on_response (gateway.api.chat's).


def sse_body(batch: Batch, include_usage: bool, kept: list[ChatChunk] | None = None) -> bytes:
    """The SSE bytes of a batch. The usage-only chunk is withheld from clients that
    did not ask for it (``stream_options.include_usage``); ``kept``, when given,
    gets every chunk, withheld or not."""
    parts: list[bytes] = []
    for piece in batch:
        if kept is not None:
            kept.append(piece.chunk)
        if include_usage or not piece.usage_only():
            parts += (b"data: ", piece.data, b"\n\n")
    return b"".join(parts)


class _Hangup:
    """Cancels the relaying task if the client disconnects while it relays."""

    __slots__ = ("gone", "_task", "_waiter")

    def __init__(self, receive: Receive) -> None:
        self.gone = False
        self._task = asyncio.current_task()
        self._waiter: asyncio.Future[None] | None = asyncio.ensure_future(_disconnect(receive))
        self._waiter.add_done_callback(self._heard)

    def _heard(self, waiter: asyncio.Future[None]) -> None:
        if self._waiter is None or waiter.cancelled() or waiter.exception() is not None:
            return
        self.gone = True
        if self._task is not None:
            self._task.cancel()

    def stop(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            waiter.cancel()


async def _disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class StreamRelay(Response):
    """A streamed answer: status 200, ``text/event-stream``, the chunks as they come."""

    media_type = "text/event-stream"

    def __init__(
        self,
        result: StreamResult,
        ctx: RequestContext,
        hooks: Sequence[RequestHook],
        headers: dict[str, str],
    ) -> None:
        self.status_code = 200
        self.background = None
        self._result = result
        self._ctx = ctx
        self._hooks = hooks
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        hangup = _Hangup(receive)
        try:
            tail = await self._relay(send, hangup)
        except asyncio.CancelledError:
            if not hangup.gone:
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()  # our own doing: the client left, nothing more to send
            return
        await send({"type": "http.response.body", "body": tail, "more_body": False})

    async def _relay(self, send: Send, hangup: _Hangup) -> bytes:
        """Relays every batch; returns the stream's last bytes, sent once the
        hooks have run."""
        result, ctx = self._result, self._ctx
        include_usage = ctx.chat.include_usage
        kept = ctx.chunks  # None unless a hook asked for the streamed chunks
        ctx.status = "cancelled"  # until the stream ends one way or the other
        try:
            body = sse_body(result.first, include_usage, kept)
            if body:
                await send({"type": "http.response.body", "body": body, "more_body": True})
            async for batch in result.rest:
                body = sse_body(batch, include_usage, kept)
                if body:
                    await send({"type": "http.response.body", "body": body, "more_body": True})
            ctx.status = "ok"
            return DONE
        except GatewayError as exc:
            ctx.status, ctx.error = "error", exc
            return encode_data(error_body(resolve_error(exc))) + DONE
        finally:
            hangup.stop()  # from here on, cleanup runs to its end
            await result.rest.aclose()  # type: ignore[attr-defined]
            ctx.usage = result.attempt.usage
            ctx.finish(self._hooks)

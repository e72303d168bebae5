"""The SSE answer of a streamed chat request: relays the upstream's batches as they come.

``StreamRelay`` is the response ``gateway.api.chat`` returns once a stream has
its first chunks (failover is over). Each batch (whatever one upstream read
decoded) goes to the server as one body message, so a burst of events costs one
write, not one per event; nothing waits for more. ``[DONE]`` rides on the last
message: a batch that came with the upstream's own end (``FinalBatch``) waits
for that end (the rest of the upstream's body, already on its way) and goes
out with ``[DONE]`` in one write. A failure after the first byte ends the
stream with one OpenAI-shaped error event and ``[DONE]``, never a hang. A
client that goes away stops the relay at once, which closes the upstream
stream (the provider stops generating).

The request's hooks run once the stream has ended, before its last bytes go
out, so whoever reads the metrics after the stream sees it counted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from gateway.context import RequestContext, RequestHook
from gateway.errors import error_body, resolve_error
from providers.errors import GatewayError
from providers.sse import DONE, encode_data
from providers.stream_chunk import Batch, FinalBatch
from providers.types import ChatChunk
from routing.attempts import StreamResult

__all__ = ["SSE_CONTENT_TYPE", "StreamRelay", "raw_headers", "sse_body"]

SSE_CONTENT_TYPE = b"text/event-stream; charset=utf-8"


def sse_body(batch: Batch, include_usage: bool, kept: list[ChatChunk] | None = None) -> bytes:
    """The SSE bytes of a batch. The usage-only chunk is withheld from clients that
    did not ask for it (``stream_options.include_usage``); ``kept``, when given,
    gets every chunk, withheld or not."""
    if kept is not None:
        kept += [piece.chunk for piece in batch]
    datas = [
        piece.data
        for piece in batch
        if piece.usage is None or include_usage or not piece.usage_only()
    ]
    if not datas:
        return b""
    return b"data: " + b"\n\ndata: ".join(datas) + b"\n\n"


class _Hangup:
    """Cancels the relaying task if the client disconnects while it relays.

    Listening takes a task of its own, so it starts only once the relay lets
    the event loop run (it waits for the upstream, or the client reads slowly):
    a stream that is over without waiting, as a fast upstream's often is, never
    pays for it, and the first bytes go out before any of it is set up."""

    __slots__ = ("gone", "_receive", "_start", "_task", "_waiter")

    def __init__(self, receive: Receive) -> None:
        self.gone = False
        self._receive = receive
        self._task: asyncio.Task[object] | None = None
        self._start: asyncio.Handle | None = None
        self._waiter: asyncio.Task[None] | None = None

    def arm(self) -> None:
        """From now on, a client that leaves cancels the current task."""
        self._task = asyncio.current_task()
        self._start = asyncio.get_running_loop().call_soon(self._listen)

    def _listen(self) -> None:
        self._start = None
        self._waiter = asyncio.get_running_loop().create_task(_disconnect(self._receive))
        self._waiter.add_done_callback(self._heard)

    def _heard(self, waiter: asyncio.Task[None]) -> None:
        if self._waiter is None or waiter.cancelled() or waiter.exception() is not None:
            return
        self.gone = True
        if self._task is not None:
            self._task.cancel()

    def stop(self) -> None:
        start, self._start = self._start, None
        if start is not None:
            start.cancel()
        waiter, self._waiter = self._waiter, None
        if waiter is not None:
            waiter.cancel()


async def _disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def raw_headers(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    """Header names and values as an ASGI server takes them (latin-1 bytes)."""
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


class StreamRelay(Response):
    """A streamed answer: status 200, ``text/event-stream``, the chunks as they come."""

    media_type = "text/event-stream"

    def __init__(
        self,
        result: StreamResult,
        ctx: RequestContext,
        hooks: Sequence[RequestHook],
        headers: list[tuple[bytes, bytes]],
    ) -> None:
        """``headers``: the answer's own, as raw as ``raw_headers`` makes them."""
        self.status_code = 200
        self.background = None
        self._result = result
        self._ctx = ctx
        self._hooks = hooks
        self.raw_headers = [*headers, (b"content-type", SSE_CONTENT_TYPE)]

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
        """Relays every batch; returns the stream's last bytes (a final batch's
        included), sent once the hooks have run."""
        result, ctx = self._result, self._ctx
        include_usage = ctx.chat.include_usage
        kept = ctx.chunks  # None unless a hook asked for the streamed chunks
        ctx.status = "cancelled"  # until the stream ends one way or the other
        held = b""  # a final batch's bytes, waiting for the upstream's end
        try:
            body = sse_body(result.first, include_usage, kept)
            if type(result.first) is FinalBatch:
                held = body
            elif body:
                await send({"type": "http.response.body", "body": body, "more_body": True})
            hangup.arm()
            async for batch in result.rest:
                body = held + sse_body(batch, include_usage, kept)
                held = b""
                if type(batch) is FinalBatch:
                    held = body
                elif body:
                    await send({"type": "http.response.body", "body": body, "more_body": True})
            ctx.status = "ok"
            return held + DONE
        except GatewayError as exc:
            ctx.status, ctx.error = "error", exc
            return held + encode_data(error_body(resolve_error(exc))) + DONE
        finally:
            hangup.stop()  # from here on, cleanup runs to its end
            await result.rest.aclose()  # type: ignore[attr-defined]
            ctx.usage = result.attempt.usage
            ctx.finish(self._hooks)

"""The rest of a stream once its first chunk is out: failover is over.

``ObservedStream`` relays the upstream's chunks, a batch per upstream read,
keeps the request's deadline (a stream that runs past it ends with a timeout
error, which the gateway turns into one error event), and reports the attempt
exactly once, however the stream ends: finished, failed, or closed early by a
reader that went away.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from typing import NoReturn

from providers.base import Target
from providers.errors import GatewayError, UpstreamTimeoutError
from providers.stream_chunk import Batch, StreamChunk
from providers.tokens import StreamMeter
from routing.attempts import Attempt
from routing.deadline import Deadline

__all__ = ["ObservedStream", "StreamEnd", "deadline_error"]

# (attempt, error or None, perf_counter at start, closed early by the reader)
StreamEnd = Callable[[Attempt, GatewayError | None, float, bool], None]


def deadline_error(target: Target | None) -> UpstreamTimeoutError:
    return UpstreamTimeoutError(
        "the request did not finish within the gateway's deadline (routing.timeout_s)",
        provider=target.provider if target else None,
        target=target.id if target else None,
    )


class ObservedStream:
    """The rest of a stream: relays batches of chunks until the deadline, then
    reports the attempt exactly once, however it ends (finished, failed, or
    closed early)."""

    def __init__(
        self,
        chunks: AsyncGenerator[Batch, None],
        attempt: Attempt,
        started: float,
        deadline: Deadline,
        on_end: StreamEnd,
        meter: StreamMeter,
    ) -> None:
        self._on_end = on_end
        self._meter = meter
        self._chunks = chunks
        self._attempt = attempt
        self._started = started
        self._deadline = deadline
        self._done = False

    def __aiter__(self) -> ObservedStream:
        return self

    def observe(self, batch: Batch) -> None:
        """Notes what a batch reports (the executor calls it for the first one)."""
        self._meter.observe_batch(batch)
        for piece in batch:
            if piece.usage is not None:
                self._attempt.usage = piece.usage

    async def __anext__(self) -> Batch:
        if self._done:
            raise StopAsyncIteration
        deadline = self._deadline
        if deadline.passed():
            await self._timed_out()
        deadline.arm()
        try:
            batch = await self._chunks.__anext__()
        except StopAsyncIteration:
            deadline.disarm()
            if not self._meter.usage_seen:
                # The upstream sent no usage: close with one counted locally, so
                # accounting always has it (the gateway shows it only if asked).
                closing = self._meter.usage_chunk()
                self._attempt.usage = closing.get("usage")
                await self._finish(None)
                return [StreamChunk.of(closing)]
            await self._finish(None)
            raise
        except GatewayError as exc:
            deadline.disarm()
            await self._finish(exc)
            raise
        except asyncio.CancelledError:
            deadline.disarm()
            if not deadline.caused():
                raise  # the reader went away; aclose() reports the attempt
            await self._timed_out()
        deadline.disarm()
        self.observe(batch)
        return batch

    async def _timed_out(self) -> NoReturn:
        error = deadline_error(self._attempt.target)
        await self._finish(error)
        raise error

    async def aclose(self) -> None:
        """Closed before the end (the caller went away): not the deployment's fault."""
        await self._finish(None, cancelled=True)

    async def _finish(self, error: GatewayError | None, *, cancelled: bool = False) -> None:
        if self._done:
            return
        self._done = True
        self._deadline.close()
        await self._chunks.aclose()
        if self._attempt.usage is None:
            self._attempt.usage = self._meter.usage()  # a stream cut short: what it streamed
        self._on_end(self._attempt, error, self._started, cancelled)

"""What every translating stream decoder does the same way.

A decoder turns upstream stream events into OpenAI chunks (``StreamDecoder`` in
``providers/base.py``). ``EventDecoder`` holds the parts they share: the rule
that an error event after some chunks of one read is raised on the next call,
so the chunks before it still reach the caller (``_relay``); reading an event's
JSON; and the two errors of a broken stream.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

import orjson

from providers.errors import GatewayError, UpstreamUnavailableError
from providers.sse import SSEEvent
from providers.types import ChatChunk

__all__ = ["EventDecoder"]

_Event = TypeVar("_Event")


class EventDecoder:
    __slots__ = ("_pending", "_provider")

    def __init__(self, provider: str) -> None:
        self._provider = provider
        self._pending: GatewayError | None = None

    def _relay(
        self, events: Iterable[_Event], handle: Callable[[_Event], list[ChatChunk]]
    ) -> list[ChatChunk]:
        """The chunks ``handle`` makes of each event. An error that ``handle`` raises
        after earlier events made chunks is kept for the next call (an error raised
        while ``events`` is iterated is not: it propagates at once)."""
        self._raise_pending()
        chunks: list[ChatChunk] = []
        for event in events:
            try:
                chunks.extend(handle(event))
            except GatewayError as exc:
                if not chunks:
                    raise
                self._pending = exc
                break
        return chunks

    def _raise_pending(self) -> None:
        if self._pending is not None:
            error, self._pending = self._pending, None
            raise error

    def _loads(self, data: str | bytes) -> Any:
        """An event's JSON; an event that is not JSON fails the stream."""
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            raise UpstreamUnavailableError(
                f"{self._provider} sent a malformed stream event",
                provider=self._provider,
                debug=data,
            ) from None

    def _json_objects(self, events: Iterable[SSEEvent]) -> Iterator[dict[str, Any]]:
        """The JSON objects of SSE events, skipping other JSON values."""
        for event in events:
            payload = self._loads(event.data)
            if isinstance(payload, dict):
                yield payload

    def _ended_early(self) -> UpstreamUnavailableError:
        return UpstreamUnavailableError(
            f"{self._provider} ended the stream early", provider=self._provider
        )

"""AWS event-stream framing, decoded incrementally with botocore's parser.

Bytes arrive cut anywhere; ``EventStreamDecoder.feed`` returns each complete
message as (headers, payload) once all its bytes are in. Checksums are verified
by botocore; a corrupt frame is an upstream failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from providers.errors import InvalidRequestError, UpstreamUnavailableError

try:  # botocore is the optional extra ``bedrock``
    from botocore.eventstream import EventStreamBuffer, ParserError
except ImportError:  # pragma: no cover - exercised only without the extra
    EventStreamBuffer = None  # type: ignore[assignment,misc]
    ParserError = Exception  # type: ignore[assignment,misc]

__all__ = ["EventMessage", "EventStreamDecoder", "require_botocore"]


def require_botocore() -> None:
    if EventStreamBuffer is None:
        raise InvalidRequestError(
            "the bedrock provider needs botocore: pip install 'arbiter-gateway[bedrock]'"
        )


@dataclass(frozen=True, slots=True)
class EventMessage:
    headers: dict[str, Any]
    payload: bytes

    @property
    def message_type(self) -> str:
        return str(self.headers.get(":message-type") or "event")

    @property
    def event_type(self) -> str:
        return str(self.headers.get(":event-type") or self.headers.get(":exception-type") or "")


class EventStreamDecoder:
    def __init__(self, provider: str) -> None:
        require_botocore()
        self._buffer = EventStreamBuffer()
        self._provider = provider
        self._pending = 0

    def feed(self, data: bytes) -> list[EventMessage]:
        self._buffer.add_data(data)
        self._pending += len(data)
        messages: list[EventMessage] = []
        try:
            for message in self._buffer:
                messages.append(EventMessage(dict(message.headers), bytes(message.payload)))
                self._pending -= message.prelude.total_length
        except ParserError as exc:
            raise UpstreamUnavailableError(
                f"{self._provider} sent a corrupt event-stream frame",
                provider=self._provider,
                debug=repr(exc),
            ) from None
        return messages

    def close(self) -> None:
        if self._pending:
            raise UpstreamUnavailableError(
                f"{self._provider} ended the stream inside a frame", provider=self._provider
            )

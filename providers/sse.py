"""Server-sent events, sans-I/O: bytes in, events out; chunks in, bytes out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["DONE", "RawEvent", "SSEEvent", "SSEParser", "encode_data", "encode_event"]

DONE = b"data: [DONE]\n\n"


@dataclass(slots=True)
class SSEEvent:
    data: str
    event: str | None = None
    id: str | None = None
    retry: int | None = None


RawEvent = tuple[bytes, str | None, str | None, int | None]  # data, event, id, retry


class SSEParser:
    """Incremental parser for the text/event-stream format (WHATWG HTML, 9.2.6).

    Feed it bytes cut anywhere, even inside a multi-byte character or a line ending;
    it returns each event once its blank line has arrived. ``feed`` gives
    ``SSEEvent``s; ``feed_raw`` gives (data, event, id, retry) with the data as
    the bytes that came, for a relay that passes them on; ``feed_data`` gives
    just the data of each event, cheaper still, when a read holds nothing else.
    """

    __slots__ = ("_buffer", "_data", "_event", "_id", "_retry")

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[bytes] = []
        self._event: str | None = None
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        return _events(self.feed_raw(chunk))

    def close(self) -> list[SSEEvent]:
        """Dispatch a final event that had no trailing blank line (lenient upstreams)."""
        return _events(self.close_raw())

    def feed_raw(self, chunk: bytes) -> list[RawEvent]:
        buffer = self._buffer + chunk if self._buffer else chunk
        if self._data or self._event is not None or b"\r" in buffer:
            by_line, self._buffer = self._lines(buffer)
            return by_line
        # The usual stream: LF line endings, nothing pending. Whole events are
        # cut at their blank line; a lone ``data: ...`` line needs no more work.
        end = buffer.rfind(b"\n\n")
        if end == -1:
            self._buffer = buffer
            return []
        self._buffer = buffer[end + 2 :]
        events: list[RawEvent] = []
        for block in buffer[:end].split(b"\n\n"):
            if block.startswith(b"data: ") and block.find(b"\n") == -1:
                events.append((block[6:], None, self._id, self._retry))
            elif block:
                events += self._lines(block + b"\n\n")[0]
        return events

    def feed_data(self, chunk: bytes) -> list[bytes] | None:
        """The data of each event completed by ``chunk``, when every one of them is a
        single ``data: `` line (an OpenAI stream, read after read); else None, with
        nothing consumed: call ``feed_raw(chunk)`` instead.

        A relay pays for each event it handles, so this does no per-event work:
        one split cuts the events out of the read, and one search makes sure no
        event had a second line (every LF must be one of the separators').
        """
        buffer = self._buffer + chunk if self._buffer else chunk
        if self._data or self._event is not None or b"\r" in buffer:
            return None
        end = buffer.rfind(b"\n\n")
        if end == -1:
            self._buffer = buffer
            return []
        if not buffer.startswith(b"data: "):
            return None
        datas = buffer[6:end].split(b"\n\ndata: ")
        if b"\n" in b"".join(datas):  # a blank line, another field, a comment...
            return None
        self._buffer = buffer[end + 2 :]
        return datas

    def close_raw(self) -> list[RawEvent]:
        events: list[RawEvent] = []
        if self._buffer:
            events, self._buffer = self._lines(self._buffer + b"\n")
        if self._data:
            event = self._line(b"")
            if event is not None:
                events.append(event)
        return events

    def _lines(self, buffer: bytes) -> tuple[list[RawEvent], bytes]:
        """The events of the complete lines in ``buffer``, and what is left of it."""
        events: list[RawEvent] = []
        start = 0
        length = len(buffer)
        while start < length:
            lf = buffer.find(b"\n", start)
            cr = buffer.find(b"\r", start)
            if lf == -1 and cr == -1:
                break
            if cr != -1 and (lf == -1 or cr < lf):
                if cr + 1 == length:  # a lone CR at the end may be half of CRLF
                    break
                end, nxt = cr, cr + 2 if buffer[cr + 1 : cr + 2] == b"\n" else cr + 1
            else:
                end, nxt = lf, lf + 1
            event = self._line(buffer[start:end])
            if event is not None:
                events.append(event)
            start = nxt
        return events, buffer[start:]

    def _line(self, line: bytes) -> RawEvent | None:
        if not line:
            if not self._data:
                self._event = None
                return None
            event = (b"\n".join(self._data), self._event, self._id, self._retry)
            self._data = []
            self._event = None
            return event
        if line.startswith(b":"):
            return None
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id":
            self._id = value.decode("utf-8", "replace")
        elif name == b"retry" and value.isdigit():
            self._retry = int(value)
        return None


def _events(raw: list[RawEvent]) -> list[SSEEvent]:
    return [
        SSEEvent(data.decode("utf-8", "replace"), event, id_, retry)
        for data, event, id_, retry in raw
    ]


def encode_data(payload: Any) -> bytes:
    """One ``data:`` event carrying a JSON payload."""
    return b"data: " + orjson.dumps(payload) + b"\n\n"


def encode_event(event: str, payload: Any) -> bytes:
    """A named event, as Anthropic-style upstreams send them (used by fakes and tests)."""
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"

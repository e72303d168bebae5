"""uvicorn's httptools protocol, sending a response's head and body in one write.

uvicorn writes the status line and headers as soon as the app sends
``http.response.start``, then the body with ``http.response.body``: two
``send`` system calls and two TCP segments per answer, and for a stream the
head and the first event apart. ``CoalescingTransport`` holds a write back
until the next one (then both go out as one) or until the end of the event
loop's current step (``loop.call_soon``), whichever comes first. A JSON answer
(head, then body at once) leaves in one write, a stream's head leaves with its
first batch of events, and nothing waits longer than the step it was written in.

Everything else (flow control, close, abort, peer info) is the real
transport's; ``close`` and ``write_eof`` send what is held first, ``abort``
drops it. bench/README.md ("The third round") has the measurements.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["ArbiterHttpToolsProtocol", "CoalescingTransport"]


class CoalescingTransport:
    """Wraps an ``asyncio.Transport``: consecutive writes of one loop step become one."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is None:
            self._held = bytes(data)
            self._loop.call_soon(self.flush)
            return
        self._held = None
        self._transport.write(held + data)

    def flush(self) -> None:
        """Sends what is held, if anything (the end of the step it was written in)."""
        held = self._held
        if held is not None:
            self._held = None
            if not self._transport.is_closing():
                self._transport.write(held)

    def writelines(self, lines: list[bytes]) -> None:
        self.write(b"".join(lines))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + len(self._held or b"")

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def __getattr__(self, name: str) -> Any:  # the rest of the Transport interface
        return getattr(self._transport, name)


class ArbiterHttpToolsProtocol(HttpToolsProtocol):
    """``uvicorn.Config(http=ArbiterHttpToolsProtocol)``: httptools, coalesced writes."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        coalescing = CoalescingTransport(transport, self.loop)
        super().connection_made(coalescing)  # type: ignore[arg-type]

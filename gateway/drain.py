"""Graceful shutdown: readiness turns false the moment a drain starts, and every
hook or observer that buffers (usage, spend, scoreboard) is flushed before exit.

uvicorn stops accepting connections on SIGTERM, lets in-flight requests and
streams finish (up to ``server.shutdown_grace_s``) and then runs the lifespan
shutdown; ``watch_signals`` adds the first step, ``flush_all`` the last.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

__all__ = ["flush_all", "watch_signals"]

log = logging.getLogger("arbiter")

_DRAIN_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def watch_signals(on_drain: Callable[[], None]) -> Callable[[], None]:
    """Call ``on_drain`` on SIGTERM/SIGINT before the server's own handler runs.

    Returns a function that restores the previous handlers. Signals can only be
    handled in the main thread; elsewhere (tests running servers in threads) this
    does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous: dict[int, Any] = {}

    def handler(sig: int, frame: FrameType | None) -> None:
        on_drain()
        before = previous.get(sig)
        if callable(before):
            before(sig, frame)

    for sig in _DRAIN_SIGNALS:
        previous[sig] = signal.getsignal(sig)
        signal.signal(sig, handler)

    def restore() -> None:
        for sig, before in previous.items():
            signal.signal(sig, before)

    return restore


async def flush_all(components: Iterable[object]) -> None:
    """Await ``aclose()`` on every component that has one; a failure is logged, not raised."""
    for component in components:
        close = getattr(component, "aclose", None)
        if close is None:
            continue
        try:
            await close()
        except Exception:  # noqa: BLE001 - shutdown must finish whatever one component does
            log.exception("flushing %s at shutdown failed", type(component).__name__)

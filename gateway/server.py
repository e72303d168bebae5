"""The uvicorn server Arbiter runs under.

uvicorn re-raises a caught SIGTERM after its graceful shutdown, so the process
dies by the signal (exit -15). A gateway drained on purpose has done its job:
``GatewayServer`` exits 0 after a SIGTERM drain instead.
"""

from __future__ import annotations

import signal
from types import FrameType

import uvicorn

__all__ = ["GatewayServer"]


class GatewayServer(uvicorn.Server):
    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if sig == signal.SIGTERM and self._captured_signals[-1:] == [sig]:
            self._captured_signals.pop()  # a drain on request is a clean exit

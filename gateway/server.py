"""The uvicorn server Arbiter runs under.

uvicorn re-raises a caught SIGTERM after its graceful shutdown, so the process
dies by the signal (exit -15). A gateway drained on purpose has done its job:
``GatewayServer`` exits 0 after a SIGTERM drain instead.
"""

from __future__ import annotations

import importlib.util
import signal
from types import FrameType
from typing import Any

import uvicorn

__all__ = ["GatewayServer", "fast_server_options"]


def fast_server_options() -> dict[str, Any]:
    """uvloop and httptools, named explicitly rather than left to uvicorn's "auto",
    so a missing one is visible here and not a silent slowdown (bench/README.md);
    httptools through Arbiter's own protocol class (``ArbiterHttpProtocol``). The
    pure-Python fallbacks keep a platform without them (Windows, PyPy) working."""
    http: Any = "h11"
    if importlib.util.find_spec("httptools"):
        from gateway.http_protocol import ArbiterHttpProtocol

        http = ArbiterHttpProtocol
    return {"loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio", "http": http}


class GatewayServer(uvicorn.Server):
    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if sig == signal.SIGTERM and self._captured_signals[-1:] == [sig]:
            self._captured_signals.pop()  # a drain on request is a clean exit

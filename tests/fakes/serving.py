"""Run an ASGI app with uvicorn on 127.0.0.1 in a background thread, on a free port."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerThread:
    def __init__(self, app: Any, port: int | None = None, **config: Any) -> None:
        self.port = port or free_port()
        self.config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            access_log=False,
            **config,
        )
        self.server = uvicorn.Server(self.config)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.loop: asyncio.AbstractEventLoop | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self.server.serve())
        self.loop.close()

    def settle(self) -> None:
        """Returns once the server's event loop has finished the step it is in: a JSON
        answer's hooks (metrics, access log, traces) run right after it is sent, in
        the same step, so what they record is there once this returns."""
        assert self.loop is not None
        asyncio.run_coroutine_threadsafe(asyncio.sleep(0), self.loop).result(timeout=10)

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@contextmanager
def run_server(app: Any, port: int | None = None, **config: Any) -> Iterator[ServerThread]:
    server = ServerThread(app, port, **config).start()
    try:
        yield server
    finally:
        server.stop()


ROOT = Path(__file__).resolve().parents[2]


def serve_gateway(config_path: Path, port: int, *, capture: bool = True) -> subprocess.Popen[bytes]:
    """``arbiter serve`` in a subprocess, as a user runs it, ready to answer.

    The environment is this one without REDIS_URL/ARBITER_CONFIG, and imports come from
    this checkout. ``capture``: keep stdout+stderr for the test to read."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "ARBITER_CONFIG")}
    env["PYTHONPATH"] = str(ROOT)
    output = subprocess.PIPE if capture else subprocess.DEVNULL
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "serve",
            "--config",
            str(config_path),
            "--port",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT if capture else output,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/ready").status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            shown = proc.communicate()[0].decode() if capture else ""
            raise AssertionError("gateway did not start: " + shown)
        time.sleep(0.05)

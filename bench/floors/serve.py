"""Runs a floor app the way ``arbiter serve`` runs Arbiter: one uvicorn process,
uvloop and httptools, no access log."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import uvicorn

__all__ = ["main"]


def main(build: Callable[[str], Any]) -> None:
    """``build(upstream_base_url)`` returns the ASGI app to serve."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", default="http://127.0.0.1:8000")
    args = parser.parse_args()
    uvicorn.run(
        build(args.upstream.rstrip("/")),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
        server_header=False,
    )

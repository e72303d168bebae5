"""Floor 0: Starlette answering from memory. No upstream call: the cost of the
server, the framework and reading the body, and nothing else."""

from __future__ import annotations

import json

import bodies
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from floors.serve import main

COMPLETION = json.dumps(bodies.completion(), separators=(",", ":")).encode()
STREAM = b"".join(bodies.stream_events())


def build(upstream: str) -> Starlette:
    async def answer(request: Request) -> Response:
        await request.body()
        if request.url.path.startswith("/stream/"):
            return Response(STREAM, media_type="text/event-stream")
        return Response(COMPLETION, media_type="application/json")

    return Starlette(routes=[Route("/{path:path}", answer, methods=["POST"])])


if __name__ == "__main__":
    main(build)

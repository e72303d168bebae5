"""Floor: a bare ASGI app answering from memory. No framework (no routing, no
Request or Response objects) and no upstream call: uvicorn's own cost of one
request, reading the body and writing a fixed answer. The least a cache hit can
cost on this server; ``floor-memory`` adds Starlette to it."""

from __future__ import annotations

import json

import bodies
from starlette.types import Receive, Scope, Send

from floors.serve import main

COMPLETION = json.dumps(bodies.completion(), separators=(",", ":")).encode()
STREAM = b"".join(bodies.stream_events())


def _head(body: bytes, content_type: bytes) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", content_type), (b"content-length", b"%d" % len(body))]


JSON_HEAD = _head(COMPLETION, b"application/json")
STREAM_HEAD = _head(STREAM, b"text/event-stream")


def build(upstream: str):  # noqa: ARG001 - no upstream: the answer is in memory
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # lifespan: nothing to start
        while (await receive()).get("more_body"):
            pass
        stream = scope["path"].startswith("/stream/")
        head, body = (STREAM_HEAD, STREAM) if stream else (JSON_HEAD, COMPLETION)
        await send({"type": "http.response.start", "status": 200, "headers": head})
        await send({"type": "http.response.body", "body": body})

    return app


if __name__ == "__main__":
    main(build)

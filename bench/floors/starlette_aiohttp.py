"""Floor 3: raw Starlette + one aiohttp ClientSession: the least a Python
pass-through on this server can cost."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from floors.serve import main

HEADERS = {"content-type": "application/json", "authorization": "Bearer sk-x"}


def build(upstream: str) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        connector = aiohttp.TCPConnector(limit=1000, keepalive_timeout=30)
        app.state.session = aiohttp.ClientSession(connector=connector)
        yield
        await app.state.session.close()

    async def relay(request: Request) -> Response:
        session: aiohttp.ClientSession = request.app.state.session
        body = await request.body()
        response = await session.post(
            upstream + request.url.path, data=body, headers=HEADERS, auto_decompress=False
        )
        media_type = response.headers.get("content-type", "application/json")
        if media_type.startswith("text/event-stream"):

            async def chunks() -> AsyncIterator[bytes]:
                try:
                    async for chunk in response.content.iter_any():
                        yield chunk
                finally:
                    response.release()

            return StreamingResponse(chunks(), response.status, media_type=media_type)
        data = await response.read()
        response.release()
        return Response(data, response.status, media_type=media_type)

    return Starlette(routes=[Route("/{path:path}", relay, methods=["POST"])], lifespan=lifespan)


if __name__ == "__main__":
    main(build)

"""Floor 1: a bare FastAPI pass-through with one shared httpx.AsyncClient on
httpx's default (httpcore) transport. Body in, same path upstream, body out;
event streams are relayed chunk by chunk."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request
from starlette.responses import Response, StreamingResponse

from floors.serve import main

LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)


def build_with(
    make_transport: Callable[[], httpx.AsyncBaseTransport | None],
) -> Callable[[str], FastAPI]:
    def build(upstream: str) -> FastAPI:
        @asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[None]:
            app.state.client = httpx.AsyncClient(
                base_url=upstream, limits=LIMITS, timeout=60, transport=make_transport()
            )
            yield
            await app.state.client.aclose()

        app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

        @app.post("/{path:path}")
        async def relay(path: str, request: Request) -> Response:
            client: httpx.AsyncClient = request.app.state.client
            upstream_request = client.build_request(
                "POST",
                "/" + path,
                content=await request.body(),
                headers={"content-type": "application/json", "authorization": "Bearer sk-x"},
            )
            response = await client.send(upstream_request, stream=True)
            media_type = response.headers.get("content-type", "application/json")
            if media_type.startswith("text/event-stream"):

                async def chunks() -> AsyncIterator[bytes]:
                    try:
                        async for chunk in response.aiter_raw():
                            yield chunk
                    finally:
                        await response.aclose()

                return StreamingResponse(chunks(), response.status_code, media_type=media_type)
            body = await response.aread()
            await response.aclose()
            return Response(body, response.status_code, media_type=media_type)

        return app

    return build


if __name__ == "__main__":
    main(build_with(lambda: None))

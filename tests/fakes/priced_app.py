"""A started Arbiter app in process, for tests that call it as ASGI: one model,
``priced``, with the cache on, answered by an in-memory upstream with ``ANSWER``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from gateway.app import create_app
from tests.conftest import make_settings, openai_config

__all__ = ["ANSWER", "priced_chat_app"]

ANSWER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "gpt-x",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
}


@asynccontextmanager
async def priced_chat_app() -> AsyncIterator[Any]:
    config = openai_config("http://upstream.test/v1", "priced", cache={"enabled": True})
    config["models"]["priced"]["deployments"][0].update(
        input_cost_per_mtok=1.0, output_cost_per_mtok=2.0
    )
    upstream = httpx.MockTransport(lambda request: httpx.Response(200, json=ANSWER))
    app = create_app(make_settings(config), transport=upstream)
    async with app.router.lifespan_context(app):
        yield app

"""Floor 2: floor 1 with the ``httpx-aiohttp`` transport under the same httpx client."""

from __future__ import annotations

from httpx_aiohttp import AiohttpTransport

from floors.fastapi_httpx import LIMITS, build_with
from floors.serve import main

if __name__ == "__main__":
    main(build_with(lambda: AiohttpTransport(limits=LIMITS)))

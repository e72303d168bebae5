"""GET /dashboard: the leaderboard page, one self-contained HTML file (inline JS and SVG).

The page holds no data: it fetches ``/v1/rankings`` with the key given in the
URL fragment (``/dashboard#key=sk-...``, never sent to the server) or typed
into it, and refreshes every few seconds. No build step, no external assets.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse

__all__ = ["load_page", "router"]

router = APIRouter()

_PAGE = Path(__file__).resolve().parent.parent / "dashboard.html"
_HEADERS = {
    "cache-control": "no-cache",
    "content-security-policy": (
        "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
        "connect-src 'self'; img-src 'self' data:; form-action 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
}


def load_page() -> bytes:
    """The page's bytes; read once at startup."""
    return _PAGE.read_bytes()


@router.get("/dashboard", include_in_schema=False)
async def dashboard(request: Request) -> HTMLResponse:
    return HTMLResponse(request.app.state.dashboard_page, headers=_HEADERS)

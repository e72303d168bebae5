"""ASGI entry for uvicorn: the config comes from ``ARBITER_CONFIG``."""

from __future__ import annotations

import os

from gateway.app import create_app
from gateway.config import load_settings

app = create_app(
    load_settings(os.environ.get("ARBITER_CONFIG", "config.example.yaml")), freeze_heap=True
)

"""`arbiter serve` runs on uvloop and httptools when they are installed."""

from __future__ import annotations

import importlib.util

import pytest

from gateway.http_protocol import ArbiterHttpProtocol
from gateway.server import fast_server_options


def test_uvloop_and_httptools_are_chosen_when_installed():
    assert fast_server_options() == {"loop": "uvloop", "http": ArbiterHttpProtocol}


def test_pure_python_fallbacks_without_them(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert fast_server_options() == {"loop": "asyncio", "http": "h11"}

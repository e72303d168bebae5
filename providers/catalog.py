"""OpenAI-compatible upstreams as data rows, served by ``openai_compat.py``.

A provider of type ``openai-compatible`` may name a ``preset`` whose row fills in
the base URL and quirks; its own ``base_url`` always wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from providers.errors import InvalidRequestError
from providers.openai_compat import Flavor, OpenAICompatAdapter

__all__ = ["PRESETS", "compatible_adapter", "openai_adapter"]

OPENAI = Flavor(name="openai", base_url="https://api.openai.com/v1")

# The presets: name -> flavor. Each is listed in the README.
PRESETS: dict[str, Flavor] = {
    "generic": Flavor(name="openai-compatible"),
}


def openai_adapter(options: Mapping[str, Any]) -> OpenAICompatAdapter:
    return OpenAICompatAdapter(OPENAI)


def compatible_adapter(options: Mapping[str, Any]) -> OpenAICompatAdapter:
    preset = options.get("preset") or "generic"
    if preset not in PRESETS:
        raise InvalidRequestError(f"unknown preset {preset!r}; known: {', '.join(sorted(PRESETS))}")
    return OpenAICompatAdapter(PRESETS[preset])

"""The Anthropic Messages API adapter."""

from __future__ import annotations

from .adapter import AnthropicAdapter

__all__ = ["AnthropicAdapter"]

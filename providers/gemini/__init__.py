"""The Gemini API (generateContent) adapter."""

from __future__ import annotations

from .adapter import GeminiAdapter

__all__ = ["GeminiAdapter"]

"""The Gemini API (generateContent) adapter.

The package is larger than STYLE.md's ~400-line guide for a provider because the
wire format differs in all four directions (request, answer, stream, errors); each
has its own module of at most ~260 lines, and what both non-OpenAI adapters share
lives in ``providers/inputs.py`` and ``providers/replies.py``.
"""

from __future__ import annotations

from .adapter import GeminiAdapter

__all__ = ["GeminiAdapter"]

"""Cohere's Chat API v2 (``POST /v2/chat``)."""

from providers.cohere.adapter import CohereAdapter

__all__ = ["CohereAdapter"]

"""Bodies answered from the cache, kept with the request parsed from them.

An exact cache hit is a request Arbiter has seen before, and more often than not
the same bytes: a client retrying, an agent or an eval sending a prompt again.
Decoding and validating such a body again, and building its cache key again,
would give what they gave the first time: both are pure functions of the bytes
(and, for the key, of the model and the caller's scope, which the key memo on
the request, ``ChatRequest.derived``, is keyed by). ``RepeatedBodies`` keeps the
last bodies that were answered from the cache with their parsed request; a body
found here skips both steps, about a tenth of a hit's work.

A request found here is shared by every request that repeats the body, which is
safe because parsed requests are read-only (``providers.types.ChatRequest``).
Authentication, the model allow-list, limits and budgets still run per request.

What it costs the others: one hash of the body and a dict lookup, for bodies up
to ``MAX_BODY_BYTES`` (~2 us at that size, ~0.1 us for a short prompt; longer
bodies are never kept). Only hits add entries, so a stream of new requests adds
nothing; entries are bounded in number and in body bytes, oldest out first.
"""

from __future__ import annotations

from providers.types import ChatRequest

__all__ = ["MAX_BODY_BYTES", "RepeatedBodies"]

MAX_BODY_BYTES = 8 * 1024


class RepeatedBodies:
    """Body bytes -> the request parsed from them, for bodies answered from the cache."""

    def __init__(self, max_entries: int = 256, max_bytes: int = 512 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._parsed: dict[bytes, ChatRequest] = {}
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._parsed)

    def get(self, body: bytes) -> ChatRequest | None:
        if len(body) > MAX_BODY_BYTES:
            return None
        return self._parsed.get(body)

    def remember(self, body: bytes, chat: ChatRequest) -> None:
        """Keeps ``chat`` as the parse of ``body`` (a body just answered from the cache)."""
        if len(body) > MAX_BODY_BYTES or body in self._parsed:
            return
        parsed = self._parsed
        chat.keep_derived()  # its cache key's fields are kept from its next use on
        parsed[body] = chat
        self._bytes += len(body)
        while len(parsed) > self.max_entries or self._bytes > self.max_bytes:
            oldest = next(iter(parsed))
            del parsed[oldest]
            self._bytes -= len(oldest)

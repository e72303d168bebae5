"""The cache key of a chat request: a 256-bit BLAKE2b of everything that changes the answer.

What is in the key (canonical JSON with sorted keys; defaults filled in and null
fields dropped, so an explicit default and an omitted field give one key):

- the *resolved* model: not just the name the client sent, but an identity of
  what that name runs on (its deployments or candidates), so that editing a
  model's deployments never serves answers of the old ones;
- every request field that reaches the upstream: ``messages``, ``tools``,
  ``tool_choice``, ``response_format``, the sampling parameters (``temperature``,
  ``top_p``, penalties, ...), ``seed``, ``n``, ``stop``, token limits, and any
  field Arbiter does not know but passes on, as it is;
- the scope: the virtual key's name (scope ``key``), or ``global``.

What is left out, because it does not change the answer:

- ``stream`` and ``stream_options``: a streamed request is answered from a JSON
  one and back;
- ``user`` (an end-user id for the provider's abuse monitoring) and
  ``metadata`` (the client's labels);
- request ids and headers, which are not part of the body at all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Set
from typing import Any

import orjson

from providers.types import ChatRequest

__all__ = ["EXCLUDED_FIELDS", "KEY_VERSION", "cache_key", "canonical_fields"]

EXCLUDED_FIELDS = frozenset({"model", "stream", "stream_options", "user", "metadata"})
KEY_VERSION = 2  # bumped whenever what goes into a key changes (2: BLAKE2b, was SHA-256)


def cache_key(request: ChatRequest, *, model: str, scope: str) -> str:
    """Hex 256-bit BLAKE2b of the canonical JSON of ``request`` (minus
    ``EXCLUDED_FIELDS``), the resolved ``model`` identity and the ``scope``.
    BLAKE2b rather than SHA-256: as strong, and Python's own, where a SHA-256
    object is set up through OpenSSL at a cost of ~5,000 instructions a key."""
    canonical = orjson.dumps(
        {
            "v": KEY_VERSION,
            "scope": scope,
            "model": model,
            "request": canonical_fields(request, EXCLUDED_FIELDS),
        },
        option=orjson.OPT_SORT_KEYS,
    )
    hasher = _BLAKE2B_256.copy()
    hasher.update(canonical)
    return hasher.hexdigest()


# Copied for each key: cheaper (~1,200 instructions) than the constructor's keyword parsing.
_BLAKE2B_256 = hashlib.blake2b(digest_size=32)


def canonical_fields(request: ChatRequest, excluded: Set[str] = EXCLUDED_FIELDS) -> dict[str, Any]:
    """``request.model_dump(exclude=excluded, exclude_none=True)``: defaults filled in
    and nulls dropped, so an explicit default and an omitted field ask the same
    question; nulls inside free-form values (a JSON schema) are kept.

    Through the model's serializer itself, without ``model_dump``'s Python wrapper;
    and messages whose values are all strings, as most are, are taken from the
    client's JSON as they are: that is already their dump (no default to fill, no
    null to drop, nothing validation changes), where the serializer would visit
    every declared field of each message."""
    messages = None if "messages" in excluded else _plain_messages(request)
    if messages is None:
        return _dump(request, exclude=set(excluded), exclude_none=True)
    fields = _dump(request, exclude={*excluded, "messages"}, exclude_none=True)
    fields["messages"] = messages
    return fields


_dump = ChatRequest.__pydantic_serializer__.to_python


def _plain_messages(request: ChatRequest) -> list[dict[str, str]] | None:
    """The client's own JSON of the request's messages, when every value in them is a
    string; else None. It is what the upstream is sent (``to_openai_body``), so the
    key covers exactly that; a request built in code has no client JSON (None)."""
    sent = getattr(request, "_client_json", None)
    if sent is None:
        return None
    messages: list[dict[str, str]] = sent["messages"]
    for message in messages:
        for value in message.values():
            if type(value) is not str:
                return None
    return messages

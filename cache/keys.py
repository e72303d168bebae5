"""The cache key of a chat request: a SHA-256 of everything that changes the answer.

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
from typing import Any

import orjson

from providers.types import ChatRequest

__all__ = ["EXCLUDED_FIELDS", "KEY_VERSION", "cache_key"]

EXCLUDED_FIELDS = frozenset({"model", "stream", "stream_options", "user", "metadata"})
KEY_VERSION = 1  # bumped whenever what goes into a key changes


def cache_key(request: ChatRequest, *, model: str, scope: str) -> str:
    """Hex SHA-256 of the canonical JSON of ``request`` (minus ``EXCLUDED_FIELDS``),
    the resolved ``model`` identity and the ``scope``."""
    # Defaults filled in and nulls dropped: an explicit default and an omitted field
    # ask the same question. Nulls inside free-form values (a JSON schema) are kept.
    body: dict[str, Any] = request.model_dump(exclude=set(EXCLUDED_FIELDS), exclude_none=True)
    canonical = orjson.dumps(
        {"v": KEY_VERSION, "scope": scope, "model": model, "request": body},
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(canonical).hexdigest()

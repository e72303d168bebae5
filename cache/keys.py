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
from pydantic import BaseModel

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
    return hashlib.blake2b(canonical, digest_size=32).hexdigest()


def canonical_fields(model: BaseModel, excluded: Set[str] = frozenset()) -> dict[str, Any]:
    """``model.model_dump(exclude=excluded, exclude_none=True)``: defaults filled in
    and nulls dropped, so an explicit default and an omitted field ask the same
    question; nulls inside free-form values (a JSON schema) are kept.

    Built from the fields the client set plus the few defaults that are not null,
    where a dump visits every declared field, set or not: a request sets a handful
    of ChatRequest's 17 fields and two of a message's five."""
    values = model.__dict__
    extra = model.__pydantic_extra__ or {}
    data: dict[str, Any] = {}
    fields_set = model.__pydantic_fields_set__
    for name in fields_set:
        value = values[name] if name in values else extra[name]
        if value is not None and name not in excluded:
            data[name] = value if isinstance(value, _AS_IS) else _canonical_value(value)
    for name, default in _defaults(type(model)):
        if name not in fields_set and name not in excluded:
            data[name] = default
    return data


def _canonical_value(value: Any) -> Any:
    if isinstance(value, _AS_IS):  # first: the check against BaseModel (an ABC) costs more
        return value
    if isinstance(value, list):
        return [_canonical_value(item) for item in value]
    if isinstance(value, BaseModel):
        return canonical_fields(value)
    return value


# Values that hold no model: scalars, and free-form values (whose nulls are kept).
_AS_IS = (str, int, float, dict)


_DEFAULTS: dict[type[BaseModel], tuple[tuple[str, Any], ...]] = {}


def _defaults(cls: type[BaseModel]) -> tuple[tuple[str, Any], ...]:
    """The declared fields of ``cls`` whose default is not null, with their defaults."""
    found = _DEFAULTS.get(cls)
    if found is None:
        found = _DEFAULTS[cls] = tuple(
            (name, info.get_default(call_default_factory=True))
            for name, info in cls.model_fields.items()
            if not info.is_required() and info.get_default(call_default_factory=True) is not None
        )
    return found

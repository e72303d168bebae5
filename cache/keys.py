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
from typing import Any, get_args

import orjson
from pydantic import BaseModel

from providers.types import ChatRequest

__all__ = ["EXCLUDED_FIELDS", "KEY_VERSION", "cache_key", "canonical_fields"]

EXCLUDED_FIELDS = frozenset({"model", "stream", "stream_options", "user", "metadata"})
KEY_VERSION = 2  # bumped whenever what goes into a key changes (2: BLAKE2b, was SHA-256)


def cache_key(request: ChatRequest, *, model: str, scope: str) -> str:
    """Hex 256-bit BLAKE2b of the canonical JSON of ``request`` (minus
    ``EXCLUDED_FIELDS``), the resolved ``model`` identity and the ``scope``:
    ``{"model":…,"request":…,"scope":…,"v":2}``, keys sorted at every level.
    BLAKE2b rather than SHA-256: as strong, and Python's own, where a SHA-256
    object is set up through OpenSSL at a cost of ~5,000 instructions a key.

    The JSON is hashed in three parts, which hash as their concatenation: what
    comes before the request's fields (the model's part, hashed once per model),
    the fields, and what follows them (the scope's part, encoded once per scope)."""
    hasher = _before_fields(model).copy()
    hasher.update(_fields_json(request))
    hasher.update(_after_fields(scope))
    return hasher.hexdigest()


def _fields_json(request: ChatRequest) -> bytes:
    """The request's part of the key; kept with a request that keeps what is derived
    from it (one found again for a repeated body: ``gateway.repeats``)."""
    kept = request.derived
    fields: bytes | None = None if kept is None else kept.get(_FIELDS)
    if fields is None:
        fields = orjson.dumps(canonical_fields(request, EXCLUDED_FIELDS), option=_SORTED)
        if kept is not None:
            kept[_FIELDS] = fields
    return fields


_SORTED = orjson.OPT_SORT_KEYS
_FIELDS = "cache_key_fields"  # where a request keeps its part of the key (``derived``)
# Copied, not built: cheaper (~1,200 instructions) than the constructor's keyword parsing.
_BLAKE2B_256 = hashlib.blake2b(digest_size=32)
_MAX_KEPT = 4096  # models and scopes whose parts are kept (a config has far fewer)
# model identity -> a BLAKE2b fed '{"model":…,"request":'; scope -> ',"scope":…,"v":2}'
_models: dict[str, hashlib.blake2b] = {}
_scopes: dict[str, bytes] = {}


def _before_fields(model: str) -> hashlib.blake2b:
    """A BLAKE2b that has hashed the canonical JSON up to the request's fields."""
    hasher = _models.get(model)
    if hasher is None:
        hasher = _BLAKE2B_256.copy()
        hasher.update(b'{"model":' + orjson.dumps(model) + b',"request":')
        if len(_models) < _MAX_KEPT:
            _models[model] = hasher
    return hasher


def _after_fields(scope: str) -> bytes:
    """The canonical JSON after the request's fields: the scope and the key version."""
    after = _scopes.get(scope)
    if after is None:
        after = b',"scope":' + orjson.dumps(scope) + b',"v":' + orjson.dumps(KEY_VERSION) + b"}"
        if len(_scopes) < _MAX_KEPT:
            _scopes[scope] = after
    return after


def canonical_fields(request: ChatRequest, excluded: Set[str] = EXCLUDED_FIELDS) -> dict[str, Any]:
    """``request.model_dump(exclude=excluded, exclude_none=True)``: defaults filled in
    and nulls dropped, so an explicit default and an omitted field ask the same
    question; nulls inside free-form values (a JSON schema) are kept.

    Built in Python from what the client set when no model needs dumping: a handful
    of ChatRequest's 17 fields, where the serializer visits all of them (the bench's
    request, its messages apart: ~6,000 instructions against ~17,000). Else through
    the model's serializer itself, without ``model_dump``'s wrapper."""
    fields = _plain_fields(request, excluded)
    if fields is None:
        return _dump(request, exclude=set(excluded), exclude_none=True)
    return fields


_dump = ChatRequest.__pydantic_serializer__.to_python


def _plain_fields(request: ChatRequest, excluded: Set[str]) -> dict[str, Any] | None:
    """The dump of ``request`` when it holds no model but plain messages, else None.

    The fields the client set (its unknown ones included) as validation left them,
    and the defaults that are not null: an unset field holds its default, and a
    value with no model in it dumps as itself."""
    values = request.__dict__
    extra = request.__pydantic_extra__ or {}
    fields_set = request.__pydantic_fields_set__
    fields: dict[str, Any] = {}
    for name in fields_set:
        if name in excluded:
            continue
        value = values[name] if name in values else extra[name]
        if value is None:
            continue
        if name in _HOLDS_MODELS:
            value = _plain_messages(request) if name == "messages" else None
            if value is None:
                return None  # models to dump: the serializer's work
        fields[name] = value
    for name, default in _NON_NULL_DEFAULTS:
        if name not in fields_set and name not in excluded:
            fields[name] = default
    return fields


def _plain_messages(request: ChatRequest) -> list[dict[str, str]] | None:
    """The client's own JSON of the request's messages, when every value in them is a
    string; else None. It is what the upstream is sent (``to_openai_body``), so the
    key covers exactly that; a request built in code has no client JSON (None)."""
    sent = request.client_json
    if sent is None:
        return None
    messages: list[dict[str, str]] = sent["messages"]
    for message in messages:
        for value in message.values():
            if type(value) is not str:
                return None
    return messages


def _holds_models(annotation: Any) -> bool:
    """Whether a value of this type may hold a pydantic model (a field's annotation)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_holds_models(arg) for arg in get_args(annotation))


# ChatRequest's fields whose values may hold models, and its defaults that are not null.
_HOLDS_MODELS = frozenset(
    name for name, info in ChatRequest.model_fields.items() if _holds_models(info.annotation)
)
_NON_NULL_DEFAULTS = tuple(
    (name, info.get_default(call_default_factory=True))
    for name, info in ChatRequest.model_fields.items()
    if not info.is_required() and info.get_default(call_default_factory=True) is not None
)

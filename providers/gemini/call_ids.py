"""OpenAI tool-call ids for Gemini function calls, and back.

OpenAI pairs a tool result with its call by id; Gemini pairs them by function
name (and, on newer models, by an ``id`` it generates). Gemini 3 also attaches
an opaque ``thoughtSignature`` to function calls and refuses a later request
whose history lacks it. An OpenAI client keeps nothing but the id, so the id
carries what Gemini needs back:

    <base>[__sig__<signature, base64url without padding>]

- ``<base>`` is Gemini's own call id when it sent one, else ``call_`` and 24 hex
  digits hashed from the call (candidate, position, name, arguments), which is
  stable: the same answer streamed or not gets the same ids;
- generated bases are not sent back to Gemini (it never issued them), its own are.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["CallRef", "make_call_id", "read_call_id"]

_SIGNATURE = "__sig__"
_GENERATED = re.compile(r"^call_[0-9a-f]{24}$")


def _to_b64url(signature: str) -> str:
    return signature.replace("+", "-").replace("/", "_").rstrip("=")


def _from_b64url(text: str) -> str:
    padded = text + "=" * (-len(text) % 4)
    return padded.replace("-", "+").replace("_", "/")


def make_call_id(
    call: dict[str, Any], candidate: int, position: int, signature: str | None = None
) -> str:
    base = call.get("id")
    if not isinstance(base, str) or not base:
        args = orjson.dumps(call.get("args") or {}, option=orjson.OPT_SORT_KEYS)
        seed = f"{candidate}|{position}|{call.get('name', '')}|".encode() + args
        base = "call_" + hashlib.sha256(seed).hexdigest()[:24]
    if signature:
        return base + _SIGNATURE + _to_b64url(signature)
    return base


@dataclass(frozen=True, slots=True)
class CallRef:
    """What an OpenAI tool-call id tells Gemini: its own id (if any) and the signature."""

    id: str | None
    signature: str | None


def read_call_id(call_id: str) -> CallRef:
    base, sep, encoded = call_id.partition(_SIGNATURE)
    signature = _from_b64url(encoded) if sep and encoded else None
    if signature is not None:
        try:
            base64.b64decode(signature, validate=True)
        except ValueError:
            base, signature = call_id, None  # not ours: an id that merely contains the marker
    return CallRef(None if not base or _GENERATED.match(base) else base, signature)

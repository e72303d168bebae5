"""What the cache holds for one answer, and its compact byte form.

A ``CachedAnswer`` is the complete OpenAI ``chat.completion`` as the JSON bytes a
client receives, plus who produced it (the model that answered after fallbacks,
the provider, the upstream model and the deployment id) and the answer's usage,
so that a hit answers with the same headers and can price what it saved without
reading the body. Streamed answers are stored assembled (``providers.assembly``),
so one entry serves JSON and streaming requests alike.

The byte form is what a store shared between processes (Redis) keeps; the
in-process cache keeps the record itself (``cache.memory``). Bytes: a marker
byte, a small JSON header (the metadata), a newline, then the body. A JSON hit
sends the body as it is: no parse, no re-encoding. orjson never writes a raw
newline, so the first one ends the header.

A body above ``COMPRESS_ABOVE_BYTES`` is deflated (``cache.deflate``). Below it,
compression does not pay: zlib at level 1 cost ~230,000 instructions (~9 us on
an idle core, twice that on a busy one, with the GIL released to the log
writer thread meanwhile) for the bench's 850-byte answer: a sixth of a whole
cache miss, to store 470 bytes instead of 940. Above 4 KiB, prose shrinks about
2x and the bytes saved are worth the CPU.

Bytes that do not decode (another format's entry, corruption) read as a miss:
the marker names the format, so replicas of another version sharing a Redis
never serve each other's entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from cache.deflate import DeflateError, deflate, inflate
from providers.types import ChatResponse

__all__ = ["COMPRESS_ABOVE_BYTES", "CachedAnswer", "decode_answer", "encode_answer"]

COMPRESS_ABOVE_BYTES = 4096
# Format 2: header + raw body. Format 1 (b"j", b"z": one orjson document) reads as a miss.
_PLAIN = b"P"
_DEFLATED = b"D"
_END_OF_HEADER = b"\n"


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    body: bytes  # the chat.completion's JSON, exactly as a client receives it
    model: str  # the model name that answered (after fallbacks)
    provider: str
    upstream_model: str
    target_id: str  # the deployment, to price what a hit saves
    stored_at: float  # Unix time
    usage: dict[str, Any] | None  # the answer's usage, to price what a hit saves
    # What a hit saves, priced when stored: the in-process cache keeps this instead of
    # the usage (a float, where a usage's dicts take ~750 bytes an entry).
    saved_usd: float | None = None

    @classmethod
    def of(
        cls,
        response: ChatResponse,
        model: str,
        provider: str,
        upstream_model: str,
        target_id: str,
        stored_at: float,
    ) -> CachedAnswer:
        """The entry of a whole answer (encoded once, here). The JSON is copied out of
        orjson's bytes, which keep the capacity of its output buffer (4 KiB at least,
        whatever the answer's length): a cache holds the body for its TTL."""
        usage = response.get("usage")
        return cls(
            memoryview(orjson.dumps(response)).tobytes(),
            model,
            provider,
            upstream_model,
            target_id,
            stored_at,
            usage if isinstance(usage, dict) else None,
        )

    def with_body(self, body: bytes) -> CachedAnswer:
        """The same answer with another form of its body (deflated, or inflated back)."""
        return CachedAnswer(body, *self._about(), self.usage, self.saved_usd)

    def priced(self, saved_usd: float | None) -> CachedAnswer:
        """The same answer with what a hit saves instead of its usage."""
        return CachedAnswer(self.body, *self._about(), None, saved_usd)

    def _about(self) -> tuple[str, str, str, str, float]:
        return self.model, self.provider, self.upstream_model, self.target_id, self.stored_at

    def response(self) -> ChatResponse:
        """The answer as a dict, decoded on each call: only a streamed replay and
        the features that read a hit's answer (body logging, tracing) need it."""
        response: ChatResponse = orjson.loads(self.body)
        return response


def encode_answer(answer: CachedAnswer) -> bytes:
    header = orjson.dumps(
        [
            answer.model,
            answer.provider,
            answer.upstream_model,
            answer.target_id,
            answer.stored_at,
            answer.usage,
        ]
    )
    if len(answer.body) > COMPRESS_ABOVE_BYTES:
        return b"".join((_DEFLATED, header, _END_OF_HEADER, deflate(answer.body)))
    return b"".join((_PLAIN, header, _END_OF_HEADER, answer.body))


def decode_answer(value: bytes) -> CachedAnswer | None:
    marker = value[:1]
    end = value.find(_END_OF_HEADER)
    if end < 0 or (marker != _PLAIN and marker != _DEFLATED):
        return None
    try:
        model, provider, upstream_model, target_id, stored_at, usage = orjson.loads(value[1:end])
        body = value[end + 1 :]
        if marker == _DEFLATED:
            body = inflate(body)
        if not (body.startswith(b"{") and body.endswith(b"}")):
            return None
        return CachedAnswer(
            body,
            str(model),
            str(provider),
            str(upstream_model),
            str(target_id),
            float(stored_at),
            usage if isinstance(usage, dict) else None,
        )
    except (DeflateError, orjson.JSONDecodeError, TypeError, ValueError):
        return None

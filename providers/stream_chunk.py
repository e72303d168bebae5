"""A stream's chunks as they travel from the upstream to the client.

A ``StreamChunk`` is one OpenAI chunk held as the JSON bytes to send, the parsed
dict, or both: each is made from the other only when someone asks. A decoder
that can vouch for an upstream event (OpenAI-shaped, no usage, no error: see
``providers.openai_compat``) hands its bytes on unparsed, and the gateway writes
them to the client as they came; translating decoders hand dicts on, which are
encoded once, for the client.

A stream moves in batches (``list[StreamChunk]``): everything decoded from one
upstream read, which the gateway writes to its client as one piece. A
``FinalBatch`` is one in whose read the upstream also ended the stream
(OpenAI's ``[DONE]``): only the end of its body is still to come, so the gateway
may write it together with the end of its own answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

import orjson

from providers.errors import UpstreamUnavailableError
from providers.types import ChatChunk

__all__ = ["Batch", "ChunkDecoder", "FinalBatch", "StreamChunk", "chunk_decoder"]


class StreamChunk:
    __slots__ = ("_chunk", "_data", "usage")

    def __init__(
        self, chunk: ChatChunk | None, data: bytes | None, usage: dict[str, Any] | None
    ) -> None:
        self._chunk = chunk
        self._data = data
        self.usage = usage  # the usage this chunk reports, or None

    @classmethod
    def of(cls, chunk: ChatChunk) -> StreamChunk:
        """A chunk a decoder built or parsed."""
        return cls(chunk, None, chunk.get("usage") or None)

    @classmethod
    def raw(cls, data: bytes) -> StreamChunk:
        """An upstream's JSON, relayed as is: the caller vouches that it reports
        no usage and is no error."""
        return cls(None, data, None)

    @property
    def chunk(self) -> ChatChunk:
        """The chunk as a dict (parsed on first use)."""
        chunk = self._chunk
        if chunk is None:
            assert self._data is not None
            try:
                chunk = self._chunk = orjson.loads(self._data)
            except orjson.JSONDecodeError:
                raise UpstreamUnavailableError(
                    "the upstream sent a malformed stream event", debug=self._data[:200]
                ) from None
        return chunk

    @property
    def data(self) -> bytes:
        """The chunk's JSON, as the client gets it."""
        data = self._data
        if data is None:
            data = self._data = orjson.dumps(self._chunk)
        return data

    def usage_only(self) -> bool:
        """The closing chunk that carries usage and no choices."""
        return self.usage is not None and not self.chunk.get("choices")


Batch = list[StreamChunk]


class FinalBatch(list[StreamChunk]):
    """A batch that came with the upstream's end of the stream (see the module's
    docstring); everything that takes batches takes it as a plain one."""

    __slots__ = ()


class ChunkDecoder(Protocol):
    """A stream decoder that hands out ``StreamChunk`` batches."""

    def feed_chunks(self, data: bytes) -> Batch: ...

    def close_chunks(self) -> Batch: ...


class _DictDecoder:
    """Any ``StreamDecoder`` (dicts out) as a ``ChunkDecoder``."""

    __slots__ = ("_decoder",)

    def __init__(self, decoder: Any) -> None:
        self._decoder = decoder

    def feed_chunks(self, data: bytes) -> Batch:
        return _wrap(self._decoder.feed(data))

    def close_chunks(self) -> Batch:
        return _wrap(self._decoder.close())


def _wrap(chunks: Iterable[ChatChunk]) -> Batch:
    return [StreamChunk.of(chunk) for chunk in chunks]


def chunk_decoder(decoder: Any) -> ChunkDecoder:
    """The decoder itself when it hands out batches, else a wrapper around it.

    Asked once per stream: ``isinstance`` against a runtime-checkable protocol
    would list the protocol's members on every call, so the method is looked up
    on the class instead."""
    if callable(getattr(type(decoder), "feed_chunks", None)):
        return decoder
    return _DictDecoder(decoder)

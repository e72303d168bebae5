"""One adapter, driven by data, for every upstream that speaks OpenAI Chat Completions.

What differs between such upstreams (auth header, path, fields they reject) is a
``Flavor`` row; ``providers/catalog.py`` holds the rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from providers.base import Capabilities, Target
from providers.decoding import EventDecoder
from providers.errors import GatewayError, InvalidRequestError, UpstreamUnavailableError
from providers.inputs import check_supported
from providers.sse import RawEvent, SSEParser
from providers.status import error_from_status
from providers.stream_chunk import Batch, FinalBatch, StreamChunk
from providers.types import ChatChunk, ChatRequest, ChatResponse
from providers.upstream_client import JsonPost, request_headers

__all__ = [
    "Flavor",
    "OpenAIChunkDecoder",
    "OpenAIRelayDecoder",
    "OpenAICompatAdapter",
    "normalise_usage",
    "parse_openai_error",
]

# How a chunk whose own usage is null ends (its last member), as OpenAI writes it
# and as Python's json does.
_NULL_USAGE_ENDINGS = (b',"usage":null}', b', "usage": null}')


@dataclass(frozen=True, slots=True)
class Flavor:
    name: str
    base_url: str = ""
    path: str = "/chat/completions"
    auth_header: str = "authorization"  # "authorization" (Bearer) | "api-key" | "" (none)
    drop_params: frozenset[str] = frozenset()  # removed silently (they only ask for defaults)
    reject_params: frozenset[str] = frozenset()  # refused with a 400, or dropped on request
    single_choice: bool = False  # upstream rejects n > 1
    message_names: bool = True  # upstream accepts messages[].name (else it is removed)
    stream_usage: bool = True  # upstream accepts stream_options.include_usage
    capabilities: Capabilities = field(default_factory=Capabilities)


def parse_openai_error(body: bytes) -> tuple[str | None, str | None]:
    """(message, code) from an OpenAI-style error body, tolerating anything."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return (body[:200].decode("utf-8", "replace") or None), None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        code = error.get("code") or error.get("type")
        return error.get("message"), str(code) if code is not None else None
    if isinstance(error, str):
        return error, None
    message = data.get("message") if isinstance(data, dict) else None
    return (str(message) if message else None), None


class OpenAIChunkDecoder(EventDecoder):
    """Relays OpenAI chunks, making sure a usage chunk ends every stream."""

    __slots__ = ("_parser", "done", "usage_seen")

    def __init__(self, provider: str) -> None:
        super().__init__(provider)
        self._parser = SSEParser()
        self.done = False
        self.usage_seen = False

    def feed(self, data: bytes) -> list[ChatChunk]:
        return self._decode(self._parser.feed(data))

    def close(self) -> list[ChatChunk]:
        chunks = self._decode(self._parser.close())
        if not self.done:
            raise self._ended_early()
        return chunks

    def _decode(self, events: list[Any]) -> list[ChatChunk]:
        chunks: list[ChatChunk] = []
        for event in events:
            data = event.data
            if data == "[DONE]":
                self.done = True
                continue
            if event.event == "error":  # whatever its data looks like, never a chunk
                raise self._stream_error(data)
            chunk = self._loads(data)
            if not isinstance(chunk, dict):
                continue
            if "error" in chunk and "choices" not in chunk:
                raise self._stream_error(data)
            if chunk.get("usage"):
                self.usage_seen = True
                normalise_usage(chunk["usage"])
            chunks.append(chunk)
        return chunks

    def _stream_error(self, data: str) -> GatewayError:
        """An error the upstream sent inside the stream, as a taxonomy error."""
        message, code = parse_openai_error(data.encode())
        return error_from_status(
            500,
            provider=self._provider,
            message=message,
            code=code,
            headers=httpx.Headers(),
            body=data.encode(),
        )


class OpenAIRelayDecoder(OpenAIChunkDecoder):
    """``OpenAIChunkDecoder`` for a relay: hands out ``StreamChunk`` batches in
    which an event that needs nothing done is the upstream's own bytes.

    An event is relayed unparsed when its data is one JSON object (``{...}``)
    that reports no usage and no error; anything else, and named events, are
    parsed and handled as ``OpenAIChunkDecoder`` does (usage normalised and
    noted, errors raised, other JSON values dropped).

    The test must cost next to nothing, as every event of a stream takes it, so
    it reads no JSON and runs no regular expression. No ``"error"`` in the
    bytes: a key can only appear as ``"error"`` (strings escape their quotes).
    No usage: either no ``"usage"`` at all, or the object ends with a null one,
    as OpenAI's chunks do (``,"usage":null}``): the last member before the
    closing brace is the object's own, and with a key twice JSON parsers keep
    the last. A false alarm only costs a parse.
    """

    __slots__ = ()

    def feed(self, data: bytes) -> list[ChatChunk]:
        return [piece.chunk for piece in self.feed_chunks(data)]

    def close(self) -> list[ChatChunk]:
        return [piece.chunk for piece in self.close_chunks()]

    def feed_chunks(self, data: bytes) -> Batch:
        datas = self._parser.feed_data(data)
        if datas is None:  # not the usual one-line events: the general parser
            batch = self._relayed(self._parser.feed_raw(data))
        else:
            batch = self._relay_data(datas, [])
        if self.done and batch:
            return FinalBatch(batch)
        return batch

    def close_chunks(self) -> Batch:
        batch = self._relayed(self._parser.close_raw())
        if not self.done:
            raise self._ended_early()
        return batch

    def _relayed(self, events: list[RawEvent]) -> Batch:
        batch: Batch = []
        for data, name, _, _ in events:
            if name is None:
                self._relay_data((data,), batch)
            else:
                self._parse_event(data, name, batch)
        return batch

    def _relay_data(self, datas: Sequence[bytes], batch: Batch) -> Batch:
        """Appends the chunks of unnamed events' data to ``batch``. One search
        over them all clears every event of errors at once (a search per event
        costs more than the rest of its test)."""
        clean = b'"error"' not in b"".join(datas)
        for data in datas:
            if (
                data[:1] == b"{"
                and (
                    data.endswith(_NULL_USAGE_ENDINGS)
                    or (data[-1:] == b"}" and b'"usage"' not in data)
                )
                and (clean or b'"error"' not in data)
            ):
                batch.append(StreamChunk(None, data, None))
            else:
                self._parse_event(data, None, batch)
        return batch

    def _parse_event(self, data: bytes, name: str | None, batch: Batch) -> None:
        """An event that may end the stream, fail it, or report usage."""
        if data == b"[DONE]":
            self.done = True
            return
        if name == "error":  # whatever its data looks like, never a chunk
            raise self._stream_error(data.decode("utf-8", "replace"))
        chunk = self._loads(data)
        if not isinstance(chunk, dict):
            return
        if "error" in chunk and "choices" not in chunk:
            raise self._stream_error(data.decode("utf-8", "replace"))
        if chunk.get("usage"):
            self.usage_seen = True
            normalise_usage(chunk["usage"])
        batch.append(StreamChunk.of(chunk))


def normalise_usage(usage: Any) -> Any:
    """Cached prompt tokens in OpenAI's place, for upstreams that report them
    elsewhere (DeepSeek's ``prompt_cache_hit_tokens``)."""
    if isinstance(usage, dict) and "prompt_tokens_details" not in usage:
        hits = usage.get("prompt_cache_hit_tokens")
        if isinstance(hits, int):
            usage["prompt_tokens_details"] = {"cached_tokens": hits}
    return usage


def _without_name(message: dict[str, Any]) -> dict[str, Any]:
    """A message without its ``name`` (a copy), unless it is a tool result's."""
    if "name" not in message or message.get("role") == "tool":
        return message
    return {key: value for key, value in message.items() if key != "name"}


class OpenAICompatAdapter:
    def __init__(self, flavor: Flavor, options: Mapping[str, Any] | None = None) -> None:
        self.flavor = flavor
        self.name = flavor.name
        self.capabilities = flavor.capabilities
        self.drop_unsupported = bool((options or {}).get("drop_unsupported"))
        # Per deployment: the parsed URL (~20 us a parse) and normalised headers.
        self._prepared: dict[str, tuple[Target, httpx.URL, httpx.Headers]] = {}

    def build_body(self, request: ChatRequest, target: Target) -> dict[str, Any]:
        """The JSON body: the client's request with the flavor's quirks applied."""
        flavor = self.flavor
        if flavor.single_choice and (request.n or 1) > 1:
            raise InvalidRequestError(
                f"n: {flavor.name} returns one choice per request; send n=1", param="n"
            )
        refused = (
            check_supported(
                request,
                provider=flavor.name,
                unsupported=flavor.reject_params,
                drop=self.drop_unsupported,
            )
            if flavor.reject_params
            else ()
        )
        body = request.to_openai_body()  # a new dict, but its values are the request's
        body["model"] = target.model
        for dropped in (flavor.drop_params, refused):
            for name in dropped:
                body.pop(name, None)
        if not flavor.message_names:
            body["messages"] = [_without_name(message) for message in body["messages"]]
        if request.stream and flavor.stream_usage:
            # Always ask for usage so cost is exact; the gateway withholds the
            # usage chunk from clients that did not ask for it.
            body["stream_options"] = {**body.get("stream_options", {}), "include_usage": True}
        elif not flavor.stream_usage:
            body.pop("stream_options", None)
        return body

    def build_url(self, target: Target) -> str:
        base = (target.base_url or self.flavor.base_url).rstrip("/")
        return base + self.flavor.path

    def build_headers(self, target: Target) -> dict[str, str]:
        headers = {"content-type": "application/json", **target.headers}
        secret = target.secret()
        if secret and self.flavor.auth_header == "authorization":
            headers["authorization"] = f"Bearer {secret}"
        elif secret and self.flavor.auth_header:
            headers[self.flavor.auth_header] = secret
        return headers

    def build_request(self, request: ChatRequest, target: Target) -> httpx.Request:
        body = orjson.dumps(self.build_body(request, target))
        prepared = self._prepared.get(target.id)
        if prepared is None or prepared[0] is not target:  # once per deployment (immutable)
            url = httpx.URL(self.build_url(target))
            headers = request_headers(url, self.build_headers(target))
            prepared = self._prepared[target.id] = (target, url, headers)
        return JsonPost(prepared[1], prepared[2], body)

    def parse_response(
        self, response: httpx.Response, request: ChatRequest, target: Target
    ) -> ChatResponse:
        data = orjson.loads(response.content)
        if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
            raise UpstreamUnavailableError(
                f"{target.provider} sent a malformed response", debug=response.content
            )
        normalise_usage(data.get("usage"))
        return data

    def new_stream_decoder(self, request: ChatRequest, target: Target) -> OpenAIChunkDecoder:
        return OpenAIRelayDecoder(target.provider)

    def map_error(self, status: int, headers: httpx.Headers, body: bytes) -> GatewayError:
        message, code = parse_openai_error(body)
        return error_from_status(
            status, provider=self.name, message=message, code=code, headers=headers, body=body
        )

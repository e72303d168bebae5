"""Streams are relayed as the upstream sends them: what one upstream read brings
reaches the client as one piece, nothing waits for more, and every event
arrives intact, in order, with the upstream's usage."""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import openai
import pytest

from providers.tokens import count_text_tokens
from tests.conftest import MASTER_KEY, metric_value, openai_config
from tests.fakes.raw_tcp import DONE, HOLD, raw_upstream, sse_chunk, sse_reply

WORDS = [f"w{i} " for i in range(18)]
USAGE = {"prompt_tokens": 11, "completion_tokens": 18, "total_tokens": 29}


def usage_event(usage: dict[str, Any]) -> bytes:
    chunk = {
        "id": "chatcmpl-raw",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "raw",
        "choices": [],
        "usage": usage,
    }
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


def burst(usage: dict[str, Any] = USAGE) -> bytes:
    """A whole 20-event answer in one write, as a fast upstream sends it."""
    events = [sse_chunk("", role=True)]
    events += [sse_chunk(word) for word in WORDS]
    events += [sse_chunk(finish="stop"), usage_event(usage), DONE]
    return b"".join(events)


def sdk(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=MASTER_KEY, max_retries=0)


def ask(server, **extra: Any) -> list[Any]:
    return list(
        sdk(server).chat.completions.create(
            model="gpt-4o-mini",
            stream=True,
            messages=[{"role": "user", "content": "count"}],
            **extra,
        )
    )


class RawStream:
    """A streaming request on a plain socket: the HTTP chunks as they arrive."""

    def __init__(self, server, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        host, port = server.url.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: arbiter\r\n"
            b"authorization: Bearer " + MASTER_KEY.encode() + b"\r\n"
            b"content-type: application/json\r\nconnection: close\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(data), data)
        )
        self.buffer = b""
        head = self._until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        assert b"transfer-encoding: chunked" in head.lower()

    def _until(self, mark: bytes) -> bytes:
        while mark not in self.buffer:
            data = self.sock.recv(65536)
            assert data, f"the connection closed before {mark!r}"
            self.buffer += data
        found, _, self.buffer = self.buffer.partition(mark)
        return found

    def next_piece(self) -> bytes:
        """The next HTTP chunk of the body (b"" for the last, empty one)."""
        size = int(self._until(b"\r\n"), 16)
        while len(self.buffer) < size + 2:
            data = self.sock.recv(65536)
            assert data, "the connection closed mid-chunk"
            self.buffer += data
        piece, self.buffer = self.buffer[:size], self.buffer[size + 2 :]
        return piece

    def pieces(self) -> list[bytes]:
        """Every remaining HTTP chunk, until the end of the body."""
        out = []
        while piece := self.next_piece():
            out.append(piece)
        return out

    def close(self) -> None:
        self.sock.close()


def events(body: bytes) -> list[bytes]:
    return [part.removeprefix(b"data: ") for part in body.split(b"\n\n") if part]


REQUEST = {
    "model": "gpt-4o-mini",
    "stream": True,
    "messages": [{"role": "user", "content": "count"}],
}


@pytest.fixture
def served(gateway):
    """Arbiter in front of a raw upstream that follows ``plan``."""
    upstreams = []

    def start(plan):
        upstream = raw_upstream(plan)
        fake = upstream.__enter__()
        upstreams.append(upstream)
        return gateway(openai_config(fake.url, "gpt-4o-mini")), fake

    yield start
    for upstream in upstreams:
        upstream.__exit__(None, None, None)


def test_a_burst_of_twenty_events_reaches_the_sdk_intact_and_in_order(served):
    server, _ = served(sse_reply(burst()))
    chunks = ask(server, stream_options={"include_usage": True})
    with_choices = [c for c in chunks if c.choices]
    assert with_choices[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in with_choices) == "".join(WORDS)
    assert with_choices[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage.model_dump(include=set(USAGE)) == USAGE


def test_a_burst_is_written_to_the_client_in_one_piece(served):
    """One upstream read, one write: the 20 events and [DONE] come as at most two
    HTTP chunks (the burst, then the end), not one per event."""
    server, _ = served(sse_reply(burst()))
    stream = RawStream(server, {**REQUEST, "stream_options": {"include_usage": True}})
    try:
        pieces = stream.pieces()
    finally:
        stream.close()
    assert len(pieces) <= 2
    body = b"".join(pieces)
    assert body.endswith(DONE)
    relayed, sent = events(body), events(burst())
    assert [json.loads(e) for e in relayed[:-1]] == [json.loads(e) for e in sent[:-1]]
    assert relayed[-1] == b"[DONE]"


def test_a_burst_that_ends_the_stream_reaches_the_client_with_done_in_one_piece(served):
    """The upstream's [DONE] came with the burst: the gateway writes the burst and
    its own [DONE] together once the upstream's body has ended."""
    server, _ = served(sse_reply(burst()))
    stream = RawStream(server, REQUEST)
    try:
        pieces = stream.pieces()
    finally:
        stream.close()
    assert len(pieces) == 1
    assert events(pieces[0])[:-1] == events(burst())[:20]  # the usage chunk was not asked for
    assert pieces[0].endswith(DONE)


def test_events_that_need_no_change_reach_the_client_byte_for_byte(served):
    """The upstream's own JSON is relayed as it was written (spacing included)."""
    server, _ = served(sse_reply(burst()))
    stream = RawStream(server, REQUEST)
    try:
        body = b"".join(stream.pieces())
    finally:
        stream.close()
    upstream_events = events(burst())
    relayed = events(body)
    assert relayed[:-1] == upstream_events[:20]  # the usage-only chunk was not asked for
    assert relayed[-1] == b"[DONE]"


def test_without_include_usage_the_usage_chunk_is_withheld_but_still_counted(served):
    server, _ = served(sse_reply(burst()))
    chunks = ask(server)
    assert all(c.choices for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "".join(WORDS)
    tokens = {
        kind: metric_value(
            server, "arbiter_tokens_total", model="gpt-4o-mini", provider="openai", kind=kind
        )
        for kind in ("prompt", "completion")
    }
    assert tokens == {"prompt": 11, "completion": 18}


def test_cached_prompt_tokens_reported_elsewhere_are_moved_to_openai_s_place(served):
    """DeepSeek reports cache hits as prompt_cache_hit_tokens: that usage chunk is
    rewritten for the client, while the chunks around it pass as they are."""
    usage = {**USAGE, "prompt_cache_hit_tokens": 8}
    server, _ = served(sse_reply(burst(usage)))
    chunks = ask(server, stream_options={"include_usage": True})
    assert chunks[-1].usage.prompt_tokens_details.cached_tokens == 8
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "".join(WORDS)


def test_a_paced_stream_reaches_the_client_as_it_is_sent(served):
    """The first event is at the client while the upstream still holds the rest."""
    server, upstream = served(
        sse_reply(sse_chunk("first ", role=True), HOLD, sse_chunk("second", finish="stop"), DONE)
    )
    stream = RawStream(server, REQUEST)
    try:
        first = stream.next_piece()
        assert events(first) and b"first " in first  # the upstream has not gone on yet
        upstream.release()
        rest = b"".join(stream.pieces())
    finally:
        stream.close()
    relayed = [json.loads(e) for e in events(first + rest)[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in relayed)
    assert text == "first second"
    assert rest.endswith(DONE)


def test_an_error_event_mid_stream_ends_it_with_one_error_event_and_done(served):
    error = b'data: {"error": {"message": "overloaded", "type": "server_error"}}\n\n'
    server, upstream = served(
        sse_reply(sse_chunk("one ", role=True), sse_chunk("two "), HOLD, error, finished=False)
    )
    stream = RawStream(server, REQUEST)
    try:
        head = stream.next_piece()
        while head.count(b"data: ") < 2:
            head += stream.next_piece()
        upstream.release()
        rest = b"".join(stream.pieces())
    finally:
        stream.close()
    relayed = events(head + rest)
    texts = [json.loads(e)["choices"][0]["delta"].get("content") for e in relayed[:2]]
    assert texts == ["one ", "two "]
    failure = json.loads(relayed[2])
    assert failure["error"]["type"] == "api_error"
    assert relayed[3:] == [b"[DONE]"]


def test_without_usage_from_upstream_the_gateway_counts_it(served):
    """An upstream that ignores include_usage: the closing usage chunk is counted
    from the streamed text, the same figures as counting every delta."""
    no_usage = b"".join(
        [sse_chunk("", role=True)]
        + [sse_chunk(word) for word in WORDS]
        + [sse_chunk(finish="stop"), DONE]
    )
    server, _ = served(sse_reply(no_usage))
    chunks = ask(server, stream_options={"include_usage": True})
    usage = chunks[-1].usage
    assert chunks[-1].choices == []
    assert usage.completion_tokens == count_text_tokens("".join(WORDS), "o200k_base")
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_a_client_that_leaves_while_the_upstream_is_silent_ends_the_request_at_once(served):
    """Nothing more is coming from the upstream, yet the request ends (counted as
    cancelled, with what was streamed) as soon as the client hangs up."""
    server, upstream = served(sse_reply(sse_chunk("first ", role=True), HOLD, DONE))
    stream = RawStream(server, REQUEST)
    assert b"first " in stream.next_piece()
    stream.close()
    labels = {"model": "gpt-4o-mini", "provider": "openai", "status": "cancelled"}
    deadline = time.monotonic() + 5
    while metric_value(server, "arbiter_requests_total", **labels) != 1:
        assert time.monotonic() < deadline, "the request did not end when its client left"
        time.sleep(0.02)
    assert metric_value(server, "arbiter_inflight_requests") == 0
    upstream.release()

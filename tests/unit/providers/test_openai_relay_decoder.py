"""The OpenAI relay decoder hands events on as the upstream's bytes when nothing in
them needs the gateway, and parses exactly those that do."""

from __future__ import annotations

import json

import pytest

from providers.errors import UpstreamUnavailableError
from providers.openai_compat import OpenAIRelayDecoder
from providers.stream_chunk import StreamChunk
from providers.tokens import StreamMeter
from providers.types import ChatRequest

TEXT = b'{"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "hi \\"usage\\": 1"}}], "usage": null}'  # noqa: E501
USAGE = b'{"id": "c", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5, "prompt_cache_hit_tokens": 1}}'  # noqa: E501
STREAM = b"data: " + TEXT + b"\n\ndata: " + USAGE + b"\n\ndata: [DONE]\n\n"


def decode(data: bytes, step: int) -> list[StreamChunk]:
    decoder = OpenAIRelayDecoder("upstream")
    out: list[StreamChunk] = []
    for i in range(0, len(data), step):
        out += decoder.feed_chunks(data[i : i + step])
    return out + decoder.close_chunks()


@pytest.mark.parametrize("step", [1, 2, 7, 64, len(STREAM)])
def test_however_the_bytes_are_cut_the_text_event_is_relayed_as_sent(step):
    text, usage = decode(STREAM, step)
    assert text.data == TEXT and text.usage is None
    assert usage.usage == {
        "prompt_tokens": 3,
        "completion_tokens": 2,
        "total_tokens": 5,
        "prompt_cache_hit_tokens": 1,
        "prompt_tokens_details": {"cached_tokens": 1},
    }
    assert json.loads(usage.data)["usage"]["prompt_tokens_details"] == {"cached_tokens": 1}


def test_crlf_line_endings_comments_and_split_data_lines_still_decode():
    stream = (
        b": keep-alive\r\n\r\n"
        b'data: {"id": "c", "choices": [{"index": 0,\r\ndata:  "delta": {"content": "x"}}]}\r\n\r\n'
        b"data: [DONE]\r\n\r\n"
    )
    (chunk,) = decode(stream, 5)
    assert chunk.chunk["choices"][0]["delta"] == {"content": "x"}


def test_json_that_is_not_an_object_is_dropped():
    stream = b'data: 42\n\ndata: "x"\n\ndata: {"id": "c", "choices": []}\n\ndata: [DONE]\n\n'
    assert [c.chunk for c in decode(stream, len(stream))] == [{"id": "c", "choices": []}]


@pytest.mark.parametrize(
    "event",
    [
        b'data: {"error": {"message": "boom", "type": "server_error"}}\n\n',
        b'event: error\ndata: {"message": "overloaded"}\n\n',
        b"data: \xff{{ not json\n\n",
    ],
)
def test_errors_and_garbage_fail_the_stream(event):
    with pytest.raises(UpstreamUnavailableError):
        decode(b"data: " + TEXT + b"\n\n" + event, 1000)


def test_a_stream_that_ends_without_done_ended_early():
    with pytest.raises(UpstreamUnavailableError, match="ended the stream early"):
        decode(b"data: " + TEXT + b"\n\n", 1000)


def test_the_meter_counts_relayed_bytes_as_it_counts_parsed_chunks():
    request = ChatRequest(model="gpt-4o", messages=[{"role": "user", "content": "Say hi"}])
    pieces = [
        b'{"id": "c1", "created": 1, "model": "m", "choices": [{"delta": {"role": "assistant"}}]}',
        b'{"id": "c1", "choices": [{"index": 0, "delta": {"content": "Hello"}}]}',
        b'{"id": "c1", "choices": [{"index": 0, "delta": {"content": " there"}}]}',
    ]
    by_bytes, by_dict = StreamMeter(request, "gpt-4o"), StreamMeter(request, "gpt-4o")
    by_bytes.observe_batch([StreamChunk.raw(p) for p in pieces])
    for piece in pieces:
        by_dict.observe(json.loads(piece))
    assert by_bytes.usage_chunk() == by_dict.usage_chunk()
    assert by_bytes.usage_chunk()["id"] == "c1"
    assert by_bytes.usage()["completion_tokens"] > 0


def test_once_usage_arrives_the_meter_lets_go_of_the_chunks():
    request = ChatRequest(model="gpt-4o", messages=[{"role": "user", "content": "Say hi"}])
    meter = StreamMeter(request, "gpt-4o")
    meter.observe_batch([StreamChunk.raw(b"not json, never read")])
    meter.observe({"choices": [], "usage": {"prompt_tokens": 1}})
    assert meter.usage_seen
    assert meter.usage()["completion_tokens"] == 0  # nothing held, nothing parsed


def test_a_usage_that_is_not_the_chunk_s_last_member_is_still_read():
    chunk = b'{"usage": {"prompt_tokens": 3, "completion_tokens": 2}, "id": "c", "choices": []}'
    (usage,) = decode(b"data: " + chunk + b"\n\ndata: [DONE]\n\n", 1000)
    assert usage.usage == {"prompt_tokens": 3, "completion_tokens": 2}


def test_text_that_quotes_the_word_error_is_relayed_as_sent():
    text = b'{"id": "c", "choices": [{"index": 0, "delta": {"content": "an \\"error\\""}}]}'
    (chunk,) = decode(b"data: " + text + b"\n\ndata: [DONE]\n\n", 1000)
    assert chunk.data == text and chunk.usage is None


def test_an_error_among_plain_events_of_one_read_fails_the_stream():
    error = b'{"error": {"message": "overloaded", "type": "server_error"}}'
    with pytest.raises(UpstreamUnavailableError):
        decode(b"data: " + TEXT + b"\n\ndata: " + error + b"\n\ndata: " + TEXT + b"\n\n", 10_000)

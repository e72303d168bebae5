"""A cached answer round-trips through its byte form; a hit gets the answer's JSON as
it was sent; long answers are stored compactly; foreign bytes are a miss."""

from __future__ import annotations

import zlib

import orjson

from cache.entry import COMPRESS_ABOVE_BYTES, CachedAnswer, decode_answer, encode_answer

USAGE = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}


def response(text: str) -> dict:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": USAGE,
    }


def answer(text: str) -> CachedAnswer:
    return CachedAnswer.of(
        response(text), "demo", "openai-main", "gpt-4o-mini", "demo/p/m#0", 1700.5
    )


def test_a_small_answer_round_trips_with_the_exact_json_a_client_was_sent():
    original = answer("hello")
    decoded = decode_answer(encode_answer(original))
    assert decoded == original
    assert decoded.body == orjson.dumps(response("hello"))
    assert decoded.response() == response("hello")
    assert decoded.usage == USAGE  # what a hit saved is priced without reading the body


def test_a_short_answer_is_stored_as_it_is():
    original = answer("The play was written by William Shakespeare. " * 10)
    assert len(original.body) < COMPRESS_ABOVE_BYTES
    assert original.body in encode_answer(original)


def test_a_large_answer_is_stored_compressed_and_round_trips():
    original = answer("the quick brown fox jumps over the lazy dog. " * 200)
    data = encode_answer(original)
    assert len(data) < len(original.body) / 5
    assert decode_answer(data) == original


def test_an_answer_without_usage_round_trips():
    body = response("hi")
    del body["usage"]
    original = CachedAnswer.of(body, "demo", "openai-main", "gpt-4o-mini", "demo/p/m#0", 1.0)
    assert original.usage is None
    assert decode_answer(encode_answer(original)) == original


def test_bytes_that_are_not_an_entry_read_as_a_miss():
    header = orjson.dumps(["demo", "openai", "gpt-4o-mini", "demo/0", 1.0, None])
    assert decode_answer(b"") is None
    assert decode_answer(b"garbage") is None
    assert decode_answer(b"D" + header + b"\n" + b"not zlib") is None
    assert decode_answer(b"D" + header + b"\n" + zlib.compress(b"{}")[:-3]) is None  # truncated
    assert decode_answer(b"P" + header + b"\n" + b'{"id": "cut sh') is None
    assert decode_answer(b"P" + b'["too", "short"]' + b"\n" + b"{}") is None
    assert decode_answer(b"P" + b"{not json" + b"\n" + b"{}") is None


def test_an_entry_of_the_previous_format_reads_as_a_miss():
    """Replicas of an older version share the Redis: their entries are not served."""
    old = {"f": 1, "response": response("hi"), "model": "demo", "provider": "openai"}
    assert decode_answer(b"j" + orjson.dumps(old)) is None
    assert decode_answer(b"z" + zlib.compress(orjson.dumps(old), 1)) is None

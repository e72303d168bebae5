"""A cached answer round-trips through its byte form, compactly; foreign bytes are a miss."""

from __future__ import annotations

import orjson

from cache.entry import COMPRESS_ABOVE_BYTES, CachedAnswer, decode_answer, encode_answer


def answer(text: str) -> CachedAnswer:
    response = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }
    return CachedAnswer(response, "demo", "openai-main", "gpt-4o-mini", "demo/p/m#0", 1700.5)


def test_a_small_answer_round_trips():
    original = answer("hello")
    data = encode_answer(original)
    assert len(data) < COMPRESS_ABOVE_BYTES
    assert decode_answer(data) == original


def test_a_large_answer_is_stored_compressed_and_round_trips():
    original = answer("the quick brown fox jumps over the lazy dog. " * 200)
    data = encode_answer(original)
    assert len(data) < len(orjson.dumps(original.response)) / 5
    assert decode_answer(data) == original


def test_bytes_that_are_not_an_entry_read_as_a_miss():
    assert decode_answer(b"") is None
    assert decode_answer(b"garbage") is None
    assert decode_answer(b"z" + b"not zlib") is None
    assert decode_answer(b"j" + orjson.dumps({"f": 99, "response": {}})) is None
    assert decode_answer(b"j{}") is None

"""Bodies answered from the cache are remembered with their parsed request, within bounds."""

from __future__ import annotations

import orjson

from gateway.api.chat import parse_chat_request
from gateway.repeats import MAX_BODY_BYTES, RepeatedBodies


def body(text: str, pad: int = 0) -> bytes:
    return orjson.dumps(
        {"model": "demo", "messages": [{"role": "user", "content": text + "x" * pad}]}
    )


def test_a_remembered_body_gives_back_the_request_parsed_from_it() -> None:
    repeats = RepeatedBodies()
    sent = body("hello")
    chat = parse_chat_request(sent)

    assert repeats.get(sent) is None
    repeats.remember(sent, chat)

    again = bytes(bytearray(sent))  # the same bytes, arriving as a new object
    assert repeats.get(again) is chat
    assert repeats.get(body("hello!")) is None


def test_the_oldest_bodies_go_first_when_there_are_too_many() -> None:
    repeats = RepeatedBodies(max_entries=3)
    bodies = [body(f"question {n}") for n in range(5)]
    for sent in bodies:
        repeats.remember(sent, parse_chat_request(sent))

    assert len(repeats) == 3
    assert [repeats.get(b) is not None for b in bodies] == [False, False, True, True, True]


def test_bodies_are_bounded_by_their_bytes_too() -> None:
    repeats = RepeatedBodies(max_entries=100, max_bytes=3 * 1100)
    for n in range(10):
        sent = body(f"q{n}", pad=1000)
        repeats.remember(sent, parse_chat_request(sent))

    assert len(repeats) == 3


def test_long_bodies_are_never_kept() -> None:
    repeats = RepeatedBodies()
    sent = body("long", pad=MAX_BODY_BYTES)
    repeats.remember(sent, parse_chat_request(sent))

    assert len(repeats) == 0 and repeats.get(sent) is None


def test_a_remembered_request_keeps_what_is_derived_from_it_until_it_is_changed() -> None:
    sent = body("hello")
    chat = parse_chat_request(sent)
    assert chat.derived is None  # a request seen once keeps nothing

    RepeatedBodies().remember(sent, chat)
    assert chat.derived == {}
    chat.derived["key"] = "abc"

    chat.temperature = 0.5
    assert chat.derived is None

"""A relay reads an OpenAI stream one read at a time; a read of plain one-line
``data:`` events is cut in one go, and anything else goes to the general parser
with nothing lost."""

from __future__ import annotations

import pytest

from providers.sse import SSEParser

PLAIN = b'data: {"a": 1}\n\ndata: {"b": 2}\n\ndata: [DONE]\n\n'


def test_a_read_of_plain_events_gives_their_data_in_order():
    assert SSEParser().feed_data(PLAIN) == [b'{"a": 1}', b'{"b": 2}', b"[DONE]"]


def test_an_event_cut_between_reads_comes_whole_with_the_read_that_ends_it():
    parser = SSEParser()
    assert parser.feed_data(b'data: {"a": 1}\n\ndata: {"b"') == [b'{"a": 1}']
    assert parser.feed_data(b": 2}\n") == []
    assert parser.feed_data(b"\n") == [b'{"b": 2}']


@pytest.mark.parametrize(
    "read",
    [
        b": keep-alive\n\ndata: {}\n\n",  # a comment
        b"event: error\ndata: {}\n\n",  # a named event
        b"data: {}\r\n\r\n",  # CRLF line endings
        b'data: {"a":\ndata: 1}\n\n',  # data on two lines
        b"data: {}\n\n\n\ndata: {}\n\n",  # blank lines between events
    ],
)
def test_anything_else_is_left_to_the_general_parser_and_nothing_is_lost(read):
    parser, reference = SSEParser(), SSEParser()
    assert parser.feed_data(read) is None
    assert parser.feed_raw(read) == reference.feed_raw(read)

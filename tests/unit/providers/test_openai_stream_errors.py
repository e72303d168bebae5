"""Errors inside an OpenAI-format stream become taxonomy errors, never chunks."""

from __future__ import annotations

import pytest

from providers.errors import UpstreamUnavailableError
from providers.openai_compat import OpenAIChunkDecoder

CHUNK = b'data: {"id": "c", "object": "chat.completion.chunk", "choices": []}\n\n'


def test_a_named_error_event_is_an_error_whatever_its_data():
    """Regression: ``event: error`` with a payload lacking an ``error`` object was
    relayed to the client as if it were a completion chunk."""
    decoder = OpenAIChunkDecoder("upstream")
    assert len(decoder.feed(CHUNK)) == 1
    with pytest.raises(UpstreamUnavailableError) as caught:
        decoder.feed(b'event: error\ndata: {"message": "The server is overloaded"}\n\n')
    assert "overloaded" in (caught.value.debug or "")  # for the log, not the client
    assert caught.value.provider == "upstream"


def test_a_named_error_event_with_plain_text_data_is_an_error():
    with pytest.raises(UpstreamUnavailableError):
        OpenAIChunkDecoder("upstream").feed(b"event: error\ndata: overloaded\n\n")


def test_an_error_object_in_a_data_event_is_an_error():
    with pytest.raises(UpstreamUnavailableError) as caught:
        OpenAIChunkDecoder("upstream").feed(
            b'data: {"error": {"message": "boom", "type": "server_error"}}\n\n'
        )
    assert "boom" in (caught.value.debug or "")


def test_garbage_in_a_data_event_is_a_malformed_stream():
    with pytest.raises(UpstreamUnavailableError, match="malformed stream event"):
        OpenAIChunkDecoder("upstream").feed(b"data: \xff\xfe{{{ not json\n\n")

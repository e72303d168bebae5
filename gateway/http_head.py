"""The bytes of an HTTP/1.1 response head, for ``gateway.http_protocol``.

Pure functions over bytes: the status line, the app's headers checked and joined,
the framing the body will need (a declared length, or chunked), and the server's
own plain-text answers (400, 500). Checking costs one pass over the joined head,
not a regular expression per header: in a head only each line's CRLF may be a
control character, and a header name is checked once per distinct name.
"""

from __future__ import annotations

import http
import re
from collections.abc import Sequence
from operator import itemgetter

__all__ = ["CHUNKED", "Head", "ServerHeaders", "plain_answer", "response_head"]

CHUNKED = -1  # Head.length of a body sent in chunks
_STATUS_LINES = {
    int(s): b"HTTP/1.1 %d %s\r\n" % (int(s), s.phrase.encode("ascii")) for s in http.HTTPStatus
}
# What a header line may hold: tab, visible ASCII, and obs-text (RFC 9110, 5.5).
_FIT = bytes(c for c in range(256) if c == 9 or 0x20 <= c < 0x7F or c >= 0x80)
_BREAK = b"\r\n"
_NOT_TOKEN = re.compile(rb"[^!#$%&'*+\-.^_`|~0-9A-Za-z]")
# Names seen to be tokens, other than the framing ones: a head whose names are all
# here needs no look at them. Most are the app's constants; bounded all the same.
_ORDINARY: set[bytes] = set()
_MAX_ORDINARY = 1024
_NAME = itemgetter(0)


# A response head: (its bytes, the body bytes due under a declared length or
# CHUNKED, whether the connection stays open after it). A plain tuple: a
# NamedTuple's constructor is a Python function call on every answer.
Head = tuple[bytes, int, bool]


class ServerHeaders:
    """The server's own headers (``date``, ``server``) as bytes, encoded once per
    change: uvicorn replaces its list when the second turns."""

    __slots__ = ("encoded", "source")

    def __init__(self) -> None:
        self.source: list[tuple[bytes, bytes]] | None = None
        self.encoded = b""

    def of(self, headers: list[tuple[bytes, bytes]]) -> bytes:
        if headers is not self.source:
            self.encoded = b"".join(b"%s: %s\r\n" % (name, value) for name, value in headers)
            self.source = headers
        return self.encoded


def status_line(status: int) -> bytes:
    return _STATUS_LINES.get(status) or b"HTTP/1.1 %d \r\n" % status


def _screen(
    headers: Sequence[tuple[bytes, bytes]],
) -> tuple[list[tuple[bytes, bytes]], bool, bool]:
    """Headers with a name not seen before, or a framing one: names checked, and
    the app's ``transfer-encoding: chunked`` and ``connection: close`` taken out
    (the server writes its own). Returns (the other headers, chunked, close)."""
    kept = []
    chunked = close = False
    for name, value in headers:
        if name not in _ORDINARY:
            if not name or _NOT_TOKEN.search(name):
                raise RuntimeError(f"invalid HTTP header name: {name!r}")
            lower = name.lower()
            if lower == b"transfer-encoding":
                if value.lower() == b"chunked":
                    chunked = True
                    continue
            elif lower == b"connection":
                if b"close" in value.lower():
                    close = True
                    continue
            elif len(_ORDINARY) < _MAX_ORDINARY:
                _ORDINARY.add(name)
        kept.append((name, value))
    return kept, chunked, close


def _value_of(block: bytes, name: bytes) -> bytes | None:
    """The value of the first ``name:`` line of a header block (``name`` lower-case)."""
    lowered = block.lower()
    at = lowered.find(name)
    while at > 0 and lowered[at - 1] != 10:  # not at a line's start: part of another name
        at = lowered.find(name, at + 1)
    if at < 0:
        return None
    end = lowered.find(b"\r", at)
    return lowered[at + len(name) : end if end >= 0 else len(lowered)].strip()


def response_head(
    status: int,
    headers: Sequence[tuple[bytes, bytes]],
    server_headers: bytes,
    *,
    bodiless: bool,
    keep_alive: bool,
) -> Head:
    """The head of an answer. ``bodiless``: a HEAD request's, or a status without
    a body (1xx, 204, 304). The body is chunked unless the app declared its length
    (or there is none); the app's own ``transfer-encoding: chunked`` is left to the
    server, which writes the framing. RuntimeError for a header that would break
    the head (a line break or other control character in a value, a bad name)."""
    chunked = False
    if not _ORDINARY.issuperset(map(_NAME, headers)):
        headers, chunked, close = _screen(headers)
        keep_alive = keep_alive and not close
    block = b"\r\n".join([b": ".join(header) for header in headers])
    # What is left once every byte a header may hold is deleted: the line breaks
    # between the headers, and nothing else.
    if headers and block.translate(None, _FIT) != _BREAK * (len(headers) - 1):
        raise RuntimeError("invalid HTTP header value")
    declared = None if chunked else _value_of(block, b"content-length:")
    if headers:
        block += _BREAK
    bodiless = bodiless or status in (204, 304) or status < 200
    if bodiless:
        length = 0
    elif declared is not None:
        length = int(declared)
    else:
        length = CHUNKED
        block += b"transfer-encoding: chunked\r\n"
    if not keep_alive:
        block += b"connection: close\r\n"
    return status_line(status) + server_headers + block + _BREAK, length, keep_alive


def plain_answer(status: int, text: bytes, server_headers: bytes) -> bytes:
    """A whole plain-text answer of the server's own, after which it closes."""
    return (
        status_line(status)
        + server_headers
        + b"content-type: text/plain; charset=utf-8\r\n"
        + b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(text), text)
    )

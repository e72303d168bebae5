"""Prompt tokens of an image part, as OpenAI documents them for GPT-4o-class models.

``detail: low`` costs a flat 85 tokens. Otherwise (``high`` or ``auto``) the
image is scaled to fit in 2048x2048, then so that its shorter side is at most
768 px, and costs 85 + 170 per 512-px tile. The size is read from the header of
a ``data:`` URL (PNG, GIF, JPEG, WebP); a remote URL is not fetched, so its size
is taken to be 1024x1024 (765 tokens), an estimate that the real usage corrects
after the call. Models priced by 32-px patches (GPT-4.1-mini and later small
models) are counted the same way: an estimate, not their billing.
"""

from __future__ import annotations

import base64
import binascii
import math
import struct

__all__ = ["image_size", "image_tokens"]

_BASE = 85
_PER_TILE = 170
_TILE = 512
_FIT = 2048
_SHORT_SIDE = 768
_UNKNOWN_SIZE = (1024, 1024)
_HEADER_BYTES = 64 * 1024  # enough base64 to reach a JPEG's size marker in practice


def _png(data: bytes) -> tuple[int, int] | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])  # type: ignore[return-value]
    return None


def _gif(data: bytes) -> tuple[int, int] | None:
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])  # type: ignore[return-value]
    return None


def _webp(data: bytes) -> tuple[int, int] | None:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP" or len(data) < 30:
        return None
    kind = data[12:16]
    if kind == b"VP8X":
        w = int.from_bytes(data[24:27], "little") + 1
        h = int.from_bytes(data[27:30], "little") + 1
        return w, h
    if kind == b"VP8 ":
        w, h = struct.unpack("<HH", data[26:30])
        return w & 0x3FFF, h & 0x3FFF
    if kind == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _jpeg(data: bytes) -> tuple[int, int] | None:
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return w, h
        i += 2 + length
    return None


def image_size(url: str) -> tuple[int, int] | None:
    """Width and height from a ``data:`` URL's image header; None if unknown."""
    if not url.startswith("data:"):
        return None
    _, _, payload = url.partition(",")
    head = payload[:_HEADER_BYTES]
    head = head[: len(head) - len(head) % 4]
    try:
        data = base64.b64decode(head)
    except (binascii.Error, ValueError):
        return None
    for sniff in (_png, _jpeg, _gif, _webp):
        size = sniff(data)
        if size:
            return size
    return None


def image_tokens(url: str, detail: str | None) -> int:
    if detail == "low":
        return _BASE
    size = image_size(url) or _UNKNOWN_SIZE
    if min(size) <= 0:
        return _BASE
    fit = min(1.0, _FIT / max(size))
    width, height = size[0] * fit, size[1] * fit
    short = min(1.0, _SHORT_SIDE / min(width, height))
    tiles = math.ceil(width * short / _TILE) * math.ceil(height * short / _TILE)
    return _BASE + _PER_TILE * tiles

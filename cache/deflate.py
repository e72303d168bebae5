"""Compression of large cache entries: zlib at level 1, each entry on its own.

Level 1 keeps most of the gain for the least CPU. Each entry is a complete zlib
stream (its own header and Adler-32 checksum), so a corrupted or truncated value
fails to inflate and reads as a miss, and entries depend on no shared state.
"""

from __future__ import annotations

import zlib

__all__ = ["DeflateError", "deflate", "inflate"]

DeflateError = zlib.error
_LEVEL = 1


def deflate(data: bytes) -> bytes:
    """``data`` compressed."""
    return zlib.compress(data, _LEVEL)


def inflate(data: bytes) -> bytes:
    """What ``deflate`` was given; raises ``DeflateError`` for anything else."""
    return zlib.decompress(data)

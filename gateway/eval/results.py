"""Eval results: one row per (case, model), and the cache that makes re-runs cheap.

The cache is ``DIR/cache.jsonl``, appended to as results arrive (an
interrupted run keeps what it finished). A row is found again by its key: the
model plus the case's fingerprint (messages, expectation, assertion and its
options, judge included), so editing a case re-runs it and reordering does
not. Rows that failed (model or judge errors) are never cached.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

import orjson

__all__ = ["CaseResult", "ResultCache", "result_key", "write_results"]


def result_key(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:32]


@dataclass(slots=True)
class CaseResult:
    key: str
    case_id: str
    model: str
    task: str
    assertion: str
    score: float | None = None  # None when it could not be scored (see error)
    reason: str | None = None  # why it failed, when it did
    answer: str = ""
    answered_by: str | None = None
    latency_ms: float | None = None
    usage: dict[str, Any] | None = None
    cost_usd: float | None = None
    error: str | None = None
    cached: bool = False

    @property
    def tokens(self) -> int:
        usage = self.usage or {}
        return int(usage.get("prompt_tokens") or 0) + int(usage.get("completion_tokens") or 0)

    def as_row(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> CaseResult:
        known = {k: row[k] for k in cls.__dataclass_fields__ if k in row}
        return cls(**known)


class ResultCache:
    """Finished results by key, persisted as JSONL; kinds: 'answer' and 'pair' rows."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._rows: dict[str, dict[str, Any]] = {}
        self._out: IO[bytes] | None = None
        if path is not None and path.exists():
            for line in path.read_bytes().splitlines():
                try:
                    row = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue  # a line cut short by an interrupted run
                if isinstance(row, dict) and "key" in row:
                    self._rows[str(row["key"])] = row

    def get(self, key: str) -> dict[str, Any] | None:
        return self._rows.get(key)

    def put(self, row: dict[str, Any]) -> None:
        self._rows[str(row["key"])] = row
        if self.path is None:
            return
        if self._out is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._out = self.path.open("ab")
        self._out.write(orjson.dumps(row) + b"\n")
        self._out.flush()

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


def write_results(results: Iterable[CaseResult], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        for result in results:
            out.write(orjson.dumps(result.as_row()) + b"\n")

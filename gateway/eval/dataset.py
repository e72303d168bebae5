"""Eval datasets: JSONL, one case a line, validated up front with line numbers.

A case is ``{"messages": [...]}`` or ``{"prompt": "..."}``, plus ``expected``,
``assert`` (``equals``, ``contains``, ``regex``, ``json_valid``, ``json_schema``,
``numeric``, ``judge``; default ``contains``), an optional ``task`` label and
``id``, and per-assertion options: ``tolerance`` / ``rel_tolerance``
(numeric), ``schema`` (json_schema; else ``expected`` is the schema),
``rubric`` and ``judge`` (judge; ``expected`` is then an optional reference).

A line ``{"defaults": {...}}`` sets defaults for the lines after it (an
assertion per file). Blank lines and lines starting with ``#`` are skipped.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

__all__ = ["ASSERTIONS", "DatasetError", "EvalCase", "load_dataset", "parse_dataset"]

ASSERTIONS = ("equals", "contains", "regex", "json_valid", "json_schema", "numeric", "judge")
_FIELDS = {
    "id",
    "messages",
    "prompt",
    "expected",
    "assert",
    "task",
    "tolerance",
    "rel_tolerance",
    "schema",
    "rubric",
    "judge",
    "metadata",
}


class DatasetError(Exception):
    """A dataset the runner cannot use; the message names the line."""


@dataclass(frozen=True, slots=True)
class EvalCase:
    id: str
    line: int
    messages: list[dict[str, Any]]
    expected: Any
    assertion: str
    task: str = "general"
    options: Mapping[str, Any] = field(default_factory=dict)  # tolerance, schema, rubric, judge

    @property
    def question(self) -> str:
        for message in reversed(self.messages):
            if message.get("role") == "user" and isinstance(message.get("content"), str):
                return str(message["content"])
        return orjson.dumps(self.messages).decode()

    @property
    def judge(self) -> str | None:
        value = self.options.get("judge")
        return str(value) if value else None

    def fingerprint(self) -> str:
        """What the result depends on (not the id or the line): the results cache key."""
        canonical = orjson.dumps(
            {
                "messages": self.messages,
                "expected": self.expected,
                "assert": self.assertion,
                "options": dict(self.options),
            },
            option=orjson.OPT_SORT_KEYS,
        )
        return hashlib.sha256(canonical).hexdigest()


def _number(value: Any, name: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise DatasetError(f"{where}: {name} must be a number")
    try:
        return float(value)
    except ValueError:
        raise DatasetError(f"{where}: {name} must be a number, not {value!r}") from None


def _validate(row: dict[str, Any], where: str, default_judge: str | None) -> None:
    unknown = sorted(set(row) - _FIELDS)
    if unknown:
        raise DatasetError(f"{where}: unknown field {unknown[0]!r}")
    kind = row.get("assert", "contains")
    if kind not in ASSERTIONS:
        raise DatasetError(f"{where}: assert must be one of {', '.join(ASSERTIONS)}, not {kind!r}")
    if kind not in ("json_valid", "judge") and "expected" not in row:
        if not (kind == "json_schema" and "schema" in row):
            raise DatasetError(f"{where}: assert {kind!r} needs 'expected'")
    if kind == "regex":
        try:
            re.compile(str(row["expected"]))
        except re.error as exc:
            raise DatasetError(f"{where}: expected is not a valid regex: {exc}") from None
    if kind == "numeric":
        _number(row["expected"], "expected", where)
        for name in ("tolerance", "rel_tolerance"):
            if name in row and _number(row[name], name, where) < 0:
                raise DatasetError(f"{where}: {name} must be >= 0")
    if kind == "json_schema":
        import jsonschema

        schema = row.get("schema", row.get("expected"))
        if not isinstance(schema, dict):
            raise DatasetError(f"{where}: json_schema needs a schema object")
        try:
            jsonschema.validators.validator_for(schema).check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise DatasetError(f"{where}: invalid JSON schema: {exc.message}") from None
    if kind == "judge" and not (row.get("judge") or default_judge):
        raise DatasetError(f"{where}: assert 'judge' needs a judge model ('judge' or --judge)")


def _messages(row: dict[str, Any], where: str) -> list[dict[str, Any]]:
    if "messages" in row:
        messages = row["messages"]
        if not isinstance(messages, list) or not messages:
            raise DatasetError(f"{where}: messages must be a non-empty list")
        for i, message in enumerate(messages):
            if not isinstance(message, dict) or "role" not in message:
                raise DatasetError(f"{where}: messages[{i}] must be an object with a 'role'")
        return messages
    if isinstance(row.get("prompt"), str) and row["prompt"]:
        return [{"role": "user", "content": row["prompt"]}]
    raise DatasetError(f"{where}: needs 'messages' or 'prompt'")


def parse_dataset(
    text: str, *, name: str = "dataset", default_assert: str | None = None, judge: str | None = None
) -> list[EvalCase]:
    defaults: dict[str, Any] = {"assert": default_assert} if default_assert else {}
    cases: list[EvalCase] = []
    ids: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        where = f"{name}:{number}"
        try:
            row = orjson.loads(stripped)
        except orjson.JSONDecodeError as exc:
            raise DatasetError(f"{where}: not valid JSON ({exc})") from None
        if not isinstance(row, dict):
            raise DatasetError(f"{where}: each line must be a JSON object")
        if set(row) == {"defaults"} and isinstance(row["defaults"], dict):
            defaults = {**defaults, **row["defaults"]}
            continue
        row = {**defaults, **row}
        _validate(row, where, judge)
        case_id = str(row.get("id", number))
        if case_id in ids:
            raise DatasetError(f"{where}: duplicate id {case_id!r}")
        ids.add(case_id)
        options = {
            k: row[k] for k in ("tolerance", "rel_tolerance", "schema", "rubric") if k in row
        }
        if row.get("assert") == "judge":
            options["judge"] = row.get("judge") or judge
        cases.append(
            EvalCase(
                id=case_id,
                line=number,
                messages=_messages(row, where),
                expected=row.get("expected"),
                assertion=row.get("assert", "contains"),
                task=str(row.get("task") or "general")[:64],
                options=options,
            )
        )
    if not cases:
        raise DatasetError(f"{name}: no cases")
    return cases


def load_dataset(
    path: str | Path, *, default_assert: str | None = None, judge: str | None = None
) -> list[EvalCase]:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise DatasetError(f"cannot read dataset {str(path)!r}: {exc.strerror}") from None
    return parse_dataset(text, name=Path(path).name, default_assert=default_assert, judge=judge)

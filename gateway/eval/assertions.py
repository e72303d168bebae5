"""Checking an answer against a case's expectation: a score in 0..1 and, if it failed, why.

Every assertion but ``judge`` (which needs a model call, see ``runner``) is
decided here, without I/O. ``numeric`` takes the last number in the answer, so
"17 + 25 = 42" and "The answer is 42." both give 42.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from gateway.eval.dataset import EvalCase

__all__ = ["check_answer", "extract_json", "last_number"]

_NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?(?:[eE][-+]?\d+)?")
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def last_number(text: str) -> float | None:
    found = _NUMBER.findall(text)
    if not found:
        return None
    return float(found[-1].replace(",", ""))


def extract_json(text: str) -> Any:
    """The answer as JSON, also when wrapped in a Markdown code fence; raises ValueError."""
    fenced = _FENCE.search(text)
    candidate = fenced.group(1) if fenced else text
    return json.loads(candidate.strip())


def _numeric(case: EvalCase, text: str) -> tuple[float, str | None]:
    got = last_number(text)
    want = float(case.expected)
    if got is None:
        return 0.0, "no number in the answer"
    tolerance = float(case.options.get("tolerance", 1e-6))
    relative = float(case.options.get("rel_tolerance", 0.0))
    if math.isclose(got, want, abs_tol=tolerance, rel_tol=relative):
        return 1.0, None
    return 0.0, f"got {got:g}, expected {want:g}"


def _schema(case: EvalCase, text: str) -> tuple[float, str | None]:
    import jsonschema

    try:
        value = extract_json(text)
    except ValueError:
        return 0.0, "the answer is not JSON"
    schema = case.options.get("schema", case.expected)
    error = jsonschema.exceptions.best_match(
        jsonschema.validators.validator_for(schema)(schema).iter_errors(value)
    )
    return (1.0, None) if error is None else (0.0, f"schema: {error.message}")


def check_answer(case: EvalCase, text: str) -> tuple[float, str | None]:
    """(score, reason it failed or None) for every assertion except ``judge``."""
    kind = case.assertion
    if kind == "equals":
        ok = text.strip() == str(case.expected).strip()
        return (1.0, None) if ok else (0.0, "not equal to the expected answer")
    if kind == "contains":
        ok = str(case.expected) in text
        return (1.0, None) if ok else (0.0, "does not contain the expected text")
    if kind == "regex":
        ok = re.search(str(case.expected), text) is not None
        return (1.0, None) if ok else (0.0, "does not match the pattern")
    if kind == "json_valid":
        try:
            extract_json(text)
        except ValueError:
            return 0.0, "the answer is not JSON"
        return 1.0, None
    if kind == "json_schema":
        return _schema(case, text)
    if kind == "numeric":
        return _numeric(case, text)
    raise ValueError(f"assertion {kind!r} is not decided locally")

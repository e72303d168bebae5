"""Each assertion kind decides pass or fail the way a user would expect."""

from __future__ import annotations

import json

import pytest

from gateway.eval.assertions import check_answer
from gateway.eval.dataset import parse_dataset


def case(**row):
    row.setdefault("prompt", "question")
    return parse_dataset(json.dumps(row))[0]


@pytest.mark.parametrize(
    ("row", "answer", "score"),
    [
        ({"assert": "equals", "expected": "Paris"}, "  Paris\n", 1.0),
        ({"assert": "equals", "expected": "Paris"}, "paris", 0.0),
        ({"assert": "contains", "expected": "Paris"}, "It is Paris.", 1.0),
        ({"assert": "contains", "expected": "Paris"}, "It is Rome.", 0.0),
        ({"assert": "regex", "expected": r"^\d{3}-\d{4}$"}, "555-1234", 1.0),
        ({"assert": "regex", "expected": r"^\d{3}-\d{4}$"}, "call 555-1234", 0.0),
        ({"assert": "json_valid"}, '```json\n{"a": 1}\n```', 1.0),
        ({"assert": "json_valid"}, "{a: 1}", 0.0),
        ({"assert": "numeric", "expected": 42}, "17 + 25 = 42", 1.0),
        ({"assert": "numeric", "expected": 42}, "The answer is 43.", 0.0),
        ({"assert": "numeric", "expected": 1000}, "about 1,000", 1.0),
        ({"assert": "numeric", "expected": 3.14, "tolerance": 0.01}, "pi is 3.1416", 1.0),
        ({"assert": "numeric", "expected": 100, "rel_tolerance": 0.05}, "104", 1.0),
        ({"assert": "numeric", "expected": 100, "rel_tolerance": 0.05}, "106", 0.0),
        ({"assert": "numeric", "expected": 1}, "no idea", 0.0),
    ],
)
def test_assertions(row, answer, score):
    assert check_answer(case(**row), answer)[0] == score


def test_json_schema_checks_shape_and_says_why():
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name", "age"],
    }
    good = parse_dataset(json.dumps({"prompt": "q", "assert": "json_schema", "schema": schema}))[0]
    assert check_answer(good, '{"name": "Ada", "age": 36}') == (1.0, None)
    score, reason = check_answer(good, '{"name": "Ada"}')
    assert score == 0.0 and "'age' is a required property" in reason
    assert check_answer(good, "not json") == (0.0, "the answer is not JSON")

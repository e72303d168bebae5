"""Eval datasets: every case checked up front, problems named by file and line."""

from __future__ import annotations

import pytest

from gateway.eval.dataset import DatasetError, parse_dataset


def test_prompt_or_messages_defaults_per_file_and_stable_fingerprints():
    text = "\n".join(
        [
            "# arithmetic, scored as numbers",
            '{"defaults": {"assert": "numeric", "task": "math", "tolerance": 0.5}}',
            '{"id": "a", "prompt": "What is 2 + 2?", "expected": 4}',
            "",
            '{"messages": [{"role": "system", "content": "terse"}, '
            '{"role": "user", "content": "3 + 3?"}], "expected": "6", "assert": "equals"}',
        ]
    )
    first, second = parse_dataset(text)
    assert (first.id, first.line, first.assertion, first.task) == ("a", 3, "numeric", "math")
    assert first.messages == [{"role": "user", "content": "What is 2 + 2?"}]
    assert first.options == {"tolerance": 0.5}
    assert second.id == "5" and second.assertion == "equals" and second.question == "3 + 3?"
    renamed = parse_dataset(text.replace('"id": "a"', '"id": "b"'))[0]
    assert renamed.fingerprint() == first.fingerprint()  # the id does not change the result
    edited = parse_dataset(text.replace('"expected": 4', '"expected": 5'))[0]
    assert edited.fingerprint() != first.fingerprint()
    assert parse_dataset('{"prompt": "x", "expected": "y"}')[0].assertion == "contains"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{", "not valid JSON"),
        ("[1]", "each line must be a JSON object"),
        ('{"expected": "x"}', "needs 'messages' or 'prompt'"),
        ('{"prompt": "x", "assert": "vibes", "expected": 1}', "assert must be one of"),
        ('{"prompt": "x", "assert": "equals"}', "needs 'expected'"),
        ('{"prompt": "x", "assert": "regex", "expected": "("}', "not a valid regex"),
        ('{"prompt": "x", "assert": "numeric", "expected": "many"}', "must be a number"),
        (
            '{"prompt": "x", "assert": "json_schema", "expected": {"type": 5}}',
            "invalid JSON schema",
        ),
        ('{"prompt": "x", "assert": "judge"}', "needs a judge model"),
        ('{"prompt": "x", "expected": "y", "colour": "red"}', "unknown field 'colour'"),
        ('{"messages": [], "expected": "y"}', "messages must be a non-empty list"),
    ],
)
def test_problems_name_the_line(line, message):
    with pytest.raises(DatasetError) as caught:
        parse_dataset('{"prompt": "fine", "expected": "ok"}\n' + line, name="cases.jsonl")
    assert str(caught.value).startswith("cases.jsonl:2: ")
    assert message in str(caught.value)


def test_duplicate_ids_and_empty_files_are_refused():
    with pytest.raises(DatasetError, match="duplicate id 'x'"):
        parse_dataset('{"id": "x", "prompt": "a", "expected": "a"}\n' * 2)
    with pytest.raises(DatasetError, match="no cases"):
        parse_dataset("# nothing here\n")


def test_judge_cases_take_the_judge_from_the_command_line():
    case = parse_dataset('{"prompt": "x", "assert": "judge", "rubric": "be kind"}', judge="gpt")[0]
    assert case.judge == "gpt" and case.options["rubric"] == "be kind"

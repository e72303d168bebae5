"""A stream folds back into the answer it stands for, and an answer replays as a valid stream."""

from __future__ import annotations

import json

from providers.assembly import REPLAY_PIECE_CHARS, assemble_chunks, is_complete, replay_response

HEAD = {"id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 7, "model": "m-1"}


def chunk(delta: dict, finish: str | None = None, index: int = 0, **extra) -> dict:
    choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
    return {**HEAD, "choices": [choice], **extra}


USAGE = {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}
TEXT_STREAM = [
    chunk({"role": "assistant", "content": ""}, system_fingerprint="fp_1"),
    chunk({"content": "one "}),
    chunk({"content": "two "}),
    chunk({"content": "three"}),
    chunk({}, "stop"),
    {**HEAD, "choices": [], "usage": USAGE},
]


def test_a_text_stream_assembles_into_one_completion():
    response = assemble_chunks(TEXT_STREAM)
    assert response == {
        "id": "chatcmpl-9",
        "object": "chat.completion",
        "created": 7,
        "model": "m-1",
        "system_fingerprint": "fp_1",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "one two three"},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": USAGE,
    }
    assert is_complete(response)


def test_tool_call_fragments_reassemble_into_valid_json_arguments():
    args = json.dumps({"city": "Paris", "days": 3})
    stream = [
        chunk({"role": "assistant", "content": None}),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": ""},
                    }
                ]
            }
        ),
        *[
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": args[i : i + 4]}}]})
            for i in range(0, len(args), 4)
        ],
        chunk({"tool_calls": [{"index": 1, "id": "call_2", "function": {"name": "time"}}]}),
        chunk({}, "tool_calls"),
    ]
    message = assemble_chunks(stream)["choices"][0]["message"]
    assert message["content"] is None
    first, second = message["tool_calls"]
    assert first == {
        "id": "call_1",
        "type": "function",
        "function": {"name": "weather", "arguments": args},
    }
    assert json.loads(first["function"]["arguments"]) == {"city": "Paris", "days": 3}
    assert second["id"] == "call_2" and second["function"] == {"name": "time", "arguments": ""}


def test_choices_of_an_n_greater_than_one_stream_stay_apart():
    stream = [
        chunk({"role": "assistant", "content": "a"}, index=0),
        chunk({"role": "assistant", "content": "b"}, index=1),
        chunk({"content": "c"}, index=1),
        chunk({}, "stop", index=1),
        chunk({}, "length", index=0),
    ]
    choices = assemble_chunks(stream)["choices"]
    assert [(c["index"], c["message"]["content"], c["finish_reason"]) for c in choices] == [
        (0, "a", "length"),
        (1, "bc", "stop"),
    ]


def test_a_stream_cut_before_its_finish_chunk_is_not_complete():
    assert not is_complete(assemble_chunks(TEXT_STREAM[:3]))
    assert not is_complete(assemble_chunks([]))


def test_a_completion_replays_as_role_content_finish_and_usage_chunks():
    response = assemble_chunks(TEXT_STREAM)
    chunks = replay_response(response, include_usage=True)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == "chatcmpl-9" for c in chunks)
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == USAGE
    assert assemble_chunks(chunks) == response
    without_usage = replay_response(response, include_usage=False)
    assert all(c["choices"] for c in without_usage)
    assert "usage" not in assemble_chunks(without_usage)


def test_long_content_is_replayed_in_several_pieces_that_join_exactly():
    text = "héllo wörld 🌍 " * 100
    response = {
        "id": "x",
        "created": 1,
        "model": "m",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
    }
    chunks = replay_response(response, include_usage=True)
    contents = [c["choices"][0]["delta"].get("content") for c in chunks[1:-1]]
    assert len(contents) == -(-len(text) // REPLAY_PIECE_CHARS)
    assert "".join(contents) == text


def test_tool_calls_and_refusals_survive_a_replay():
    response = {
        "id": "x",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "f", "arguments": '{"a": "' + "z" * 2000 + '"}'},
                        },
                        {
                            "id": "c2",
                            "type": "function",
                            "function": {"name": "g", "arguments": "{}"},
                        },
                    ],
                },
                "logprobs": None,
                "finish_reason": "tool_calls",
            },
            {
                "index": 1,
                "message": {"role": "assistant", "content": None, "refusal": "I can't help."},
                "logprobs": None,
                "finish_reason": "stop",
            },
        ],
        "usage": USAGE,
    }
    assert assemble_chunks(replay_response(response, include_usage=True)) == {
        **response,
        "object": "chat.completion",
    }

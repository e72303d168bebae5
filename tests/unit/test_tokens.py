"""Token counts match OpenAI's documented counting, offline, for every encoding Arbiter uses."""

from __future__ import annotations

import base64
import hashlib
import struct
import zlib

import pytest

from providers.encodings import (
    _SPECS,
    FALLBACK_ENCODING,
    _verified_bytes,
    encoding_name_for_model,
    load_encoding,
)
from providers.image_tokens import image_size, image_tokens
from providers.tokens import StreamMeter, count_prompt_tokens, count_text_tokens, estimate_usage
from providers.types import ChatRequest

# The examples and API-reported counts of OpenAI's cookbook, "How to count tokens
# with tiktoken" (sections 6 and 7).
CORPORATE = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates "
        "corporate jargon into plain English.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "New synergies will help drive top-line growth.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Things working well together will increase revenue.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on "
        "opportunities for increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the "
        "client deliverable.",
    },
]
WEATHER_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "Get the current weather in a given location",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {
                        "type": "string",
                        "description": "The city and state, e.g. San Francisco, CA",
                    },
                    "unit": {
                        "type": "string",
                        "description": "The unit of temperature to return",
                        "enum": ["celsius", "fahrenheit"],
                    },
                },
                "required": ["location"],
            },
        },
    }
]
WEATHER = [
    {
        "role": "system",
        "content": "You are a helpful assistant that can answer to questions about the weather.",
    },
    {"role": "user", "content": "What's the weather like in San Francisco?"},
]


@pytest.mark.parametrize(
    ("model", "messages", "tools", "expected"),
    [
        ("gpt-3.5-turbo", CORPORATE, None, 129),
        ("gpt-4-0613", CORPORATE, None, 129),
        ("gpt-4", CORPORATE, None, 129),
        ("gpt-4o", CORPORATE, None, 124),
        ("gpt-4o-mini", CORPORATE, None, 124),
        ("gpt-4o-2024-08-06", CORPORATE, None, 124),
        ("gpt-3.5-turbo", WEATHER, WEATHER_TOOLS, 105),
        ("gpt-4", WEATHER, WEATHER_TOOLS, 105),
        ("gpt-4o", WEATHER, WEATHER_TOOLS, 101),
        ("gpt-4o-mini", WEATHER, WEATHER_TOOLS, 101),
    ],
)
def test_prompt_tokens_match_the_counts_openai_reports(model, messages, tools, expected):
    request = ChatRequest(model=model, messages=messages, tools=tools)
    assert count_prompt_tokens(request) == expected


def test_the_upstream_model_decides_the_encoding_not_the_alias():
    request = ChatRequest(model="my-alias", messages=CORPORATE)
    assert count_prompt_tokens(request, "gpt-4o-mini") == 124
    assert count_prompt_tokens(request, "gpt-4") == 129


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini-2024-07-18", "o200k_base"),
        ("openai/gpt-4.1-nano", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("gpt-5.1-mini", "o200k_base"),
        ("o1-preview", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("o4-mini", "o200k_base"),
        ("ft:gpt-4o-mini:acme::abc", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-turbo-2024-04-09", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("gpt-35-turbo", "cl100k_base"),
        ("claude-3-5-sonnet-20241022", FALLBACK_ENCODING),
        ("llama-3.1-70b", FALLBACK_ENCODING),
        ("mock-1", FALLBACK_ENCODING),
        ("o1x", FALLBACK_ENCODING),
    ],
)
def test_encoding_is_chosen_by_model_family(model, encoding):
    assert encoding_name_for_model(model) == encoding


def test_every_encoding_loads_from_installed_files_and_is_tiktokens_own(tmp_path, monkeypatch):
    """Guards against a silent fallback: o200k_base must come from a verified local file,
    and be the same encoding tiktoken builds from OpenAI's file."""
    import tiktoken

    for name in ("cl100k_base", "o200k_base"):
        found = _verified_bytes(_SPECS[name])
        assert found is not None, f"no verified local copy of {name}"
        encoding = load_encoding(name)
        assert encoding.name == name
        # tiktoken reads a pre-placed file from TIKTOKEN_CACHE_DIR (named by the SHA-1 of
        # its download URL) instead of downloading it: build tiktoken's own encoding so.
        data, _ = found
        (tmp_path / hashlib.sha1(_SPECS[name].url.encode()).hexdigest()).write_bytes(data)
        monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
        reference = tiktoken.get_encoding(name)
        assert encoding._pat_str == reference._pat_str
        assert encoding._special_tokens == reference._special_tokens
        sample = "Hello, wörld! 1234567 tokens\n\n  def f(x): return x**2  # こんにちは 🚀"
        assert encoding.encode(sample) == reference.encode(sample)


def test_a_file_placed_in_tiktoken_cache_dir_is_used_and_a_corrupt_one_ignored(
    tmp_path, monkeypatch
):
    spec = _SPECS["o200k_base"]
    data, bundled = _verified_bytes(spec)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    placed = tmp_path / "o200k_base.tiktoken"
    placed.write_bytes(data)
    assert _verified_bytes(spec) == (data, placed)
    placed.write_bytes(data[:-10])  # truncated: its digest no longer matches
    assert _verified_bytes(spec) == (data, bundled)


def test_counting_is_text_only_and_special_tokens_are_plain_text():
    assert count_text_tokens("") == 0
    assert count_text_tokens("hello world", "cl100k_base") == 2
    assert count_text_tokens("<|endoftext|>", "cl100k_base") > 1


def _png(width: int, height: int) -> str:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    data = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk
    data += struct.pack(">I", zlib.crc32(chunk))
    return "data:image/png;base64," + base64.b64encode(data).decode()


def _gif(width: int, height: int) -> str:
    data = b"GIF89a" + struct.pack("<HH", width, height) + b"\x00" * 8
    return "data:image/gif;base64," + base64.b64encode(data).decode()


def _jpeg(width: int, height: int) -> str:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + b"\x00" * 9
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x00" * 3
    return "data:image/jpeg;base64," + base64.b64encode(b"\xff\xd8" + app0 + sof).decode()


@pytest.mark.parametrize(
    ("url", "detail", "tokens"),
    [
        # OpenAI's worked examples: 1024x1024 high → 765; 2048x4096 high → 1105; low → 85.
        (_png(1024, 1024), "high", 765),
        (_png(2048, 4096), "high", 1105),
        (_png(2048, 4096), "low", 85),
        (_gif(512, 512), "auto", 255),
        (_jpeg(4000, 3000), None, 765),  # → 2048x1536 → 1024x768: 4 tiles
        ("https://example.invalid/cat.png", None, 765),  # size unknown: 1024x1024
    ],
)
def test_images_are_counted_by_tiles_as_openai_documents(url, detail, tokens):
    assert image_tokens(url, detail) == tokens


def test_image_sizes_are_read_from_data_url_headers():
    assert image_size(_png(640, 480)) == (640, 480)
    assert image_size(_jpeg(800, 600)) == (800, 600)
    assert image_size(_gif(3, 7)) == (3, 7)
    assert image_size("data:image/png;base64,!!!") is None


def test_an_image_message_counts_its_text_and_its_tiles():
    text_only = ChatRequest(
        model="gpt-4o", messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}]
    )
    with_image = ChatRequest(
        model="gpt-4o",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "hi"},
                    {"type": "image_url", "image_url": {"url": _png(1024, 1024)}},
                ],
            }
        ],
    )
    assert count_prompt_tokens(with_image) == count_prompt_tokens(text_only) + 765


def test_a_stream_without_usage_is_counted_from_its_deltas():
    request = ChatRequest(model="gpt-4o", messages=[{"role": "user", "content": "Say hi"}])
    meter = StreamMeter(request, "gpt-4o")
    meter.observe({"id": "c1", "created": 1, "model": "gpt-4o", "choices": [{"delta": {}}]})
    for piece in ("Hello", " there", ", friend."):
        meter.observe({"id": "c1", "choices": [{"index": 0, "delta": {"content": piece}}]})
    assert not meter.usage_seen
    closing = meter.usage_chunk()
    assert closing["choices"] == [] and closing["id"] == "c1"
    prompt = count_prompt_tokens(request)
    completion = count_text_tokens("Hello there, friend.", "o200k_base")
    assert closing["usage"] == {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    meter.observe({"choices": [], "usage": {"prompt_tokens": 1}})
    assert meter.usage_seen


def test_tool_call_arguments_count_as_completion():
    request = ChatRequest(model="gpt-4o", messages=[{"role": "user", "content": "weather?"}])
    usage = estimate_usage(request, 'get_current_weather{"location": "Paris"}', "gpt-4o")
    expected = count_text_tokens('get_current_weather{"location": "Paris"}', "o200k_base")
    assert usage["completion_tokens"] == expected

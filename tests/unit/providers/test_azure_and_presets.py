"""Azure OpenAI and the OpenAI-compatible presets, golden: URLs, auth headers,
the quirks each row declares, and Azure's content-filter shapes."""

from __future__ import annotations

import json

import httpx
import pytest

from providers.catalog import PRESETS
from providers.errors import ContentFilteredError, InvalidRequestError, RateLimitedError
from tests.fakes.azure_server import CONTENT_FILTER_ERROR, PROMPT_FILTER
from tests.unit.providers.golden import KEY, TOOL, adapter, body_of, chat, feed_all, target


def test_azure_url_deployment_version_and_key_header():
    azure = adapter("azure", api_version="2025-01-01-preview")
    configured = target(
        "azure", "gpt-4o", base_url="https://myres.openai.azure.com/", deployment="prod gpt4o"
    )
    request = azure.build_request(chat(stream=True), configured)
    assert str(request.url) == (
        "https://myres.openai.azure.com/openai/deployments/prod%20gpt4o/chat/completions"
        "?api-version=2025-01-01-preview"
    )
    assert request.headers["api-key"] == KEY
    assert "authorization" not in request.headers
    assert body_of(request) == {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_azure_deployment_defaults_to_the_model_and_version_to_ga():
    configured = target("azure", "gpt-4o-mini", base_url="https://r.openai.azure.com/openai")
    request = adapter("azure").build_request(chat(), configured)
    assert str(request.url) == (
        "https://r.openai.azure.com/openai/deployments/gpt-4o-mini/chat/completions"
        "?api-version=2024-10-21"
    )


def test_azure_content_filter_refusal_is_content_filtered():
    error = adapter("azure").map_error(
        400, httpx.Headers(), json.dumps(CONTENT_FILTER_ERROR).encode()
    )
    assert isinstance(error, ContentFilteredError)
    assert error.retryable is False
    assert error.code == "content_filter"


def test_azure_rate_limit_keeps_retry_after_ms():
    body = {
        "error": {
            "code": "429",
            "message": "Requests to the ChatCompletions_Create "
            "Operation have exceeded call rate limit. Please retry after 6 seconds.",
        }
    }
    headers = httpx.Headers({"retry-after": "6", "retry-after-ms": "5500"})
    error = adapter("azure").map_error(429, headers, json.dumps(body).encode())
    assert isinstance(error, RateLimitedError) and error.retry_after == 5.5


def test_azure_stream_drops_the_prompt_filter_chunk_and_keeps_content_filter_finish():
    base = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o"}
    events = [
        {"choices": [], "created": 0, "id": "", "model": "", "object": "",
         "prompt_filter_results": PROMPT_FILTER},
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                              "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "content_filter",
                              "content_filter_results": {}}]},
        {**base, "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 0,
                                          "total_tokens": 3}},
    ]  # fmt: skip
    data = b"".join(f"data: {json.dumps(e)}\n\n".encode() for e in events) + b"data: [DONE]\n\n"
    decoder = adapter("azure").new_stream_decoder(chat(stream=True), target("azure", "gpt-4o"))
    chunks = feed_all(decoder, data, step=9)
    assert chunks == events[1:]
    assert chunks[1]["choices"][0]["finish_reason"] == "content_filter"


EXPECTED_BASE_URLS = {
    "groq": "https://api.groq.com/openai/v1",
    "together": "https://api.together.xyz/v1",
    "fireworks": "https://api.fireworks.ai/inference/v1",
    "deepseek": "https://api.deepseek.com/v1",
    "openrouter": "https://openrouter.ai/api/v1",
    "xai": "https://api.x.ai/v1",
    "perplexity": "https://api.perplexity.ai",
    "vllm": "http://127.0.0.1:8000/v1",
    "ollama": "http://127.0.0.1:11434/v1",
    "llamacpp": "http://127.0.0.1:8080/v1",
    "tgi": "http://127.0.0.1:8080/v1",
}


@pytest.mark.parametrize("preset", sorted(EXPECTED_BASE_URLS))
def test_preset_fills_the_base_url_and_the_provider_url_wins(preset):
    compatible = adapter("openai-compatible", preset=preset)
    plain = compatible.build_request(chat(), target("openai-compatible", "m1"))
    assert str(plain.url) == EXPECTED_BASE_URLS[preset] + "/chat/completions"
    own = target("openai-compatible", "m1", base_url="http://10.0.0.5:9000/v1")
    assert str(compatible.build_request(chat(), own).url) == (
        "http://10.0.0.5:9000/v1/chat/completions"
    )


def test_every_preset_is_tested_here():
    assert set(PRESETS) - {"generic"} == set(EXPECTED_BASE_URLS)


def test_unknown_preset_is_refused_by_name():
    with pytest.raises(InvalidRequestError, match="unknown preset 'grok'"):
        adapter("openai-compatible", preset="grok")


def test_groq_refuses_logprobs_and_n_and_removes_names():
    groq = adapter("openai-compatible", preset="groq")
    t = target("openai-compatible", "llama")
    with pytest.raises(InvalidRequestError) as caught:
        groq.build_request(chat(logprobs=True), t)
    assert caught.value.param == "logprobs"
    with pytest.raises(InvalidRequestError) as caught:
        groq.build_request(chat(n=2), t)
    assert caught.value.param == "n"
    named = chat(
        messages=[
            {"role": "user", "content": "hi", "name": "ann"},
            {"role": "assistant", "content": "yo", "name": "bot"},
        ]
    )
    assert body_of(groq.build_request(named, t))["messages"] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "yo"},
    ]


def test_perplexity_has_no_tools_and_no_stream_options():
    perplexity = adapter("openai-compatible", preset="perplexity")
    assert perplexity.capabilities.tools is False
    t = target("openai-compatible", "sonar")
    with pytest.raises(InvalidRequestError) as caught:
        perplexity.build_request(chat(tools=[TOOL]), t)
    assert caught.value.param == "tools"
    streamed = chat(stream=True, stream_options={"include_usage": True})
    assert "stream_options" not in body_of(perplexity.build_request(streamed, t))


def test_ollama_sends_no_auth_and_refuses_tool_choice_it_would_ignore():
    ollama = adapter("openai-compatible", preset="ollama")
    t = target("openai-compatible", "llama3")
    assert "authorization" not in ollama.build_request(chat(), t).headers
    with pytest.raises(InvalidRequestError):
        ollama.build_request(chat(tools=[TOOL], tool_choice="required"), t)
    allowed = ollama.build_request(chat(tools=[TOOL], tool_choice="auto"), t)
    assert body_of(allowed)["tool_choice"] == "auto"


def test_drop_unsupported_drops_a_presets_refused_fields():
    groq = adapter("openai-compatible", preset="groq", drop_unsupported=True)
    body = body_of(groq.build_request(chat(logprobs=True, top_logprobs=2), target("g", "m")))
    assert "logprobs" not in body and "top_logprobs" not in body


def test_deepseek_cache_hits_become_cached_tokens():
    deepseek = adapter("openai-compatible", preset="deepseek")
    data = {
        "id": "x",
        "object": "chat.completion",
        "created": 1,
        "model": "deepseek-chat",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 2, "total_tokens": 102,
                  "prompt_cache_hit_tokens": 64, "prompt_cache_miss_tokens": 36},
    }  # fmt: skip
    reply = httpx.Response(200, json=data)
    out = deepseek.parse_response(reply, chat(), target("openai-compatible", "deepseek-chat"))
    assert out["usage"]["prompt_tokens_details"] == {"cached_tokens": 64}

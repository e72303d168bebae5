"""The fake Gemini server is faithful: the official ``google-genai`` SDK talks to it
unchanged, JSON and streaming, function calls and errors included."""

from __future__ import annotations

import pytest
from google import genai
from google.genai import errors, types

from tests.conftest import UPSTREAM_KEY

WEATHER = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(
            name="get_weather",
            description="Weather in a city",
            parameters=types.Schema(
                type=types.Type.OBJECT, properties={"city": types.Schema(type=types.Type.STRING)}
            ),
        )
    ]
)


@pytest.fixture
def sdk(fake_gemini) -> genai.Client:
    return genai.Client(
        api_key=UPSTREAM_KEY,
        http_options=types.HttpOptions(base_url=fake_gemini.url, api_version="v1beta"),
    )


def test_generate_content_parses(sdk, fake_gemini):
    response = sdk.models.generate_content(
        model="gemini-test",
        contents="hello there",
        config=types.GenerateContentConfig(system_instruction="be brief", temperature=0.5),
    )
    assert response.text == "hello there"
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    assert response.usage_metadata.candidates_token_count == 2
    assert fake_gemini.count() == 1
    call = fake_gemini.calls[0]
    assert call.path == "/v1beta/models/gemini-test:generateContent"
    assert call.headers["x-goog-api-key"] == UPSTREAM_KEY
    assert call.body["systemInstruction"]["parts"] == [{"text": "be brief"}]


def test_stream_joins_to_the_same_text(sdk, fake_gemini):
    chunks = list(sdk.models.generate_content_stream(model="gemini-test", contents="a b c d"))
    assert "".join(c.text or "" for c in chunks) == "a b c d"
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert chunks[-1].usage_metadata.total_token_count > 0
    assert fake_gemini.calls[0].query == "alt=sse"


def test_function_calls_parse_json_and_stream(sdk, fake_gemini):
    config = types.GenerateContentConfig(
        tools=[WEATHER],
        tool_config=types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(
                mode=types.FunctionCallingConfigMode.ANY
            )
        ),
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    response = sdk.models.generate_content(model="with-ids", contents="Paris", config=config)
    streamed = list(
        sdk.models.generate_content_stream(model="with-ids", contents="Paris", config=config)
    )
    call = response.function_calls[0]
    assert (call.name, call.args, call.id) == ("get_weather", {"text": "Paris"}, "fc-0-get_weather")
    assert [c.function_calls[0].args for c in streamed if c.function_calls] == [{"text": "Paris"}]
    assert fake_gemini.count() == 2


def test_function_responses_are_answered(sdk, fake_gemini):
    contents = [
        types.Content(role="user", parts=[types.Part(text="weather?")]),
        types.Content(
            role="model",
            parts=[
                types.Part(
                    function_call=types.FunctionCall(name="get_weather", args={"city": "Oslo"})
                )
            ],
        ),
        types.Content(
            role="user",
            parts=[
                types.Part(
                    function_response=types.FunctionResponse(
                        name="get_weather", response={"output": "sunny"}
                    )
                )
            ],
        ),
    ]
    response = sdk.models.generate_content(model="gemini-test", contents=contents)
    assert response.text == 'Tool results: {"output": "sunny"}'


@pytest.mark.parametrize(
    ("model", "code", "status"),
    [
        ("rate-limited", 429, "RESOURCE_EXHAUSTED"),
        ("too-long", 400, "INVALID_ARGUMENT"),
        ("unavailable", 503, "UNAVAILABLE"),
    ],
)
def test_error_bodies_parse_as_sdk_errors(sdk, fake_gemini, model, code, status):
    with pytest.raises(errors.APIError) as caught:
        sdk.models.generate_content(model=model, contents="x")
    assert (caught.value.code, caught.value.status) == (code, status)
    assert fake_gemini.count() == 1


def test_a_bad_key_is_refused_like_the_api(fake_gemini):
    sdk = genai.Client(
        api_key="wrong",
        http_options=types.HttpOptions(base_url=fake_gemini.url, api_version="v1beta"),
    )
    with pytest.raises(errors.ClientError) as caught:
        sdk.models.generate_content(model="gemini-test", contents="x")
    assert caught.value.code == 400
    assert caught.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"


def test_a_blocked_prompt_has_no_candidates(sdk, fake_gemini):
    response = sdk.models.generate_content(model="blocked", contents="x")
    assert response.candidates is None
    assert response.prompt_feedback.block_reason == types.BlockedReason.SAFETY

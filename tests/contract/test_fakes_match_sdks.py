"""The fake upstreams are faithful: each provider's official SDK, pointed at its
fake, sends requests the fake accepts and parses what the fake answers."""

from __future__ import annotations

import json

import boto3
import cohere
import httpx
import openai
import pytest
from botocore.config import Config
from mistralai.client import Mistral

from tests.fakes.bedrock_server import ACCESS_KEY, SECRET_KEY

TOOL = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look a word up",
        "parameters": {"type": "object", "properties": {"text": {"type": "string"}}},
    },
}


@pytest.fixture
def http():
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture
def bedrock_client():
    made = []

    def make(url: str, secret: str = SECRET_KEY):
        client = boto3.client(
            "bedrock-runtime",
            region_name="us-east-1",
            endpoint_url=url,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=secret,
            config=Config(retries={"total_max_attempts": 1}),
        )
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def test_boto3_converse_is_answered_and_parsed(fake_bedrock, bedrock_client):
    reply = bedrock_client(fake_bedrock.url).converse(
        modelId="anthropic.claude-3-haiku-20240307-v1:0",
        messages=[{"role": "user", "content": [{"text": "hello bedrock"}]}],
        inferenceConfig={"maxTokens": 50},
    )
    assert reply["output"]["message"]["content"] == [{"text": "hello bedrock"}]
    assert reply["stopReason"] == "end_turn"
    assert reply["usage"]["outputTokens"] == 2
    assert fake_bedrock.count() == 1
    assert fake_bedrock.calls[0].body["modelId"] == "anthropic.claude-3-haiku-20240307-v1:0"


def test_boto3_converse_stream_decodes_the_fake_frames(fake_bedrock, bedrock_client):
    reply = bedrock_client(fake_bedrock.url).converse_stream(
        modelId="anthropic.claude-3-haiku-20240307-v1:0",
        messages=[{"role": "user", "content": [{"text": "find cats"}]}],
        toolConfig={
            "tools": [{"toolSpec": {"name": "lookup", "inputSchema": {"json": {}}}}],
            "toolChoice": {"any": {}},
        },
    )
    events = list(reply["stream"])
    kinds = [next(iter(e)) for e in events]
    assert kinds[0] == "messageStart" and kinds[-2:] == ["messageStop", "metadata"]
    args = "".join(
        e["contentBlockDelta"]["delta"]["toolUse"]["input"]
        for e in events
        if "contentBlockDelta" in e
    )
    assert json.loads(args) == {"text": "find cats"}
    assert events[-2]["messageStop"]["stopReason"] == "tool_use"
    assert fake_bedrock.count() == 1


def test_boto3_with_a_wrong_secret_fails_the_fakes_signature_check(fake_bedrock, bedrock_client):
    client = bedrock_client(fake_bedrock.url, secret="not-the-secret")
    with pytest.raises(client.exceptions.ClientError) as caught:
        client.converse(modelId="m", messages=[{"role": "user", "content": [{"text": "x"}]}])
    assert "signature" in str(caught.value)
    assert fake_bedrock.count() == 1


def test_boto3_maps_the_fakes_throttling_error(fake_bedrock, bedrock_client):
    client = bedrock_client(fake_bedrock.url)
    with pytest.raises(client.exceptions.ThrottlingException):
        client.converse(
            modelId="rate-limited", messages=[{"role": "user", "content": [{"text": "x"}]}]
        )
    assert fake_bedrock.count() == 1


def test_cohere_sdk_chat_and_tool_call(fake_cohere, http):
    client = cohere.ClientV2(api_key="co-key", base_url=fake_cohere.url, httpx_client=http)
    reply = client.chat(
        model="command-a-03-2025", messages=[{"role": "user", "content": "hi cohere"}]
    )
    assert reply.message.content[0].text == "hi cohere"
    assert reply.finish_reason == "COMPLETE"
    assert reply.usage.tokens.output_tokens == 2
    tooled = client.chat(
        model="command-a-03-2025",
        messages=[{"role": "user", "content": "find cats"}],
        tools=[TOOL],
        tool_choice="REQUIRED",
    )
    assert tooled.finish_reason == "TOOL_CALL"
    assert json.loads(tooled.message.tool_calls[0].function.arguments) == {"text": "find cats"}
    assert fake_cohere.count() == 2


def test_cohere_sdk_stream_reads_every_event_type(fake_cohere, http):
    client = cohere.ClientV2(api_key="co-key", base_url=fake_cohere.url, httpx_client=http)
    events = list(
        client.chat_stream(
            model="command-a-03-2025",
            messages=[{"role": "user", "content": "find cats"}],
            tools=[TOOL],
            tool_choice="REQUIRED",
        )
    )
    kinds = [e.type for e in events]
    assert kinds[0] == "message-start" and kinds[-1] == "message-end"
    assert {"tool-plan-delta", "tool-call-start", "tool-call-delta", "tool-call-end"} <= set(kinds)
    args = "".join(
        e.delta.message.tool_calls.function.arguments for e in events if e.type == "tool-call-delta"
    )
    assert json.loads(args) == {"text": "find cats"}
    assert events[-1].delta.finish_reason == "TOOL_CALL"
    assert fake_cohere.count() == 1


def test_cohere_sdk_sees_the_fakes_rate_limit(fake_cohere, http):
    client = cohere.ClientV2(api_key="co-key", base_url=fake_cohere.url, httpx_client=http)
    with pytest.raises(cohere.errors.TooManyRequestsError):
        client.chat(
            model="rate-limited",
            messages=[{"role": "user", "content": "x"}],
            request_options={"max_retries": 0},
        )
    assert fake_cohere.count() == 1


def test_mistral_sdk_chat_stream_and_tools(fake_mistral, http):
    client = Mistral(api_key="mi-key", server_url=fake_mistral.url.removesuffix("/v1"), client=http)
    reply = client.chat.complete(
        model="mistral-small-latest",
        messages=[{"role": "user", "content": "bonjour mistral"}],
        random_seed=3,
    )
    assert reply.choices[0].message.content == "bonjour mistral"
    tooled = client.chat.complete(
        model="mistral-small-latest",
        messages=[{"role": "user", "content": "find cats"}],
        tools=[TOOL],
        tool_choice="any",
    )
    call = tooled.choices[0].message.tool_calls[0]
    assert tooled.choices[0].finish_reason == "tool_calls" and len(call.id) == 9
    chunks = list(
        client.chat.stream(
            model="mistral-small-latest", messages=[{"role": "user", "content": "one two three"}]
        )
    )
    text = "".join(c.data.choices[0].delta.content or "" for c in chunks)
    assert text == "one two three"
    assert chunks[-1].data.usage.completion_tokens == 3
    assert fake_mistral.count() == 3


def test_mistral_fake_refuses_what_mistral_refuses(fake_mistral, http):
    client = openai.OpenAI(
        base_url=fake_mistral.url, api_key="mi-key", max_retries=0, http_client=http
    )
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(
            model="mistral-small-latest", messages=[{"role": "user", "content": "x"}], seed=1
        )
    with pytest.raises(openai.BadRequestError, match="length of 9"):
        client.chat.completions.create(
            model="mistral-small-latest",
            messages=[
                {"role": "user", "content": "x"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "call_abc",
                            "type": "function",
                            "function": {"name": "lookup", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_abc", "content": "y"},
            ],
        )
    assert fake_mistral.count() == 2


def test_openai_sdk_in_azure_mode_talks_to_the_azure_fake(fake_azure, http):
    client = openai.AzureOpenAI(
        azure_endpoint=fake_azure.url,
        api_key="az-key",
        api_version="2024-10-21",
        max_retries=0,
        http_client=http,
    )
    reply = client.chat.completions.create(
        model="gpt4o-deployment", messages=[{"role": "user", "content": "hi azure"}]
    )
    assert reply.choices[0].message.content == "hi azure"
    chunks = list(
        client.chat.completions.create(
            model="gpt4o-deployment",
            stream=True,
            messages=[{"role": "user", "content": "hi there"}],
        )
    )
    assert chunks[0].choices == []  # Azure's prompt_filter_results chunk
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "hi there"
    assert fake_azure.calls[0].path == "/openai/deployments/gpt4o-deployment/chat/completions"
    assert fake_azure.queries[0] == {"api-version": "2024-10-21"}
    assert fake_azure.count() == 2

"""Bad input of every kind gets a 4xx envelope naming the problem; nothing reaches a provider."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import MASTER_KEY, openai_config

AUTH = {"authorization": f"Bearer {MASTER_KEY}", "content-type": "application/json"}
USER = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def arbiter(fake_openai_server):
    from gateway.app import create_app
    from tests.conftest import make_settings
    from tests.fakes.serving import run_server

    fake, upstream = fake_openai_server
    settings = make_settings(openai_config(upstream.url + "/v1", "gpt-4o-mini"))
    with run_server(create_app(settings)) as server:
        yield server


def send(arbiter, content: bytes, headers=AUTH) -> httpx.Response:
    return httpx.post(
        arbiter.url + "/v1/chat/completions", content=content, headers=headers, timeout=10
    )


CASES = [
    ("not JSON", b"hello", None, "not valid JSON"),
    ("invalid UTF-8", b'{"model": "gpt-4o-mini", "messages": "\xff\xfe"}', None, "UTF-8"),
    (
        "deeply nested",
        b'{"model": "gpt-4o-mini", "messages": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        None,
        "depth",
    ),
    ("an array, not an object", b"[1, 2]", None, "JSON object"),
    (
        "infinite number",
        b'{"model": "gpt-4o-mini", "messages": [], "temperature": 1e999}',
        None,
        "not valid JSON",
    ),
    ("missing model", b'{"messages": [{"role": "user", "content": "hi"}]}', "model", "model"),
    (
        "empty model",
        b'{"model": "", "messages": [{"role": "user", "content": "hi"}]}',
        "model",
        "model",
    ),
    ("missing messages", b'{"model": "gpt-4o-mini"}', "messages", "messages"),
    ("empty messages", b'{"model": "gpt-4o-mini", "messages": []}', "messages", "messages"),
    (
        "unknown role",
        b'{"model": "gpt-4o-mini", "messages": [{"role": "wizard", "content": "x"}]}',
        "messages.0.role",
        "role",
    ),
    (
        "wrong content type",
        b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": 5}]}',
        "messages.0.content",
        "content",
    ),
    (
        "temperature as text",
        b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content":'
        b' "x"}], "temperature": "hot"}',
        "temperature",
        "temperature",
    ),
    (
        "giant max_tokens",
        b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}],'
        b' "max_tokens": 123456789012345678901234567890}',
        "max_tokens",
        "max_tokens",
    ),
    (
        "giant seed",
        b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}],'
        b' "seed": 99999999999999999999999}',
        "seed",
        "seed",
    ),
    (
        "tool without function",
        b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content":'
        b' "x"}], "tools": [{"type": "function"}]}',
        "tools.0.function",
        "function",
    ),
    (
        "tool parameters not an object",
        b'{"model": "gpt-4o-mini", "messages": [{"role": "user",'
        b' "content": "x"}], "tools": [{"type": "function", "function": {"name": "f",'
        b' "parameters": [1]}}]}',
        "tools.0.function.parameters",
        "parameters",
    ),
    (
        "stream not a boolean",
        b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content":'
        b' "x"}], "stream": "yes please"}',
        "stream",
        "stream",
    ),
]


@pytest.mark.parametrize(
    ("body", "param", "mention"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_body_is_a_400_naming_the_problem(arbiter, fake_openai, body, param, mention):
    response = send(arbiter, body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert mention in error["message"]
    assert fake_openai.count() == 0


def test_oversized_headers_are_refused_with_a_4xx(arbiter, fake_openai):
    response = httpx.post(
        arbiter.url + "/v1/chat/completions",
        json={"model": "gpt-4o-mini", "messages": USER},
        headers={**AUTH, "x-padding": "a" * 200_000},
        timeout=10,
    )
    assert response.status_code == 431
    assert response.json()["error"]["code"] == "request_header_fields_too_large"
    assert fake_openai.count() == 0


def test_huge_message_is_refused_before_it_is_read_whole(arbiter, fake_openai):
    body = (
        b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "'
        + b"x" * (5 * 1024 * 1024)
        + b'"}]}'
    )
    response = send(arbiter, body)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert fake_openai.count() == 0


def test_openapi_document_describes_chat_completions(arbiter):
    schema = httpx.get(arbiter.url + "/openapi.json").json()
    operation = schema["paths"]["/v1/chat/completions"]["post"]
    body_ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body_ref == "#/components/schemas/ChatRequest"
    request_schema = schema["components"]["schemas"]["ChatRequest"]
    assert {"model", "messages"} <= set(request_schema["required"])
    assert set(operation["responses"]) >= {"200", "400", "401", "404", "413", "429", "502"}

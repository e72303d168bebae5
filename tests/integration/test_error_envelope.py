"""Every error a client can meet is OpenAI's envelope with INTERFACE.md's status."""

from __future__ import annotations

import socket

import httpx
import pytest

from tests.conftest import MASTER_KEY, UPSTREAM_KEY, openai_config

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}


@pytest.fixture
def arbiter(gateway, fake_openai):
    config = openai_config(
        fake_openai.url,
        "gpt-4o-mini",
        "error-500",
        "slow",
        "bad-request",
        "bad-key",
        "context-too-long",
    )
    config["providers"]["openai"]["timeout_s"] = 0.3
    config["providers"]["local"] = {"type": "mock"}
    config["models"]["demo"] = {"deployments": [{"provider": "local", "model": "m"}]}
    config["server"] = {"max_body_bytes": 2048}
    config["keys"] = [{"name": "team-a", "key": "sk-team-a-123456", "models": ["demo"]}]
    return gateway(config)


def post(arbiter, body=None, *, headers=AUTH, content=None) -> httpx.Response:
    return httpx.post(
        arbiter.url + "/v1/chat/completions",
        json=body,
        content=content,
        headers=headers,
        timeout=10,
    )


def chat(model: str) -> dict:
    return {"model": model, "messages": [{"role": "user", "content": "hello"}]}


def assert_envelope(response: httpx.Response, status: int, type_: str, code: str | None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["type"] == type_
    assert body["error"]["code"] == code
    assert "Traceback" not in response.text
    assert UPSTREAM_KEY not in response.text and MASTER_KEY not in response.text
    assert response.headers["x-request-id"]
    return body["error"]


def test_malformed_json_is_400(arbiter):
    response = post(
        arbiter,
        content=b'{"model": "demo", "messages": [',
        headers={**AUTH, "content-type": "application/json"},
    )
    assert_envelope(response, 400, "invalid_request_error", "invalid_request_error")


def test_schema_violation_names_the_field(arbiter):
    error = assert_envelope(
        post(arbiter, {"model": "demo", "messages": "nope"}),
        400,
        "invalid_request_error",
        "invalid_request_error",
    )
    assert error["param"] == "messages"
    error = assert_envelope(
        post(arbiter, {**chat("demo"), "temperature": "hot"}),
        400,
        "invalid_request_error",
        "invalid_request_error",
    )
    assert error["param"] == "temperature"


def test_missing_key_is_401(arbiter):
    assert_envelope(
        post(arbiter, chat("demo"), headers={}), 401, "authentication_error", "invalid_api_key"
    )


def test_unknown_key_is_401(arbiter):
    assert_envelope(
        post(arbiter, chat("demo"), headers={"authorization": "Bearer sk-nope"}),
        401,
        "authentication_error",
        "invalid_api_key",
    )


def test_azure_style_api_key_header_is_accepted(arbiter):
    assert post(arbiter, chat("demo"), headers={"api-key": "sk-team-a-123456"}).status_code == 200


def test_model_outside_allow_list_is_403(arbiter, fake_openai):
    response = post(arbiter, chat("gpt-4o-mini"), headers={"api-key": "sk-team-a-123456"})
    assert_envelope(response, 403, "permission_error", "model_not_allowed")
    assert fake_openai.count() == 0


def test_unknown_model_is_404(arbiter):
    error = assert_envelope(
        post(arbiter, chat("no-such-model")), 404, "invalid_request_error", "model_not_found"
    )
    assert error["param"] == "model"


def test_body_over_limit_is_413(arbiter, fake_openai):
    big = chat("gpt-4o-mini")
    big["messages"][0]["content"] = "x" * 4096
    assert_envelope(post(arbiter, big), 413, "invalid_request_error", "request_too_large")

    def chunked():
        yield b'{"model": "demo", "messages": [{"role": "user", "content": "'
        for _ in range(10):
            yield b"y" * 1024
        yield b'"}]}'

    response = httpx.post(
        arbiter.url + "/v1/chat/completions", content=chunked(), headers=AUTH, timeout=10
    )
    assert_envelope(response, 413, "invalid_request_error", "request_too_large")
    assert fake_openai.count() == 0


def test_a_body_longer_than_its_declared_length_never_gets_past_the_limit(arbiter, fake_openai):
    body = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "' + b"z" * 8192
    body += b'"}]}'
    chunked = b"%x\r\n%b\r\n0\r\n\r\n" % (len(body), body)
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: arbiter\r\n"
        b"authorization: " + AUTH["authorization"].encode() + b"\r\n"
        b"content-length: 100\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", arbiter.port), timeout=10) as sock:
        sock.sendall(head + chunked)
        answer = b""
        while data := sock.recv(65536):
            answer += data
    status = int(answer.split(b" ", 2)[1])
    assert status in (400, 413)  # refused by the server's parser or by the size limit
    assert fake_openai.count() == 0


def test_every_deployment_failing_is_502(arbiter, fake_openai):
    assert_envelope(post(arbiter, chat("error-500")), 502, "api_error", "upstream_error")
    assert fake_openai.count("error-500") == 3  # one attempt and routing.retries (2) retries


def test_upstream_timeout_is_504(arbiter, fake_openai):
    fake_openai.delay_s = 1.0
    assert_envelope(post(arbiter, chat("slow")), 504, "api_error", "upstream_timeout")


def test_upstream_rejecting_the_request_is_a_400_for_the_caller(arbiter, fake_openai):
    error = assert_envelope(
        post(arbiter, chat("bad-request")), 400, "invalid_request_error", "invalid_request_error"
    )
    assert "temperature" in error["message"]
    assert fake_openai.count() == 1  # a 400 is not retried


def test_context_window_error_keeps_its_code(arbiter):
    assert_envelope(
        post(arbiter, chat("context-too-long")),
        400,
        "invalid_request_error",
        "context_length_exceeded",
    )


def test_rejected_provider_key_is_502_and_never_echoed(arbiter):
    error = assert_envelope(post(arbiter, chat("bad-key")), 502, "api_error", "upstream_error")
    assert "sk-up" not in error["message"]


def test_unknown_route_and_method_are_envelopes(arbiter):
    assert_envelope(
        httpx.get(arbiter.url + "/v1/nothing"), 404, "invalid_request_error", "not_found"
    )
    assert_envelope(
        httpx.get(arbiter.url + "/v1/chat/completions", headers=AUTH),
        405,
        "invalid_request_error",
        "method_not_allowed",
    )


def test_unexpected_exception_is_a_500_envelope_without_trace(gateway, monkeypatch):
    from routing.executor import Executor

    async def explode(self, request):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(Executor, "complete", explode)
    server = gateway(
        {
            "providers": {"local": {"type": "mock"}},
            "models": {"demo": {"deployments": [{"provider": "local", "model": "m"}]}},
        }
    )
    response = post(server, chat("demo"))
    error = assert_envelope(response, 500, "api_error", "internal_error")
    assert "secret internals" not in error["message"]

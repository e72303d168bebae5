"""A deployment fails; the client still gets an answer from the next one, or the
right error, and each upstream sees exactly the requests it should."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import MASTER_KEY, deployments_config, metric_value

AUTH = {"authorization": f"Bearer {MASTER_KEY}"}


def ask(server, model: str = "chat", text: str = "hello", timeout: float = 10) -> httpx.Response:
    return httpx.post(
        server.url + "/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": text}]},
        headers=AUTH,
        timeout=timeout,
    )


@pytest.fixture
def two(faulty):
    return faulty("a"), faulty("b")


def test_500s_are_retried_on_the_deployment_then_the_next_one_answers(gateway, two):
    a, b = two
    server = gateway(deployments_config(a, b, retries=2))
    a.fail_next(3, 500)
    response = ask(server)
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "hello"
    assert response.headers["x-arbiter-provider"] == "b"
    assert response.headers["x-arbiter-attempts"] == "4"
    assert (a.count, b.count) == (3, 1)
    assert metric_value(server, "arbiter_retries_total", provider="a") == 2
    assert (
        metric_value(
            server, "arbiter_upstream_errors_total", provider="a", reason="UpstreamUnavailableError"
        )
        == 3
    )


def test_a_transient_500_is_retried_on_the_same_deployment(gateway, two):
    a, b = two
    server = gateway(deployments_config(a, b, retries=2))
    a.fail_next(1, 500)
    response = ask(server)
    assert response.status_code == 200
    assert response.headers["x-arbiter-provider"] == "a"
    assert response.headers["x-arbiter-attempts"] == "2"
    assert (a.count, b.count) == (2, 0)


def test_a_429_fails_over_at_once_and_cools_the_deployment_for_its_retry_after(gateway, two):
    a, b = two
    server = gateway(deployments_config(a, b, retries=2))
    a.fail_next(1, 429, retry_after=60)
    first = ask(server)
    assert first.status_code == 200 and first.headers["x-arbiter-provider"] == "b"
    assert first.headers["x-arbiter-attempts"] == "2"
    assert (a.count, b.count) == (1, 1)  # no waiting a minute on a: b was there
    for _ in range(3):
        assert ask(server).headers["x-arbiter-provider"] == "b"
    assert (a.count, b.count) == (1, 4)  # a is skipped while it cools down
    assert metric_value(server, "arbiter_deployment_up", model="chat", provider="a") == 0
    assert metric_value(server, "arbiter_deployment_up", model="chat", provider="b") == 1


def test_retry_after_is_honoured_when_no_other_deployment_is_left(gateway, faulty):
    a = faulty("a")
    server = gateway(deployments_config(a, retries=2))
    a.fail_next(1, 429, retry_after=1)
    response = ask(server)
    assert response.status_code == 200
    assert response.headers["x-arbiter-attempts"] == "2"
    assert a.count == 2
    assert a.arrivals[1] - a.arrivals[0] >= 0.95  # it waited as the provider asked


def test_a_timeout_fails_over(gateway, two):
    a, b = two
    config = deployments_config(a, b, retries=1)
    config["providers"]["a"]["timeout_s"] = 0.3
    server = gateway(config)
    a.delay_next(2, 2.0)
    response = ask(server)
    assert response.status_code == 200 and response.headers["x-arbiter-provider"] == "b"
    assert (a.count, b.count) == (2, 1)
    assert (
        metric_value(
            server, "arbiter_upstream_errors_total", provider="a", reason="UpstreamTimeoutError"
        )
        == 2
    )


def test_a_connection_reset_fails_over(gateway, two):
    a, b = two
    server = gateway(deployments_config(a, b, retries=1))
    a.reset_next(2)
    response = ask(server)
    assert response.status_code == 200 and response.headers["x-arbiter-provider"] == "b"
    assert response.headers["x-arbiter-attempts"] == "3"
    assert (a.count, b.count) == (2, 1)


def test_a_400_is_neither_retried_nor_failed_over(gateway, two):
    a, b = two
    server = gateway(deployments_config(a, b, retries=2))
    a.fail_next(1, 400)
    response = ask(server)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert (a.count, b.count) == (1, 0)


def test_fallbacks_are_tried_in_order_after_every_deployment(gateway, faulty):
    a, b, c, d = faulty("a"), faulty("b"), faulty("c"), faulty("d")
    config = deployments_config(a, b, retries=0)
    config["providers"].update(deployments_config(c, d)["providers"])
    config["models"]["chat"]["fallbacks"] = ["second", "third"]
    config["models"]["second"] = {"deployments": [{"provider": "c", "model": "c-model"}]}
    config["models"]["third"] = {"deployments": [{"provider": "d", "model": "d-model"}]}
    server = gateway(config)
    for upstream in (a, b, c):
        upstream.fail_next(1, 503)
    response = ask(server)
    assert response.status_code == 200
    assert response.headers["x-arbiter-model"] == "third"
    assert response.headers["x-arbiter-provider"] == "d"
    assert response.headers["x-arbiter-attempts"] == "4"
    assert [u.count for u in (a, b, c, d)] == [1, 1, 1, 1]
    assert metric_value(server, "arbiter_fallbacks_total", model="chat") == 1


def test_a_prompt_too_long_goes_to_the_context_window_fallback(gateway, faulty):
    a, small, big = faulty("a"), faulty("small"), faulty("big")
    config = deployments_config(a, retries=2)
    config["providers"].update(deployments_config(small, big)["providers"])
    config["models"]["chat"]["fallbacks"] = ["other"]
    config["models"]["chat"]["context_window_fallbacks"] = ["long"]
    config["models"]["other"] = {"deployments": [{"provider": "small", "model": "s"}]}
    config["models"]["long"] = {"deployments": [{"provider": "big", "model": "b"}]}
    server = gateway(config)
    a.fail_next(1, 400, code="context_length_exceeded")
    response = ask(server, text="a very long prompt")
    assert response.status_code == 200
    assert response.headers["x-arbiter-model"] == "long"
    assert response.headers["x-arbiter-attempts"] == "2"
    assert (a.count, small.count, big.count) == (1, 0, 1)
    # The deployment answered (the prompt was the problem): it stays up.
    assert metric_value(server, "arbiter_deployment_up", model="chat", provider="a") == 1


def test_without_a_context_window_fallback_the_client_learns_why(gateway, two):
    a, b = two
    server = gateway(deployments_config(a, b, retries=2))
    a.fail_next(1, 400, code="context_length_exceeded")
    response = ask(server)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "context_length_exceeded"
    assert (a.count, b.count) == (1, 0)


def test_a_routed_model_moves_to_its_next_candidate_which_is_not_a_fallback(gateway, two):
    a, b = two
    config = deployments_config(a, retries=0)
    config["providers"].update(deployments_config(b)["providers"])
    config["models"]["other"] = {"deployments": [{"provider": "b", "model": "b-model"}]}
    config["models"]["auto"] = {"candidates": ["chat", "other"]}
    server = gateway(config)
    a.fail_next(10, 500)  # whichever order the candidates are picked in, only b can answer
    response = ask(server, model="auto")
    assert response.status_code == 200
    assert response.headers["x-arbiter-model"] == "other"
    assert b.count == 1
    assert a.count + b.count == int(response.headers["x-arbiter-attempts"])
    assert metric_value(server, "arbiter_fallbacks_total", model="auto") is None

"""A platform team gives a key an rpm and a tpm: the gateway holds it to them.

Time is a fake clock the tests move, so a one-minute window costs nothing; each
scenario runs with limits in this process and with limits in Redis.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from providers.tokens import count_prompt_tokens
from providers.types import ChatRequest
from tests.conftest import openai_config
from tests.fakes.clock import FakeClock, use_clock
from tests.fakes.openai_server import Reply
from tests.fakes.redis_namespace import redis_namespace

KEY = "sk-team-limits-0123456789"


@pytest.fixture(params=["in-process", "redis"])
def state_config(request):
    if request.param == "in-process":
        yield {}
        return
    with redis_namespace() as ns:
        yield {"state": ns.state()}


@pytest.fixture
def start(state_config, gateway, fake_openai):
    """Starts Arbiter with one key (its limits given per test) and a fake clock.

    ``state_config`` comes first so that its Redis keys are deleted after the gateways
    stop (and flush what they recorded)."""

    def run(**limits):
        config = openai_config(fake_openai.url, "gpt-4o-mini", **state_config)
        config["keys"] = [{"name": "team", "key": KEY, **limits}]
        server = gateway(config)
        clock = FakeClock()
        use_clock(server.config.app, clock)
        return server, clock

    return run


def ask(server, text: str = "hello") -> httpx.Response:
    return httpx.post(
        server.url + "/v1/chat/completions",
        headers={"authorization": f"Bearer {KEY}"},
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]},
        timeout=10,
    )


def test_rpm_refuses_the_next_request_and_retry_after_is_when_it_succeeds(start, fake_openai):
    server, clock = start(rpm=3)
    answers = [ask(server) for _ in range(3)]
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert [r.headers["x-ratelimit-remaining-requests"] for r in answers] == ["2", "1", "0"]
    assert answers[0].headers["x-ratelimit-limit-requests"] == "3"
    assert [r.headers["x-ratelimit-reset-requests"] for r in answers] == ["20s", "40s", "1m0s"]
    assert "x-ratelimit-limit-tokens" not in answers[0].headers  # no tpm on this key

    refused = ask(server)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert "requests per minute" in refused.json()["error"]["message"]
    assert refused.headers["retry-after"] == "20"
    assert refused.headers["retry-after-ms"] == "20000"
    assert fake_openai.count() == 3  # the refused request never reached the upstream

    clock.advance(int(refused.headers["retry-after"]))
    again = ask(server)
    assert again.status_code == 200
    assert again.headers["x-ratelimit-remaining-requests"] == "0"
    assert fake_openai.count() == 4


def test_tpm_charges_prompt_tokens_first_and_real_usage_after(start, fake_openai):
    # "hello" to gpt-4o-mini is 8 prompt tokens; the upstream reports 80 used in all.
    usage = {"prompt_tokens": 8, "completion_tokens": 72, "total_tokens": 80}
    server, clock = start(tpm=100)

    def reply() -> Reply:
        body = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": "gpt-4o-mini",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "hi"},
                    "finish_reason": "stop",
                }
            ],
            "usage": usage,
        }
        return Reply(body=body)

    fake_openai.script.extend([reply(), reply(), reply()])
    first = ask(server)
    assert first.status_code == 200
    # Charged its 8 prompt tokens before the call: 92 left, full again in 8 x 0.6 s.
    assert first.headers["x-ratelimit-limit-tokens"] == "100"
    assert first.headers["x-ratelimit-remaining-tokens"] == "92"
    assert first.headers["x-ratelimit-reset-tokens"] == "4.8s"
    second = ask(server)
    # After the first was corrected to its real 80 tokens, only 20 were left; now 12.
    assert second.status_code == 200
    assert second.headers["x-ratelimit-remaining-tokens"] == "12"

    refused = ask(server)  # 160 tokens used in this minute: 8 more do not fit
    assert refused.status_code == 429
    assert "tokens per minute" in refused.json()["error"]["message"]
    assert refused.headers["retry-after-ms"] == "40800"  # 68 tokens over, 0.6 s each
    assert fake_openai.count() == 2

    clock.advance(40.8)
    assert ask(server).status_code == 200
    assert fake_openai.count() == 3


def test_a_prompt_larger_than_the_tpm_is_refused_outright(start, fake_openai):
    server, _ = start(tpm=20)
    refused = ask(server, "word " * 50)
    assert refused.status_code == 429
    assert "Request too large" in refused.json()["error"]["message"]
    assert "retry-after" not in refused.headers  # waiting would not help
    assert fake_openai.count() == 0


def test_a_failed_request_gives_its_tokens_back(start, fake_openai):
    server, _ = start(tpm=100)
    fake_openai.script.append(Reply(status=400, body={"error": {"message": "bad"}}))
    assert ask(server).status_code == 400
    answer = ask(server)
    assert answer.status_code == 200
    assert answer.headers["x-ratelimit-remaining-tokens"] == "92"  # only this one's 8
    assert fake_openai.count() == 2


def test_keys_without_limits_and_the_master_key_are_not_limited(gateway, fake_openai):
    config = openai_config(fake_openai.url, "gpt-4o-mini")
    config["keys"] = [{"name": "free", "key": KEY}]
    server = gateway(config)
    answers = [ask(server) for _ in range(5)]
    assert {r.status_code for r in answers} == {200}
    assert "x-ratelimit-remaining-requests" not in answers[0].headers
    assert fake_openai.count() == 5


async def test_100_concurrent_requests_against_a_limit_of_10_admit_exactly_10(start, fake_openai):
    server, _ = start(rpm=10)
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "burst"}]}
    limits = httpx.Limits(max_connections=100)
    async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as client:
        answers = await asyncio.gather(
            *(
                client.post(
                    "/v1/chat/completions", json=body, headers={"authorization": f"Bearer {KEY}"}
                )
                for _ in range(100)
            )
        )
    codes = [r.status_code for r in answers]
    assert codes.count(200) == 10
    assert codes.count(429) == 90
    assert fake_openai.count() == 10


def test_a_long_prompt_is_charged_its_exact_token_count(start, fake_openai):
    """Prompts this long are counted off the event loop; the count must not change."""
    text = "The quick brown fox jumps over the lazy dog. " * 1500  # ~67k characters
    server, _ = start(tpm=1_000_000)
    answer = ask(server, text)
    assert answer.status_code == 200
    request = ChatRequest(model="gpt-4o-mini", messages=[{"role": "user", "content": text}])
    charged = 1_000_000 - int(answer.headers["x-ratelimit-remaining-tokens"])
    assert charged == count_prompt_tokens(request)
    assert fake_openai.count() == 1


def test_a_stream_carries_the_headers_and_a_refused_stream_is_a_json_429(start, fake_openai):
    server, _ = start(rpm=1)
    body = {
        "model": "gpt-4o-mini",
        "stream": True,
        "messages": [{"role": "user", "content": "stream it"}],
    }
    headers = {"authorization": f"Bearer {KEY}"}
    with httpx.stream(
        "POST", server.url + "/v1/chat/completions", json=body, headers=headers, timeout=10
    ) as streamed:
        assert streamed.status_code == 200
        assert streamed.headers["x-ratelimit-remaining-requests"] == "0"
        assert streamed.read().endswith(b"data: [DONE]\n\n")
    refused = httpx.post(
        server.url + "/v1/chat/completions", json=body, headers=headers, timeout=10
    )
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/json"
    assert refused.headers["retry-after"] == "60"
    assert fake_openai.count() == 1

"""A user asks the same thing twice: the second answer comes from the cache, costs nothing,
and never crosses from one key to another. Against a counting fake OpenAI upstream."""

from __future__ import annotations

import time
from typing import Any

import httpx
import openai
import pytest

from gateway.app import create_app
from gateway.context import RequestContext
from tests.conftest import MASTER_KEY, make_settings, openai_config
from tests.fakes.openai_server import Reply
from tests.fakes.serving import ServerThread

TEAM_A, TEAM_B = "sk-team-a-cache-1234", "sk-team-b-cache-5678"
NAMED_MASTER = "sk-named-master-cache-9012"
QUESTION = [{"role": "user", "content": "tell me about caching"}]
PRICE = {"input_cost_per_mtok": 2.0, "output_cost_per_mtok": 8.0}


def cache_config(fake_url: str, **cache: Any) -> dict[str, Any]:
    config = openai_config(fake_url, "gpt-4o-mini", "gpt-4o")
    config["models"]["gpt-4o-mini"]["deployments"][0].update(PRICE)
    config["models"]["uncached"] = {
        "deployments": [{"provider": "openai", "model": "gpt-4o-mini"}],
        "cache": False,
    }
    config["keys"] = [
        {"name": "team-a", "key": TEAM_A},
        {"name": "team-b", "key": TEAM_B, "models": ["gpt-4o"]},
        {"name": "master", "key": NAMED_MASTER},  # a virtual key, named like the master key
    ]
    config["cache"] = cache
    config["routing"] = {"retries": 0}  # a single upstream 500 reaches the client
    return config


@pytest.fixture
def arbiter(gateway, fake_openai):
    return gateway(cache_config(fake_openai.url))


def ask(server: ServerThread, key: str = MASTER_KEY, headers: dict | None = None, **body: Any):
    body = {"model": "gpt-4o-mini", "messages": QUESTION, **body}
    return httpx.post(
        server.url + "/v1/chat/completions",
        json=body,
        headers={"authorization": f"Bearer {key}", **(headers or {})},
        timeout=10,
    )


def metric(server: ServerThread, name: str, **labels: str) -> float:
    text = httpx.get(server.url + "/metrics").text
    selector = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    wanted = f"{name}{{{selector}}}" if labels else name
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        if series == wanted or (labels and series.startswith(name + "{") and _same(series, labels)):
            return float(value)
    return 0.0


def _same(series: str, labels: dict[str, str]) -> bool:
    inside = series[series.index("{") + 1 : -1]
    found = dict(part.split("=", 1) for part in inside.split(",")) if inside else {}
    return {k: v.strip('"') for k, v in found.items()} == labels


def test_a_repeated_request_is_a_hit_with_the_same_answer_and_no_upstream_call(
    arbiter, fake_openai
):
    first = ask(arbiter)
    second = ask(arbiter)
    assert first.status_code == second.status_code == 200
    assert first.headers["x-arbiter-cache"] == "miss"
    assert second.headers["x-arbiter-cache"] == "hit"
    assert second.json() == first.json()
    assert second.json()["choices"][0]["message"]["content"] == "tell me about caching"
    assert second.headers["x-arbiter-model"] == "gpt-4o-mini"
    assert second.headers["x-arbiter-provider"] == "openai"
    assert second.headers["x-arbiter-attempts"] == "0"
    assert "x-request-id" in second.headers
    assert fake_openai.count() == 1


def test_a_long_answer_is_a_hit_with_the_very_bytes_first_sent(arbiter, fake_openai):
    long_question = [{"role": "user", "content": "tell me everything about caching " * 300}]
    first = ask(arbiter, messages=long_question)
    second = ask(arbiter, messages=long_question)
    assert len(first.content) > 8192
    assert second.headers["x-arbiter-cache"] == "hit"
    assert second.content == first.content
    assert fake_openai.count() == 1


def test_an_answer_older_than_ttl_s_is_asked_for_again(gateway, fake_openai):
    server = gateway(cache_config(fake_openai.url, ttl_s=0.3))
    assert ask(server).headers["x-arbiter-cache"] == "miss"
    assert ask(server).headers["x-arbiter-cache"] == "hit"
    time.sleep(0.4)
    assert ask(server).headers["x-arbiter-cache"] == "miss"
    assert fake_openai.count() == 2


@pytest.mark.parametrize(
    "change",
    [
        {"temperature": 0.9},
        {"messages": [{"role": "user", "content": "tell me about caches"}]},
        {"messages": [{"role": "system", "content": "Be brief."}, *QUESTION]},
        {"tools": [{"type": "function", "function": {"name": "lookup", "parameters": {}}}]},
        {"model": "gpt-4o"},
        {"seed": 3},
        {"response_format": {"type": "json_object"}},
    ],
    ids=["temperature", "message-text", "system-message", "tools", "model", "seed", "format"],
)
def test_each_parameter_that_changes_the_answer_is_a_miss(arbiter, fake_openai, change):
    assert ask(arbiter).headers["x-arbiter-cache"] == "miss"
    changed = ask(arbiter, **change)
    assert changed.status_code == 200 and changed.headers["x-arbiter-cache"] == "miss"
    assert fake_openai.count() == 2
    assert ask(arbiter, **change).headers["x-arbiter-cache"] == "hit"
    assert fake_openai.count() == 2


def test_a_streamed_request_is_answered_from_a_json_one_and_back(arbiter, fake_openai):
    ask(arbiter)
    streamed = ask(arbiter, stream=True, user="someone-else", metadata={"run": "2"})
    assert streamed.headers["x-arbiter-cache"] == "hit"
    assert streamed.headers["content-type"].startswith("text/event-stream")
    assert streamed.text.endswith("data: [DONE]\n\n")
    assert fake_openai.count() == 1

    other = [{"role": "user", "content": "first streamed then asked as JSON"}]
    assert ask(arbiter, stream=True, messages=other).headers["x-arbiter-cache"] == "miss"
    as_json = ask(arbiter, messages=other)
    assert as_json.headers["x-arbiter-cache"] == "hit"
    body = as_json.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == "first streamed then asked as JSON"
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["completion_tokens"] == 6  # the upstream's usage, kept from the stream
    assert fake_openai.count() == 2


def test_scope_key_never_shares_an_answer_between_two_keys(arbiter, fake_openai):
    assert ask(arbiter, key=TEAM_A, model="gpt-4o").headers["x-arbiter-cache"] == "miss"
    assert ask(arbiter, key=TEAM_B, model="gpt-4o").headers["x-arbiter-cache"] == "miss"
    assert fake_openai.count() == 2
    assert ask(arbiter, key=TEAM_A, model="gpt-4o").headers["x-arbiter-cache"] == "hit"
    assert ask(arbiter, key=TEAM_B, model="gpt-4o").headers["x-arbiter-cache"] == "hit"
    assert fake_openai.count() == 2
    assert ask(arbiter, key=MASTER_KEY).headers["x-arbiter-cache"] == "miss"
    assert ask(arbiter, key=NAMED_MASTER).headers["x-arbiter-cache"] == "miss"
    assert fake_openai.count() == 4


def test_scope_global_shares_answers_but_not_models_a_key_may_not_use(gateway, fake_openai):
    server = gateway(cache_config(fake_openai.url, scope="global"))
    assert ask(server, key=TEAM_A, model="gpt-4o").headers["x-arbiter-cache"] == "miss"
    assert ask(server, key=TEAM_B, model="gpt-4o").headers["x-arbiter-cache"] == "hit"
    assert ask(server, key=TEAM_A).headers["x-arbiter-cache"] == "miss"
    refused = ask(server, key=TEAM_B)  # team-b may not use gpt-4o-mini, cached or not
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "model_not_allowed"
    assert fake_openai.count() == 2


def test_a_key_served_only_from_the_cache_shows_zero_spend_and_its_requests(gateway, fake_openai):
    server = gateway(cache_config(fake_openai.url, scope="global"))
    assert ask(server, key=TEAM_A, model="gpt-4o").headers["x-arbiter-cache"] == "miss"
    assert ask(server, key=TEAM_B, model="gpt-4o").headers["x-arbiter-cache"] == "hit"
    server.settle()
    spend = [
        line
        for line in httpx.get(server.url + "/metrics").text.splitlines()
        if line.startswith("arbiter_cost_usd_total{")
    ]  # team-b's only answer was a hit: it cost nothing, and says so
    assert 'arbiter_cost_usd_total{key="team-b",model="gpt-4o",provider="openai"} 0.0' in spend
    usage = httpx.get(
        server.url + "/v1/usage",
        headers={"authorization": f"Bearer {MASTER_KEY}"},
        params={"period": "total", "key": "team-b"},
    ).json()
    assert (usage["total"]["requests"], usage["total"]["cost_usd"]) == (1, 0.0)


def test_no_cache_skips_the_lookup_and_refreshes_the_entry(arbiter, fake_openai):
    fake_openai.script = [
        Reply(body=_completion("old answer")),
        Reply(body=_completion("new answer")),
    ]
    assert _text(ask(arbiter)) == "old answer"
    fresh = ask(arbiter, headers={"cache-control": "no-cache"})
    assert fresh.headers["x-arbiter-cache"] == "bypass" and _text(fresh) == "new answer"
    later = ask(arbiter)
    assert later.headers["x-arbiter-cache"] == "hit" and _text(later) == "new answer"
    assert fake_openai.count() == 2


def test_no_store_neither_reads_nor_writes(arbiter, fake_openai):
    fake_openai.script = [
        Reply(body=_completion("stored")),
        Reply(body=_completion("private")),
        Reply(body=_completion("private again")),
    ]
    assert _text(ask(arbiter)) == "stored"
    private = ask(arbiter, headers={"Cache-Control": "private, No-Store"})
    assert private.headers["x-arbiter-cache"] == "bypass" and _text(private) == "private"
    assert _text(ask(arbiter)) == "stored"  # the entry was not replaced
    other = [{"role": "user", "content": "never kept"}]
    ask(arbiter, messages=other, headers={"cache-control": "no-store"})
    assert ask(arbiter, messages=other).headers["x-arbiter-cache"] == "miss"
    assert fake_openai.count() == 4


def test_errors_are_never_cached(arbiter, fake_openai):
    fake_openai.script = [Reply(500, {"error": {"message": "boom", "type": "server_error"}})]
    assert ask(arbiter).status_code == 502
    retried = ask(arbiter)
    assert retried.status_code == 200 and retried.headers["x-arbiter-cache"] == "miss"
    assert ask(arbiter).headers["x-arbiter-cache"] == "hit"
    assert fake_openai.count() == 2


def test_a_stream_cut_short_is_never_cached(arbiter, fake_openai):
    fake_openai.script = [Reply(cut_after=3)]
    cut = ask(arbiter, stream=True)
    assert cut.status_code == 200 and '"error"' in cut.text
    whole = ask(arbiter, stream=True)
    assert whole.headers["x-arbiter-cache"] == "miss" and '"error"' not in whole.text
    assert ask(arbiter, stream=True).headers["x-arbiter-cache"] == "hit"
    assert fake_openai.count() == 2


def test_a_model_that_opts_out_is_never_cached(arbiter, fake_openai):
    for _ in range(2):
        reply = ask(arbiter, model="uncached")
        assert reply.status_code == 200 and reply.headers["x-arbiter-cache"] == "miss"
    assert fake_openai.count() == 2


def test_a_disabled_cache_calls_the_upstream_every_time(gateway, fake_openai):
    server = gateway(cache_config(fake_openai.url, enabled=False))
    assert [ask(server).headers["x-arbiter-cache"] for _ in range(2)] == ["miss", "miss"]
    assert fake_openai.count() == 2


def test_streamed_hits_reassemble_to_the_same_text_through_the_openai_sdk(arbiter, fake_openai):
    client = openai.OpenAI(base_url=arbiter.url + "/v1", api_key=TEAM_A, max_retries=0)
    question = [{"role": "user", "content": "stream me a few words please"}]

    def streamed() -> tuple[str, Any, str]:
        raw = client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini",
            messages=question,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(raw.parse())
        assert chunks[0].choices[0].delta.role == "assistant"
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        return text, chunks[-1].usage, raw.headers["x-arbiter-cache"]

    miss_text, miss_usage, miss = streamed()
    hit_text, hit_usage, hit = streamed()
    assert (miss, hit) == ("miss", "hit")
    assert hit_text == miss_text == "stream me a few words please"
    assert hit_usage == miss_usage and hit_usage.completion_tokens == 6
    json_hit = client.chat.completions.create(model="gpt-4o-mini", messages=question)
    assert json_hit.choices[0].message.content == miss_text
    assert fake_openai.count() == 1


def test_a_cached_tool_call_streams_back_with_whole_arguments(arbiter, fake_openai):
    client = openai.OpenAI(base_url=arbiter.url + "/v1", api_key=MASTER_KEY, max_retries=0)
    tools = [{"type": "function", "function": {"name": "echo", "parameters": {}}}]
    first = client.chat.completions.create(
        model="gpt-4o-mini", messages=QUESTION, tools=tools, tool_choice="required"
    )
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=QUESTION, tools=tools, tool_choice="required", stream=True
    )
    arguments = "".join(
        c.choices[0].delta.tool_calls[0].function.arguments or ""
        for c in stream
        if c.choices and c.choices[0].delta.tool_calls
    )
    assert arguments == first.choices[0].message.tool_calls[0].function.arguments
    assert fake_openai.count() == 1


class Recorder:
    """A request hook, as limits and budgets are: sees every request, hits included."""

    def __init__(self) -> None:
        self.requests: list[RequestContext] = []
        self.responses: list[RequestContext] = []

    async def on_request(self, ctx: RequestContext) -> None:
        self.requests.append(ctx)

    def on_response(self, ctx: RequestContext) -> None:
        self.responses.append(ctx)


def test_a_hit_runs_the_request_hooks_costs_nothing_and_counts_what_it_saved(fake_openai):
    app = create_app(make_settings(cache_config(fake_openai.url)))
    recorder = Recorder()
    app.state.hooks.append(recorder)
    server = ServerThread(app).start()
    try:
        miss = ask(server, key=TEAM_A)
        hit = ask(server, key=TEAM_A, stream=True)
        assert (miss.headers["x-arbiter-cache"], hit.headers["x-arbiter-cache"]) == ("miss", "hit")
        server.settle()  # the hooks run right after the answer is sent
        assert len(recorder.requests) == len(recorder.responses) == 2
        cached = recorder.responses[1]
        assert (cached.cache, cached.attempts, cached.cost_usd) == ("hit", 0, 0.0)
        assert cached.model == "gpt-4o-mini" and cached.status == "ok"
        usage = miss.json()["usage"]
        would_have_cost = (usage["prompt_tokens"] * 2.0 + usage["completion_tokens"] * 8.0) / 1e6
        saved = metric(
            server,
            "arbiter_cache_saved_usd_total",
            model="gpt-4o-mini",
            provider="openai",
            key="team-a",
        )
        assert saved == pytest.approx(would_have_cost)
        assert metric(server, "arbiter_cache_requests_total", result="hit") == 1
        assert metric(server, "arbiter_cache_requests_total", result="miss") == 1
        assert metric(server, "arbiter_cache_stored_bytes") > 0
        ask(server, key=TEAM_A, headers={"cache-control": "no-cache"})
        assert metric(server, "arbiter_cache_requests_total", result="bypass") == 1
        assert fake_openai.count() == 2
    finally:
        server.stop()


def _completion(text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }


def _text(response: httpx.Response) -> str:
    return response.json()["choices"][0]["message"]["content"]


def test_a_body_sent_again_and_again_keeps_every_rule_of_the_first_time(gateway, fake_openai):
    """Hits on the same bytes skip parsing them again (``gateway.repeats``); what is
    checked per request is still checked: the key, the models it may use, its scope."""
    server = gateway(cache_config(fake_openai.url, scope="global"))
    for round_ in range(3):
        answer = ask(server, key=TEAM_A)
        assert answer.status_code == 200
        assert answer.headers["x-arbiter-cache"] == ("miss" if round_ == 0 else "hit")
        refused = ask(server, key=TEAM_B)  # may not use gpt-4o-mini, however often asked
        assert refused.status_code == 403
        assert ask(server, key="sk-not-a-key").status_code == 401
        assert ask(server, key=MASTER_KEY).headers["x-arbiter-cache"] == "hit"
    assert fake_openai.count() == 1
    assert ask(server, key=TEAM_A, temperature=0.5).headers["x-arbiter-cache"] == "miss"
    assert fake_openai.count() == 2


def test_a_body_answered_from_a_keys_own_scope_is_not_another_keys_answer(gateway, fake_openai):
    server = gateway(cache_config(fake_openai.url))  # scope: key
    for _ in range(3):
        ask(server, key=TEAM_A)
    assert fake_openai.count() == 1
    assert ask(server, key=NAMED_MASTER).headers["x-arbiter-cache"] == "miss"
    assert ask(server, key=NAMED_MASTER).headers["x-arbiter-cache"] == "hit"
    assert fake_openai.count() == 2

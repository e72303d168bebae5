"""With tracing on, each request is a trace: a span for the request and a child span
per upstream attempt, named as OpenTelemetry's GenAI conventions say. Off, it
costs nothing: opentelemetry is not even imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (  # noqa: E402
    ExportTraceServiceRequest,
)
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import Response  # noqa: E402
from starlette.routing import Route  # noqa: E402

from gateway.tracing import TracingHook  # noqa: E402
from tests.conftest import MASTER_KEY, UPSTREAM_KEY, openai_config  # noqa: E402
from tests.fakes.serving import run_server  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PROMPT = "a private prompt 3b9e"


def traced_config(base_url: str, **tracing: Any) -> dict[str, Any]:
    config = openai_config(base_url, "gpt-4o-mini")
    config["models"]["flaky"] = {
        "deployments": [{"provider": "openai", "model": "error-500"}],
        "fallbacks": ["gpt-4o-mini"],
    }
    config["models"]["broken"] = {"deployments": [{"provider": "openai", "model": "error-500"}]}
    config["routing"] = {"retries": 0}
    config["tracing"] = {"enabled": True, "exporter": "none", **tracing}
    return config


class SettledExporter(InMemorySpanExporter):
    """Finished spans, read once the server has run the hooks of what it answered
    (a JSON answer's span ends right after the answer is sent)."""

    def __init__(self, server: Any) -> None:
        super().__init__()
        self.server = server

    def get_finished_spans(self) -> Any:
        self.server.settle()
        return super().get_finished_spans()


def collect_spans(server: Any) -> InMemorySpanExporter:
    """Spans the test can read, added to the app's own tracer provider."""
    [hook] = [h for h in server.config.app.state.hooks if isinstance(h, TracingHook)]
    exporter = SettledExporter(server)
    hook.provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


def ask(url: str, model: str, **extra: Any) -> httpx.Response:
    return httpx.post(
        url + "/v1/chat/completions",
        headers={"authorization": f"Bearer {MASTER_KEY}", "x-request-id": f"trace-{model}"},
        json={"model": model, "messages": [{"role": "user", "content": PROMPT}], **extra},
        timeout=10,
    )


def test_a_failover_is_one_trace_with_a_span_per_attempt(gateway, fake_openai):
    server = gateway(traced_config(fake_openai.url))
    spans = collect_spans(server)
    response = ask(server.url, "flaky", temperature=0.2, max_tokens=50)
    assert response.status_code == 200

    [root] = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]
    children = sorted(
        (s for s in spans.get_finished_spans() if s.kind == SpanKind.CLIENT),
        key=lambda s: s.start_time,
    )
    assert root.name == "chat flaky"
    assert dict(root.attributes) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "flaky",
        "gen_ai.request.stream": False,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.max_tokens": 50,
        "gen_ai.response.model": "gpt-4o-mini",
        "gen_ai.response.id": "chatcmpl-fake",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 8,
        "gen_ai.usage.output_tokens": 4,
        "arbiter.request_id": "trace-flaky",
        "arbiter.key": "master",
        "arbiter.task": "general",
        "arbiter.status": "ok",
        "arbiter.attempts": 2,
        "arbiter.cache": "miss",
        "arbiter.model": "gpt-4o-mini",
        "arbiter.provider": "openai",
        "arbiter.cost_usd": pytest.approx((8 * 0.15 + 4 * 0.60) / 1e6),  # bundled prices
        "http.response.status_code": 200,
    }
    assert [c.name for c in children] == ["chat error-500", "chat gpt-4o-mini"]
    for child in children:
        assert child.parent is not None and child.parent.span_id == root.context.span_id
        assert child.context.trace_id == root.context.trace_id
        assert root.start_time <= child.start_time <= child.end_time <= root.end_time
        assert child.attributes["gen_ai.provider.name"] == "openai"
        assert child.attributes["server.address"] == "127.0.0.1"
        assert child.attributes["arbiter.provider"] == "openai"
    failed, answered = children
    assert failed.status.status_code == StatusCode.ERROR
    assert failed.attributes["error.type"] == "UpstreamUnavailableError"
    assert failed.attributes["http.response.status_code"] == 500
    assert failed.attributes["arbiter.model"] == "flaky"
    assert answered.status.status_code == StatusCode.UNSET
    assert answered.attributes["gen_ai.usage.input_tokens"] == 8
    assert answered.attributes["arbiter.model"] == "gpt-4o-mini"
    assert fake_openai.count() == 2


def test_a_stream_records_its_first_chunk_and_its_attempt(gateway, fake_openai):
    server = gateway(traced_config(fake_openai.url))
    spans = collect_spans(server)
    response = ask(server.url, "gpt-4o-mini", stream=True, stream_options={"include_usage": True})
    assert response.status_code == 200 and response.text.endswith("data: [DONE]\n\n")
    [root] = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]
    [child] = [s for s in spans.get_finished_spans() if s.kind == SpanKind.CLIENT]
    assert root.attributes["gen_ai.request.stream"] is True
    assert 0 < root.attributes["gen_ai.response.time_to_first_chunk"]
    assert root.attributes["gen_ai.usage.output_tokens"] == 4
    assert child.parent.span_id == root.context.span_id
    assert child.attributes["gen_ai.request.stream"] is True
    assert child.attributes["gen_ai.response.time_to_first_chunk"] > 0
    assert fake_openai.count() == 1


def test_an_answer_from_the_cache_is_traced_with_the_answer_it_served(gateway, fake_openai):
    server = gateway({**traced_config(fake_openai.url), "cache": {"enabled": True}})
    spans = collect_spans(server)
    assert ask(server.url, "gpt-4o-mini").status_code == 200
    assert ask(server.url, "gpt-4o-mini").status_code == 200
    miss, hit = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert (miss.attributes["arbiter.cache"], hit.attributes["arbiter.cache"]) == ("miss", "hit")
    assert hit.attributes["gen_ai.response.id"] == "chatcmpl-fake"
    assert hit.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert fake_openai.count() == 1


def test_a_failed_request_is_an_error_span_and_no_span_holds_a_secret(gateway, fake_openai):
    server = gateway(traced_config(fake_openai.url))
    spans = collect_spans(server)
    assert ask(server.url, "broken").status_code == 502
    [root] = [s for s in spans.get_finished_spans() if s.kind == SpanKind.SERVER]
    assert root.status.status_code == StatusCode.ERROR
    assert root.attributes["error.type"] == "AllTargetsFailedError"
    assert root.attributes["http.response.status_code"] == 502
    assert "gen_ai.response.model" not in root.attributes
    text = "".join(span.to_json() for span in spans.get_finished_spans())
    for secret in (PROMPT, MASTER_KEY, UPSTREAM_KEY):
        assert secret not in text
    assert fake_openai.count() == 1


def test_spans_reach_an_otlp_collector_by_shutdown(gateway, fake_openai):
    received: list[ExportTraceServiceRequest] = []

    async def traces(request: Request) -> Response:
        message = ExportTraceServiceRequest()
        message.ParseFromString(await request.body())
        received.append(message)
        return Response(b"", media_type="application/x-protobuf")

    collector = Starlette(routes=[Route("/v1/traces", traces, methods=["POST"])])
    with run_server(collector) as sink:
        config = traced_config(
            fake_openai.url, exporter="otlp", endpoint=sink.url + "/v1/traces", service_name="gw-1"
        )
        server = gateway(config)
        assert ask(server.url, "gpt-4o-mini").status_code == 200
        server.stop()  # shutdown flushes the batch of spans
    spans = [
        (span.name, span.kind)
        for message in received
        for resource in message.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    assert sorted(spans) == [("chat gpt-4o-mini", 2), ("chat gpt-4o-mini", 3)]  # server, client
    resource = received[0].resource_spans[0].resource
    assert {a.key: a.value.string_value for a in resource.attributes}["service.name"] == "gw-1"
    assert fake_openai.count() == 1


def test_tracing_is_off_by_default_and_then_loads_nothing():
    """Zero cost when off: no hook, no observer, and nothing of tracing imported:
    neither Arbiter's module nor OpenTelemetry's tracing SDK or exporters. (FastAPI
    and redis-py import parts of OpenTelemetry on their own when it is installed.)"""
    script = """
import sys
from gateway.app import create_app
from gateway.config import parse_settings
settings = parse_settings("models: {m: {deployments: [{provider: p, model: x}]}}\\n"
                          "providers: {p: {type: mock}}", environ={})
app = create_app(settings)
assert not settings.tracing.enabled
tracing = ("gateway.tracing", "opentelemetry.sdk.trace", "opentelemetry.exporter")
loaded = sorted(m for m in sys.modules if m.startswith(tracing))
kinds = {type(h).__name__ for h in [*app.state.hooks, *app.state.observers]}
print(loaded, "TracingHook" in kinds, "MetricsHook" in kinds)
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[] False True"


async def test_a_request_inside_the_hosts_trace_continues_it():
    """When the host traces HTTP (e.g. FastAPI's own telemetry under a global
    provider), Arbiter's request span is a child of the current span."""
    from gateway.auth import Caller
    from gateway.config import TracingSettings
    from gateway.context import RequestContext
    from gateway.tracing import build_provider
    from providers.types import ChatRequest

    exporter = InMemorySpanExporter()
    hook = TracingHook(build_provider(TracingSettings(enabled=True, exporter="none")))
    hook.provider.add_span_processor(SimpleSpanProcessor(exporter))
    messages = [{"role": "user", "content": "x"}]
    chat = ChatRequest.model_validate({"model": "m", "messages": messages})
    ctx = RequestContext("r-1", Caller(name="team", models=None), chat)
    host = hook.provider.get_tracer("host")
    with host.start_as_current_span("POST /v1/chat/completions", kind=SpanKind.SERVER) as outer:
        await hook.on_request(ctx)
    hook.on_response(ctx)
    [span] = [s for s in exporter.get_finished_spans() if s.name == "chat m"]
    assert span.parent.span_id == outer.get_span_context().span_id
    assert span.kind == SpanKind.INTERNAL
    await hook.aclose()

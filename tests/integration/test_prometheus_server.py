"""A real Prometheus (Debian's package), configured from deploy/prometheus.yml,
scrapes a running Arbiter; its HTTP API then reports what Arbiter served, and
every query of the Grafana dashboard is valid PromQL that it answers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import MASTER_KEY, openai_config
from tests.fakes.serving import free_port

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
IN_CI = os.environ.get("CI") == "true"
DEADLINE_S = 60

pytestmark = pytest.mark.skipif(
    PROMETHEUS is None and not IN_CI,
    reason="the prometheus binary is not installed (apt-get install prometheus; CI installs it)",
)


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url

    def query(self, promql: str) -> list[dict[str, Any]]:
        response = httpx.get(self.url + "/api/v1/query", params={"query": promql}, timeout=10)
        body = response.json()
        assert body["status"] == "success", (promql, body)
        return body["data"]["result"]  # type: ignore[no-any-return]

    def value(self, promql: str) -> float | None:
        result = self.query(promql)
        return float(result[0]["value"][1]) if result else None

    def wait_for(self, promql: str, expected: float) -> None:
        deadline = time.monotonic() + DEADLINE_S
        while (got := self.value(promql)) != expected:
            assert time.monotonic() < deadline, f"{promql} is {got}, not {expected}"
            time.sleep(0.2)


def scrape_config(target: str, path: Path) -> Path:
    """The shipped scrape config, pointed at a test Arbiter and scraping every second."""
    config = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    config["global"]["scrape_interval"] = "1s"
    config["scrape_configs"][0]["static_configs"][0]["targets"] = [target]
    path.write_text(yaml.safe_dump(config))
    if PROMTOOL:
        check = subprocess.run(
            [PROMTOOL, "check", "config", str(path)], capture_output=True, text=True, timeout=60
        )
        assert check.returncode == 0, check.stdout + check.stderr
    return path


@pytest.fixture
def prometheus_for(tmp_path: Path) -> Iterator[Any]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(target: str) -> Prometheus:
        assert PROMETHEUS, "prometheus is not installed: .ci/run installs Debian's package"
        port = free_port()
        config = scrape_config(target, tmp_path / "prometheus.yml")
        with (tmp_path / "prometheus.log").open("wb") as log:
            proc = subprocess.Popen(
                [
                    PROMETHEUS,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={tmp_path / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        procs.append(proc)
        prometheus = Prometheus(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + DEADLINE_S
        while True:
            try:
                if httpx.get(prometheus.url + "/-/ready", timeout=2).status_code == 200:
                    return prometheus
            except httpx.TransportError:
                pass
            assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()
            assert time.monotonic() < deadline, "prometheus did not become ready"
            time.sleep(0.1)

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def ask(url: str, model: str) -> int:
    return httpx.post(
        url + "/v1/chat/completions",
        headers={"authorization": f"Bearer {MASTER_KEY}"},
        json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
        timeout=10,
    ).status_code


def test_prometheus_scrapes_arbiter_and_reports_its_request_count(
    gateway, fake_openai, prometheus_for
):
    config = openai_config(fake_openai.url, "gpt-4o-mini")
    config["models"]["broken"] = {"deployments": [{"provider": "openai", "model": "error-500"}]}
    config["routing"] = {"retries": 0}
    server = gateway(config)
    prometheus = prometheus_for(f"127.0.0.1:{server.port}")

    assert [ask(server.url, "gpt-4o-mini") for _ in range(5)] == [200] * 5
    assert ask(server.url, "broken") == 502
    prometheus.wait_for("sum(arbiter_requests_total)", 6)
    assert prometheus.value('up{job="arbiter"}') == 1
    assert prometheus.value('arbiter_requests_total{model="gpt-4o-mini",status="ok"}') == 5
    assert prometheus.value('arbiter_requests_total{model="broken",status="error"}') == 1
    assert prometheus.value('arbiter_upstream_errors_total{provider="openai"}') == 1
    assert fake_openai.count() == 6

    # Every dashboard query, with Grafana's variables filled in, is valid PromQL.
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/arbiter.json").read_text())
    queries = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for query in queries:
        prometheus.query(query.replace("$__rate_interval", "1m").replace("$model", ".*"))
    assert prometheus.value("sum(arbiter_inflight_requests)") == 0  # the in-flight panel

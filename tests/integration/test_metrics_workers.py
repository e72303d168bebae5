"""`arbiter serve --workers 2`: whichever worker answers /metrics reports the
totals of all of them, also after workers die and are replaced."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import yaml

from tests.fakes.serving import free_port
from tests.metrics_text import scrape

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-workers-master-7d1c0b"
DEADLINE_S = 60


class Gateway:
    def __init__(self, proc: subprocess.Popen[bytes], url: str, log: Path, tmp: Path) -> None:
        self.proc, self.url, self.log, self.tmp = proc, url, log, tmp
        # No keep-alive: a new connection per request, which either worker may accept.
        self.client = httpx.Client(timeout=30, limits=httpx.Limits(max_keepalive_connections=0))

    def chat(self, text: str, model: str = "demo") -> int:
        return self.client.post(
            self.url + "/v1/chat/completions",
            headers={"authorization": f"Bearer {KEY}"},
            json={"model": model, "messages": [{"role": "user", "content": text}]},
        ).status_code

    def total(self, name: str = "arbiter_requests_total") -> float:
        return sum(scrape(self.url).series(name).values())

    def access_lines(self) -> list[dict[str, object]]:
        lines = [json.loads(t) for t in self.log.read_text().splitlines() if t.startswith("{")]
        return [line for line in lines if line["logger"] == "arbiter.access"]

    def workers(self) -> set[int]:
        """The worker processes: the serve's children that uvicorn spawned."""
        found = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
                cmdline = (stat.parent / "cmdline").read_bytes()
            except (OSError, IndexError, ValueError):
                continue
            if ppid == self.proc.pid and b"spawn_main" in cmdline:
                found.add(int(stat.parent.name))
        return found


def wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def ready(url: str) -> bool:
    try:
        return httpx.get(url + "/health/ready", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[Gateway]:
    config = {
        "server": {"master_key": KEY, "shutdown_grace_s": 5},
        "providers": {"local": {"type": "mock"}},
        "models": {
            "demo": {"deployments": [{"provider": "local", "model": "m"}]},
            "slow": {
                "deployments": [{"provider": "local", "model": "s", "mock": {"latency_ms": 20000}}]
            },
        },
        "logging": {"format": "json"},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(PYTHONPATH=str(ROOT), TMPDIR=str(tmp))
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--config", str(path),
             "--port", str(port), "--workers", "2"],
            cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
    gateway = Gateway(proc, f"http://127.0.0.1:{port}", log, tmp)
    try:
        wait_for(lambda: ready(gateway.url) and len(gateway.workers()) == 2, "two workers")
        yield gateway
    finally:
        gateway.client.close()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def test_two_workers_report_the_totals_of_both_also_when_workers_die(two_workers):
    gw = two_workers
    demo = {"model": "demo", "provider": "local"}

    # 100 requests, spread by the kernel over the two workers.
    with ThreadPoolExecutor(10) as pool:
        statuses = list(pool.map(gw.chat, (f"request {i}" for i in range(100))))
    assert statuses == [200] * 100
    wait_for(lambda: len(gw.access_lines()) == 100, "100 access lines")
    first = gw.workers()
    assert {line["pid"] for line in gw.access_lines()} <= first
    # The upstream is the in-process mock: its calls are the gateway's attempts.
    assert sum(int(line["attempts"]) for line in gw.access_lines()) == 100
    for _ in range(6):  # every scrape, whichever worker answers it, reports the sum
        after = scrape(gw.url)
        assert after.value("arbiter_requests_total", **demo, status="ok") == 100
        assert after.value("arbiter_request_duration_seconds_count", **demo) == 100
        assert after.value("arbiter_inflight_requests") == 0

    # Requests in flight on the workers, then every worker is killed outright.
    with ThreadPoolExecutor(8) as pool:
        stuck = [pool.submit(_cut_off, gw.chat, "stuck", "slow") for _ in range(6)]
        wait_for(lambda: gw.total("arbiter_inflight_requests") == 6, "6 requests in flight")
        for pid in first:
            os.kill(pid, signal.SIGKILL)
        for future in stuck:
            future.result(timeout=DEADLINE_S)
        wait_for(lambda: len(gw.workers() - first) == 2 and ready(gw.url), "replacement workers")
        assert list(pool.map(gw.chat, (f"after {i}" for i in range(50)))) == [200] * 50

    # 150 answers by four processes, two of them dead: the totals keep them all,
    # and the dead workers' in-flight requests no longer count.
    assert scrape(gw.url).value("arbiter_requests_total", **demo, status="ok") == 150
    assert gw.total("arbiter_inflight_requests") == 0

    # A clean stop removes the serve's metrics directory.
    [metrics_dir] = [p for p in gw.tmp.iterdir() if p.name.startswith("arbiter-metrics-")]
    assert any(metrics_dir.glob("counter_*.db"))
    gw.proc.send_signal(signal.SIGTERM)
    assert gw.proc.wait(timeout=30) == 0
    assert not metrics_dir.exists()


def _cut_off(call: Callable[..., int], *args: str) -> None:
    try:
        call(*args)
    except httpx.TransportError:
        return None
    raise AssertionError("a request to a killed worker was answered")

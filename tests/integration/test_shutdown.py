"""SIGTERM drains: streams in flight finish, new connections are refused, exit code 0."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import yaml

from tests.fakes.serving import free_port, serve_gateway

KEY = "sk-shutdown-test"


def start_gateway(tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    config = {
        "server": {"master_key": KEY, "shutdown_grace_s": 20},
        "providers": {"local": {"type": "mock"}},
        "models": {
            "paced": {
                "deployments": [
                    {
                        "provider": "local",
                        "model": "m",
                        "mock": {"reply": "echo", "tokens_per_s": 20},
                    }
                ]
            }
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return serve_gateway(path, port)


def test_sigterm_lets_twenty_streams_finish_and_exits_zero(tmp_path):
    port = free_port()
    proc = start_gateway(tmp_path, port)
    words = " ".join(f"w{i}" for i in range(20))  # ~1 s per stream at 20 tokens/s
    results: list[str] = []
    started = threading.Barrier(21)

    def stream() -> None:
        body = {"model": "paced", "stream": True, "messages": [{"role": "user", "content": words}]}
        with httpx.stream(
            "POST",
            f"http://127.0.0.1:{port}/v1/chat/completions",
            json=body,
            headers={"authorization": f"Bearer {KEY}"},
            timeout=30,
        ) as response:
            lines = response.iter_lines()
            first = next(lines)
            started.wait(timeout=20)
            results.append(first + "\n" + "\n".join(lines))

    threads = [threading.Thread(target=stream) for _ in range(20)]
    try:
        for thread in threads:
            thread.start()
        started.wait(timeout=20)  # every stream has its first chunk
        proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # the listener closes promptly
            try:
                httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=1)
            except httpx.TransportError:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("still accepting connections after SIGTERM")
        for thread in threads:
            thread.join(timeout=30)
        output = proc.communicate(timeout=30)[0].decode()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    assert len(results) == 20
    for text in results:
        assert text.rstrip().endswith("data: [DONE]")
        assert "w19" in text  # the whole answer arrived
    assert "draining in-flight requests" in output


async def test_readiness_turns_false_when_the_drain_starts():
    from gateway.app import create_app
    from tests.conftest import make_settings

    app = create_app(
        make_settings(
            {
                "providers": {"local": {"type": "mock"}},
                "models": {"demo": {"deployments": [{"provider": "local", "model": "m"}]}},
            }
        )
    )
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=transport, base_url="http://arbiter") as client:
            assert (await client.get("/health/ready")).status_code == 200
            app.state.draining = True  # what the SIGTERM handler does first
            response = await client.get("/health/ready")
            assert response.status_code == 503
            assert response.json()["problems"] == ["shutting down"]

"""What the benchmark measures: the fake upstream itself, Arbiter, LiteLLM's proxy
and the reference floors, each started as its own pinned process."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from procs import Proc, free_port, wait_http

__all__ = ["TARGETS", "Running", "Target", "litellm_command"]

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
KEY = "sk-bench-master-0000"
MODELS = {"bench": "/v1", "bench-stream": "/stream/v1", "bench-paced": "/paced/v1"}


@dataclass
class Running:
    target: Target
    proc: Proc | None  # None: the upstream itself, already running
    port: int

    def url(self, scenario: str) -> str:
        return f"http://127.0.0.1:{self.port}{self.target.path(scenario)}"


@dataclass(frozen=True)
class Target:
    name: str
    about: str
    kind: str  # direct | arbiter | litellm | floor
    starter: Callable[[Path, int, str | None, dict[str, str]], tuple[Proc, int]] | None = None
    key: str = ""

    def path(self, scenario: str) -> str:
        """The upstream's own paths for direct and floors; one endpoint for gateways."""
        if self.kind in ("arbiter", "litellm"):
            return "/v1/chat/completions"
        prefix = {"stream": "/stream", "paced": "/paced"}.get(scenario, "")
        return prefix + "/v1/chat/completions"

    def model(self, scenario: str) -> str:
        return {"stream": "bench-stream", "paced": "bench-paced"}.get(scenario, "bench")

    def start(self, tmp: Path, upstream_port: int, cpus: str | None) -> Running:
        if self.starter is None:
            return Running(self, None, upstream_port)
        proc, port = self.starter(tmp, upstream_port, cpus, {})
        return Running(self, proc, port)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARBITER_", "LITELLM_"))}
    env.pop("REDIS_URL", None)
    env.update(extra)
    return env


def _arbiter_config(upstream_port: int, port: int) -> str:
    lines = [
        "server:",
        "  host: 127.0.0.1",
        f"  port: {port}",
        f"  master_key: {KEY}",
        "providers:",
    ]
    for model, prefix in MODELS.items():
        lines += [
            f"  {model.replace('-', '_')}:",
            "    type: openai",
            f"    base_url: http://127.0.0.1:{upstream_port}{prefix}",
            "    api_key: sk-upstream-bench",
            "    timeout_s: 30",
        ]
    lines.append("models:")
    for model in MODELS:
        lines += [
            f"  {model}:",
            "    deployments:",
            f"      - provider: {model.replace('-', '_')}",
            "        model: gpt-4o-mini",
            "        input_cost_per_mtok: 0.15",
            "        output_cost_per_mtok: 0.60",
        ]
    return "\n".join(lines) + "\n"


def _start_arbiter(
    env_extra: dict[str, str], checkout: str | None = None
) -> Callable[..., tuple[Proc, int]]:
    """Arbiter from this checkout, or from ``$ARBITER_BENCH_BASELINE`` (another
    checkout, e.g. main) when ``checkout`` names that variable: an A/B of two commits."""

    def start(tmp: Path, upstream_port: int, cpus: str | None, _: dict[str, str]):
        root = Path(os.environ[checkout]) if checkout else ROOT
        if checkout and not (root / "gateway" / "cli.py").is_file():
            raise RuntimeError(f"${checkout} is not an Arbiter checkout: {root}")
        port = free_port()
        name = (
            "arbiter"
            + "".join(f"-{v}" for v in env_extra.values())
            + ("-baseline" if checkout else "")
        )
        config = tmp / f"{name}.yaml"
        config.write_text(_arbiter_config(upstream_port, port))
        argv = [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config)]
        env = _env(PYTHONPATH=str(root), **env_extra)
        proc = Proc.start(name, argv, cpus=cpus, log=tmp / f"{name}.log", env=env, cwd=root)
        wait_http(f"http://127.0.0.1:{port}/health/live", proc)
        return proc, port

    return start


def _start_floor(script: str) -> Callable[..., tuple[Proc, int]]:
    def start(tmp: Path, upstream_port: int, cpus: str | None, _: dict[str, str]):
        port = free_port()
        argv = [
            sys.executable,
            str(HERE / "floors" / script),
            "--port",
            str(port),
            "--upstream",
            f"http://127.0.0.1:{upstream_port}",
        ]
        env = _env(PYTHONPATH=str(HERE))
        proc = Proc.start(script, argv, cpus=cpus, log=tmp / f"{script}.log", env=env)
        wait_http(f"http://127.0.0.1:{port}/", proc)
        return proc, port

    return start


def litellm_command() -> Path | None:
    """LiteLLM's CLI: ``$ARBITER_BENCH_LITELLM`` (the CLI or its venv), else bench/.venv-litellm."""
    given = os.environ.get("ARBITER_BENCH_LITELLM")
    candidates = [Path(given), Path(given) / "bin" / "litellm"] if given else []
    candidates.append(HERE / ".venv-litellm" / "bin" / "litellm")
    return next((c for c in candidates if c.is_file() and os.access(c, os.X_OK)), None)


def _litellm_config(upstream_port: int) -> str:
    lines = ["model_list:"]
    for model, prefix in MODELS.items():
        lines += [
            f"  - model_name: {model}",
            "    litellm_params:",
            "      model: openai/gpt-4o-mini",
            f"      api_base: http://127.0.0.1:{upstream_port}{prefix}",
            "      api_key: sk-upstream-bench",
        ]
    lines += ["general_settings:", f"  master_key: {KEY}"]
    return "\n".join(lines) + "\n"


def _start_litellm(tmp: Path, upstream_port: int, cpus: str | None, _: dict[str, str]):
    command = litellm_command()
    if command is None:
        raise RuntimeError("LiteLLM is not installed (see bench/README.md)")
    port = free_port()
    config = tmp / "litellm.yaml"
    config.write_text(_litellm_config(upstream_port))
    argv = [
        str(command),
        "--config",
        str(config),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--num_workers",
        "1",
    ]
    env = _env(LITELLM_OFFLINE_MODE="true", LITELLM_LOCAL_MODEL_COST_MAP="True")
    proc = Proc.start("litellm", argv, cpus=cpus, log=tmp / "litellm.log", env=env, cwd=tmp)
    wait_http(f"http://127.0.0.1:{port}/health/liveliness", proc, timeout_s=180)
    return proc, port


TARGETS: dict[str, Target] = {
    t.name: t
    for t in [
        Target("direct", "nginx itself: the fake upstream, no proxy", "direct"),
        Target(
            "arbiter", "Arbiter, one process, default features", "arbiter", _start_arbiter({}), KEY
        ),
        Target(
            "arbiter-httpx",
            "Arbiter on httpx's default transport",
            "arbiter",
            _start_arbiter({"ARBITER_HTTP_TRANSPORT": "httpx"}),
            KEY,
        ),
        Target(
            "arbiter-baseline",
            "Arbiter from the checkout in $ARBITER_BENCH_BASELINE",
            "arbiter",
            _start_arbiter({}, "ARBITER_BENCH_BASELINE"),
            KEY,
        ),
        Target("litellm", "LiteLLM proxy, one worker, no database", "litellm", _start_litellm, KEY),
        Target(
            "floor-asgi",
            "bare ASGI app answering from memory (no framework, no upstream)",
            "floor",
            _start_floor("asgi_memory.py"),
        ),
        Target(
            "floor-memory",
            "Starlette answering from memory (no upstream)",
            "floor",
            _start_floor("starlette_memory.py"),
        ),
        Target(
            "floor-httpx",
            "FastAPI + httpx pass-through (default transport)",
            "floor",
            _start_floor("fastapi_httpx.py"),
        ),
        Target(
            "floor-httpx-aiohttp",
            "FastAPI + httpx with the httpx-aiohttp transport",
            "floor",
            _start_floor("fastapi_httpx_aiohttp.py"),
        ),
        Target(
            "floor-aiohttp",
            "Starlette + aiohttp client pass-through",
            "floor",
            _start_floor("starlette_aiohttp.py"),
        ),
    ]
}

"""A team evaluates models with `arbiter rank`, publishes the scores, and routing follows."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest
import yaml

from gateway.cli import main
from tests.conftest import MASTER_KEY
from tests.fakes.judge_server import FakeJudge
from tests.fakes.math_models import (
    TRUE_QUALITY,
    math_config,
    mock_upstream_calls,
    questions,
)
from tests.fakes.serving import run_server

ROOT = Path(__file__).resolve().parents[2]
AUTH = {"authorization": f"Bearer {MASTER_KEY}"}
REQUIRED_COLUMNS = [
    "rank", "model", "quality", "quality_low", "quality_high", "samples", "latency_p50_ms",
    "cost_per_mtok", "pareto",
]  # fmt: skip


def arithmetic_dataset(path: Path, n: int, seed: int = 42) -> Path:
    lines = [json.dumps({"defaults": {"assert": "numeric", "task": "math"}})]
    for i, (question, answer) in enumerate(questions(n, seed=seed)):
        lines.append(json.dumps({"id": f"q{i}", "prompt": question, "expected": answer}))
    path.write_text("\n".join(lines) + "\n")
    return path


def rank(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ARBITER_CONFIG", "REDIS_URL")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "rank", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_rank_orders_known_mocks_with_honest_intervals_publishes_and_routing_follows(
    gateway, tmp_path
):
    arbiter = gateway(math_config(latency_ms={m: 0.0 for m in TRUE_QUALITY}))
    dataset = arithmetic_dataset(tmp_path / "arithmetic.jsonl", 200)
    out = tmp_path / "out"
    models = "math-good,math-ok,math-cheap"
    args = ["--dataset", str(dataset), "--models", models, "--url", arbiter.url]
    args += ["--key", MASTER_KEY, "--out", str(out), "--concurrency", "32", "--publish"]
    result = rank(*args)
    assert result.returncode == 0, result.stderr
    assert "answers [" in result.stderr and "600/600" in result.stderr  # the progress bar
    assert mock_upstream_calls(arbiter) == 600

    with (out / "leaderboard.csv").open() as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames[: len(REQUIRED_COLUMNS)] == REQUIRED_COLUMNS
        rows = {row["model"]: row for row in reader}
    order = sorted(TRUE_QUALITY, key=lambda m: int(rows[m]["rank"]))
    assert order == ["math-good", "math-ok", "math-cheap"]
    for model, true in TRUE_QUALITY.items():
        row = rows[model]
        assert float(row["quality_low"]) <= true <= float(row["quality_high"]), row
        assert float(row["samples"]) == 200 and float(row["latency_p50_ms"]) > 0
    pareto = {m for m, row in rows.items() if row["pareto"] == "true"}
    assert pareto == {"math-good", "math-ok", "math-cheap"}
    assert "Pareto front (quality vs cost): math-cheap, math-ok, math-good" in result.stdout
    assert "published quality scores for math (3 models)" in result.stdout
    assert len((out / "results.jsonl").read_text().splitlines()) == 600
    svg = (out / "leaderboard.svg").read_text()
    assert svg.startswith("<svg") and svg.count('class="model pareto"') == 3

    with httpx.Client(base_url=arbiter.url, timeout=30) as client:
        board = client.get("/v1/rankings", params={"task": "math"}, headers=AUTH).json()
        published = {r["model"]: r for r in board["models"]}
        assert published["math-ok"]["samples"] == 200
        assert published["math-ok"]["quality"] == float(rows["math-ok"]["quality"])
        # routing by rank uses the published scores (the requests' task is math)
        answered = Counter()
        for question, _ in questions(50, seed=9):
            body = {"model": "auto", "messages": [{"role": "user", "content": question}]}
            response = client.post(
                "/v1/chat/completions", json=body, headers={**AUTH, "x-arbiter-task": "math"}
            )
            answered[response.headers["x-arbiter-model"]] += 1
    assert answered["math-ok"] >= 45
    assert mock_upstream_calls(arbiter) == 650

    again = rank(*args)  # everything is cached: no model is called
    assert again.returncode == 0, again.stderr
    assert "0 answered now, 600 from the cache" in again.stdout
    assert mock_upstream_calls(arbiter) == 650


@pytest.fixture
def judge_server():
    judge = FakeJudge()
    with run_server(judge.app) as server:
        judge.url = server.url + "/v1"
        yield judge


def test_in_process_run_with_a_judge_and_pairwise_votes(tmp_path, judge_server, capsys):
    config = math_config(latency_ms={m: 0.0 for m in TRUE_QUALITY})
    config["server"] = {"master_key": MASTER_KEY}
    config["providers"]["judging"] = {"type": "openai-compatible", "base_url": judge_server.url}
    config["models"]["judge"] = {"deployments": [{"provider": "judging", "model": "judge-1"}]}
    config_path = tmp_path / "arbiter.yaml"
    config_path.write_text(yaml.safe_dump(config))
    dataset = tmp_path / "judged.jsonl"
    lines = [
        json.dumps({"prompt": q, "expected": str(a), "assert": "judge", "rubric": "right sum"})
        for q, a in questions(10, seed=7)
    ]
    dataset.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    code = main(
        [
            "--config", str(config_path), "rank", "--dataset", str(dataset),
            "--models", "math-good,math-cheap", "--judge", "judge", "--pairwise",
            "--out", str(out),
        ]
    )  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(results) == 20 and all(r["error"] is None for r in results)
    assert all(r["score"] == (1.0 if r["reason"] is None else 0.0) for r in results)
    scores = {
        m: [r["score"] for r in results if r["model"] == m] for m in ("math-good", "math-cheap")
    }
    assert scores["math-good"] == [1.0] * 10  # the mocks' seeds: math-good gets all ten right
    assert scores["math-cheap"].count(0.0) == 4  # ... and math-cheap four wrong
    # a score per answer, then every pair judged twice (positions swapped)
    assert len(judge_server.calls) == 20 + 2 * 10
    assert "arena" in captured.out
    with (out / "leaderboard.csv").open() as f:
        rows = {row["model"]: row for row in csv.DictReader(f)}
    assert rows["math-good"]["quality"] == "1.0" and rows["math-cheap"]["quality"] == "0.6"
    # four decided pairs, six ties: math-good ahead in Bradley-Terry
    assert float(rows["math-good"]["arena_score"]) > float(rows["math-cheap"]["arena_score"])
    # a re-run judges nothing again
    judge_server.calls.clear()
    assert (
        main(
            [
                "--config",
                str(config_path),
                "rank",
                "--dataset",
                str(dataset),
                "--models",
                "math-good,math-cheap",
                "--judge",
                "judge",
                "--pairwise",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert judge_server.calls == []
    assert "0 answered now, 20 from the cache" in capsys.readouterr().out


def test_bad_invocations_exit_with_a_message(tmp_path, capsys):
    dataset = tmp_path / "bad.jsonl"
    dataset.write_text('{"prompt": "hi", "expected": "x"}\n{"prompt": "x", "assert": "nope"}\n')
    example = ["--config", str(ROOT / "config.example.yaml"), "rank", "--models"]
    assert main([*example, "demo", "--dataset", str(dataset)]) == 2
    assert "bad.jsonl:2: assert must be one of" in capsys.readouterr().err
    ok = tmp_path / "ok.jsonl"
    ok.write_text('{"prompt": "hi", "expected": "hi"}\n')
    assert main([*example, "demo", "--dataset", str(ok), "--publish"]) == 2
    assert "--publish needs --url" in capsys.readouterr().err
    out = tmp_path / "o"
    assert main([*example, "demo,nope", "--dataset", str(ok), "--out", str(out)]) == 1
    assert "unknown model(s)" in capsys.readouterr().err
    assert not (out / "cache.jsonl").exists()  # nothing was asked
    assert main([*example, "demo", "--dataset", str(ok), "--pairwise"]) == 2
    assert "--pairwise needs --judge" in capsys.readouterr().err

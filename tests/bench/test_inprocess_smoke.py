"""The in-process harness still runs the real chat app for misses, hits and streams
(not a speed test: a few hundred requests each, and the report line is checked)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("mode", ["miss", "hit", "stream"])
def test_inprocess_harness_serves_every_request(mode):
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "inprocess.py"),
            mode,
            "--requests",
            "200",
            "--concurrency",
            "4",
            "--gc",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.search(rf"^{mode}: [\d.]+ us CPU/request", done.stdout, re.M), done.stdout
    assert "garbage collector:" in done.stdout


def test_server_protocol_harness_answers_through_both_protocols():
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "server_protocol.py"), "--requests", "200"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.search(r"^uvicorn httptools +[\d.]+ us CPU/request +2\.0 writes", done.stdout, re.M)
    assert re.search(r"^arbiter +[\d.]+ us CPU/request +1\.0 writes", done.stdout, re.M)

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

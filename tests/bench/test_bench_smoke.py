"""The benchmark harness still runs: nginx upstream, Arbiter, wrk, report.

Not a speed test: it runs each load for about a second at concurrency 1 and only
checks that every request was answered and the report was written.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS = {
    "nginx": shutil.which("nginx") or shutil.which("/usr/sbin/nginx"),
    "wrk": shutil.which("wrk"),
}
MISSING = [name for name, path in TOOLS.items() if not path]

pytestmark = pytest.mark.skipif(
    bool(MISSING) and not os.environ.get("CI"),
    reason=f"{' and '.join(MISSING)} not installed (apt-get install nginx wrk); CI installs them",
)


def test_bench_run_quick_against_arbiter(tmp_path):
    out = tmp_path / "RESULTS.md"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARBITER_")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run"),
            "--quick",
            "--duration",
            "1",
            "--warmup",
            "0",
            "--targets",
            "direct,arbiter",
            "--scenarios",
            "small-c1,stream-c8",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = out.read_text()
    rows = re.findall(r"^\| arbiter \| ([\d,]+) \|.*\| (\d+) \|$", report, flags=re.M)
    assert len(rows) == 2, report  # one row per scenario
    for requests_per_s, errors in rows:
        assert int(requests_per_s.replace(",", "")) > 0
        assert errors == "0"

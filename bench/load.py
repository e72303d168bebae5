"""Load generation: one wrk run, pinned, parsed from the line post.lua prints."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["LoadResult", "run_wrk"]

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "wrk" / "post.lua"


@dataclass(frozen=True, slots=True)
class LoadResult:
    requests: int
    duration_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: int  # connect/read/write errors, timeouts and non-2xx answers

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    def to_dict(self) -> dict[str, float]:
        return {
            "rps": round(self.rps, 1),
            "p50_ms": self.p50_ms,
            "p90_ms": self.p90_ms,
            "p99_ms": self.p99_ms,
            "requests": self.requests,
            "errors": self.errors,
        }


def run_wrk(
    url: str,
    body_file: Path,
    *,
    connections: int,
    duration_s: float,
    key: str = "",
    fixed: bool = False,
    cpus: str | None = None,
    timeout_s: float = 10.0,
) -> LoadResult:
    argv = [
        shutil.which("wrk") or "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(duration_s))}s",
        f"--timeout={timeout_s:g}s",
        "-s",
        str(SCRIPT),
        url,
        "--",
        str(body_file),
        key,
        "fixed" if fixed else "unique",
        str(time.time_ns()),  # a new tag per run: no body repeats across runs
    ]
    if cpus is not None and shutil.which("taskset"):
        argv = ["taskset", "-c", cpus, *argv]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + 60)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    data = json.loads(line[len("RESULT ") :])
    errors = sum(
        data[k]
        for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")
    )
    return LoadResult(
        requests=int(data["requests"]),
        duration_s=data["duration_us"] / 1e6,
        p50_ms=data["p50_us"] / 1000,
        p90_ms=data["p90_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        errors=int(errors),
    )

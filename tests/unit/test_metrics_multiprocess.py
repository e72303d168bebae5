"""The metrics directory of a multi-worker serve: fresh per serve, gone after, and
the live gauges of dead workers forgotten."""

from __future__ import annotations

import os
import subprocess
import sys

from gateway.metrics_multiprocess import ENV_VAR, prune_dead_workers, shared_metrics_dir


def test_each_serve_gets_a_fresh_directory_removed_afterwards(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    with shared_metrics_dir() as path:
        assert os.environ[ENV_VAR] == path and os.listdir(path) == []
        with open(os.path.join(path, "counter_1.db"), "wb"):
            pass
    assert not os.path.exists(path)
    assert ENV_VAR not in os.environ


def test_a_directory_the_operator_chose_is_used_and_kept(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    with shared_metrics_dir() as path:
        assert path == str(tmp_path)
    assert tmp_path.is_dir() and os.environ[ENV_VAR] == str(tmp_path)


def test_live_gauges_of_dead_workers_are_forgotten_and_counters_kept(tmp_path):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True, timeout=60)  # fmt: skip
    dead, alive = int(finished.stdout), os.getpid()
    names = [
        f"gauge_livesum_{dead}.db",
        f"gauge_livemostrecent_{dead}.db",
        f"counter_{dead}.db",
        f"gauge_livesum_{alive}.db",
        f"histogram_{alive}.db",
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    assert prune_dead_workers(str(tmp_path)) == [dead]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"counter_{dead}.db", f"gauge_livesum_{alive}.db", f"histogram_{alive}.db"]
    )

"""Metrics across worker processes (``arbiter serve --workers N``).

prometheus-client's multiprocess mode keeps each worker's values in memory-mapped
files under ``PROMETHEUS_MULTIPROC_DIR`` and sums them at scrape time, so that any
worker answering ``/metrics`` reports the totals of all of them. The variable must
be set before ``prometheus_client`` is first imported in a process: the CLI sets
it, to a fresh directory per serve, before uvicorn spawns the workers (which
import the app, and so prometheus-client, only after they start).

This module does not import prometheus-client at import time, so the CLI may use
it before that moment.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["ENV_VAR", "multiprocess_dir", "prune_dead_workers", "shared_metrics_dir"]

ENV_VAR = "PROMETHEUS_MULTIPROC_DIR"
# Live gauges (in-flight, deployment up) are kept in one file per process:
# gauge_livesum_<pid>.db, gauge_livemostrecent_<pid>.db, ...
_LIVE_FILE = re.compile(r"gauge_live[a-z]+_(\d+)\.db$")


def multiprocess_dir() -> str | None:
    """The directory multiprocess mode writes to, when this process uses it."""
    path = os.environ.get(ENV_VAR)
    return path if path and os.path.isdir(path) else None


@contextmanager
def shared_metrics_dir() -> Iterator[str]:
    """A fresh, empty metrics directory for one serve, removed afterwards.

    A directory the operator set already (``PROMETHEUS_MULTIPROC_DIR`` in the
    environment, e.g. to keep it on a tmpfs) is used as it is and left in place.
    """
    given = multiprocess_dir()
    if given is not None:
        yield given
        return
    path = tempfile.mkdtemp(prefix="arbiter-metrics-")
    os.environ[ENV_VAR] = path
    try:
        yield path
    finally:
        os.environ.pop(ENV_VAR, None)
        shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def prune_dead_workers(path: str) -> list[int]:
    """Forget the live gauges of workers that died without shutting down (a crash,
    a kill): uvicorn restarts such a worker but tells no one. Returns their pids.

    Counters and histograms of dead workers stay: they are part of the totals.
    """
    from prometheus_client.multiprocess import mark_process_dead

    dead = set()
    for name in glob.glob(os.path.join(path, "gauge_live*_*.db")):
        match = _LIVE_FILE.search(name)
        if match and not _alive(int(match.group(1))):
            dead.add(int(match.group(1)))
    for pid in dead:
        mark_process_dead(pid, path)
    return sorted(dead)

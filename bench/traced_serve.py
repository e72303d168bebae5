"""``arbiter serve`` under tracemalloc, for finding what grows with request count.

    python bench/traced_serve.py SNAPSHOT_DIR serve --config arbiter.yaml

Each SIGUSR1 writes ``SNAPSHOT_DIR/snapshot-<n>.pickle`` (a ``tracemalloc``
snapshot); ``bench/rss_by_requests.py --tracemalloc`` sends them at its
checkpoints and prints what grew between them. tracemalloc slows the process
and adds its own memory: RSS and req/s of a traced run are not comparable.
"""

from __future__ import annotations

import signal
import sys
import tracemalloc
from pathlib import Path
from types import FrameType


def main() -> int:
    out = Path(sys.argv[1])
    tracemalloc.start(8)
    taken = 0

    def snapshot(signum: int, frame: FrameType | None) -> None:
        nonlocal taken
        taken += 1
        partial = out / f"snapshot-{taken}.part"
        tracemalloc.take_snapshot().dump(str(partial))
        partial.rename(out / f"snapshot-{taken}.pickle")

    signal.signal(signal.SIGUSR1, snapshot)
    from gateway.cli import main as cli

    return cli(sys.argv[2:])


if __name__ == "__main__":
    raise SystemExit(main())

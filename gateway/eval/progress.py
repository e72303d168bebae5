"""A progress bar on stderr: redrawn in place on a terminal, a line per tenth otherwise."""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    def __init__(self, total: int, *, label: str = "rank", stream: TextIO | None = None) -> None:
        self.total = max(total, 0)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.done = self.passed = self.failed = self.errors = self.cached = 0
        self.started = time.monotonic()
        self._drawn_at = 0.0
        self._tenth = -1

    def advance(self, *, passed: bool | None, cached: bool = False) -> None:
        """One item finished: passed True/False, or None when it errored."""
        self.done += 1
        self.cached += cached
        if passed is None:
            self.errors += 1
        elif passed:
            self.passed += 1
        else:
            self.failed += 1
        self._draw()

    def line(self) -> str:
        share = self.done / self.total if self.total else 1.0
        filled = int(share * 30)
        bar = "█" * filled + "░" * (30 - filled)
        return (
            f"{self.label} [{bar}] {self.done}/{self.total} {share:4.0%}  "
            f"pass {self.passed}  fail {self.failed}  error {self.errors}  "
            f"cached {self.cached}  {time.monotonic() - self.started:.1f}s"
        )

    def _draw(self, final: bool = False) -> None:
        if self.tty:
            now = time.monotonic()
            if final or self.done == self.total or now - self._drawn_at >= 0.1:
                self._drawn_at = now
                self.stream.write("\r" + self.line())
                self.stream.flush()
            return
        tenth = int(10 * self.done / self.total) if self.total else 10
        if tenth != self._tenth or final:
            self._tenth = tenth
            self.stream.write(self.line() + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self._draw(final=True)
            self.stream.write("\n")
            self.stream.flush()

"""Child processes of the benchmark: started pinned to CPUs, watched for memory,
always stopped. Nothing here outlives the run."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Proc", "RssSampler", "cpu_seconds", "free_port", "rss_kib", "wait_http"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            text = Path(f"/proc/{pid}/task/{task}/children").read_text()
        except OSError:
            continue
        for child in text.split():
            found.append(int(child))
            found.extend(_children(int(child)))
    return found


def _status_kib(pid: int, field_name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_kib(pid: int) -> int:
    """Resident memory of a process and all its descendants, in KiB."""
    return sum(_status_kib(p, "VmRSS") for p in [pid, *_children(pid)])


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by a process and its descendants.

    Unlike req/s, CPU per request barely moves when other work shares the
    machine, so it is the figure to compare across runs on a busy host."""
    total = 0
    for p in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _TICKS


class RssSampler:
    """Samples the RSS of a process tree in a thread; keeps the peak."""

    def __init__(self, pid: int, interval_s: float = 0.1) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.peak_kib = 0
        self.last_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.last_kib = rss_kib(self.pid)
            self.peak_kib = max(self.peak_kib, self.last_kib)
            self._stop.wait(self.interval_s)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path
    sampler: RssSampler | None = field(default=None, repr=False)

    @classmethod
    def start(
        cls,
        name: str,
        argv: list[str],
        *,
        cpus: str | None,
        log: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Proc:
        if cpus is not None and shutil.which("taskset"):
            argv = ["taskset", "-c", cpus, *argv]
        out = log.open("wb")
        popen = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,  # its own process group: stopped as a whole
        )
        out.close()
        proc = cls(name, popen, log)
        proc.sampler = RssSampler(popen.pid)
        return proc

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def pause(self) -> None:
        """SIGSTOP the whole group: an idle target's timers must not steal the core
        another target is being measured on."""
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGCONT)

    def stop(self, timeout_s: float = 10.0) -> None:
        self.resume()
        if self.sampler:
            self.sampler.stop()
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=5)


def wait_http(url: str, proc: Proc, timeout_s: float = 60.0) -> None:
    """Polls ``url`` until it answers (any status), or fails with the process's log."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited early:\n{proc.tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{proc.name} did not answer {url} in {timeout_s:.0f}s:\n{proc.tail()}")

"""The fake upstream: renders ``nginx.conf.in`` into a temp dir and runs nginx there."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from pathlib import Path

import bodies
from procs import Proc, wait_http

__all__ = ["ECHO_MODULE", "PACE_S", "start_nginx"]

HERE = Path(__file__).resolve().parent
ECHO_MODULE = Path("/usr/lib/nginx/modules/ngx_http_echo_module.so")
PACE_S = 0.02  # between events of the paced stream


def _quoted(text: str) -> str:
    """Text for a single-quoted nginx string (bodies hold no '$')."""
    assert "$" not in text
    return text.replace("\\", "\\\\").replace("'", "\\'")


def _paced(events: list[bytes]) -> str:
    lines = []
    for i, event in enumerate(events):
        if i:
            lines.append(f"            echo_sleep {PACE_S};")
        lines.append(f"            echo -n '{_quoted(event.decode())}';")
        lines.append("            echo_flush;")
    return "\n".join(lines)


def render_config(port: int, tmp: Path) -> str:
    echo = ECHO_MODULE.exists()
    events = bodies.stream_events()
    values = {
        "@LOAD_ECHO@": f"load_module {ECHO_MODULE};" if echo else "",
        "@TMP@": str(tmp),
        "@PORT@": str(port),
        "@PACE_S@": str(PACE_S),
        "@COMPLETION@": _quoted(json.dumps(bodies.completion(), separators=(",", ":"))),
        "@PACED@": _paced(events) if echo else "            return 404;",
    }
    text = (HERE / "nginx.conf.in").read_text()
    for key, value in values.items():
        text = text.replace(key, value)
    return text


def start_nginx(port: int, tmp: Path, cpus: str | None) -> Proc:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    root = tmp / "nginx"
    root.mkdir(parents=True, exist_ok=True)
    for path in (tmp, root):  # nginx workers drop root for 'nobody' and must read the files
        path.chmod(0o755)
    files = root / "files"
    files.mkdir(exist_ok=True)
    files.chmod(0o755)
    (files / "stream.sse").write_bytes(b"".join(bodies.stream_events()))
    conf = root / "nginx.conf"
    conf.write_text(render_config(port, root))
    argv = [nginx, "-p", str(root), "-c", str(conf), "-e", str(root / "error.log")]
    check = subprocess.run([*argv, "-t"], capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"nginx rejected its config:\n{check.stderr}")
    proc = Proc.start("nginx", argv, cpus=cpus, log=root / "stdout.log")
    wait_http(f"http://127.0.0.1:{port}/health", proc)
    return proc


def has_paced_stream(port: int) -> bool:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/paced/v1/chat/completions", data=b"{}", method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False

"""An operator opens /dashboard in a real (headless) browser and sees the leaderboard and plot.

Uses Debian's ``chromium`` (``.ci/run`` installs it); a screenshot is saved as
``artifacts/dashboard.png`` for people to look at.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import MASTER_KEY
from tests.fakes.math_models import math_config, mock_upstream_calls, questions

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
AUTH = {"authorization": f"Bearer {MASTER_KEY}"}

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (CI installs Debian's chromium)"
)


def browse(url: str, profile: Path, *extra: str) -> str:
    result = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--window-size=1280,1000",
            "--virtual-time-budget=8000",
            *extra,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.fixture
def measured_arbiter(gateway):
    arbiter = gateway(math_config())
    with httpx.Client(base_url=arbiter.url, timeout=30) as client:
        results = [
            {"model": "math-good", "score": 190, "samples": 200},
            {"model": "math-ok", "score": 160, "samples": 200},
            {"model": "math-cheap", "score": 120, "samples": 200},
        ]
        r = client.post("/v1/rankings/quality", json={"results": results}, headers=AUTH)
        assert r.status_code == 204
        for question, _ in questions(10):
            for model in ("math-good", "math-ok", "math-cheap"):
                body = {"model": model, "messages": [{"role": "user", "content": question}]}
                assert client.post("/v1/chat/completions", json=body, headers=AUTH).is_success
    return arbiter


def test_the_dashboard_shows_leaderboard_rows_and_the_pareto_plot(measured_arbiter, tmp_path):
    url = f"{measured_arbiter.url}/dashboard#key={MASTER_KEY}"
    dom = browse(url, tmp_path / "profile", "--dump-dom")
    assert 'data-loaded="true"' in dom, dom[-3000:]
    assert re.findall(r'<tr data-model="([^"]+)"', dom) == ["math-good", "math-ok", "math-cheap"]
    points = re.findall(r'<circle class="point( pareto)?"[^>]*data-model="([^"]+)"', dom)
    assert sorted(model for _, model in points) == ["math-cheap", "math-good", "math-ok"]
    assert all(pareto for pareto, _ in points)  # each is on the front
    assert '<path class="front"' in dom
    assert 'data-routed="auto"' in dom and "auto → math-ok" in dom
    artifacts = ROOT / "artifacts"
    artifacts.mkdir(exist_ok=True)
    shot = artifacts / "dashboard.png"
    shot.unlink(missing_ok=True)
    browse(url, tmp_path / "profile", f"--screenshot={shot}")
    assert shot.exists() and shot.stat().st_size > 10_000
    assert mock_upstream_calls(measured_arbiter) == 30


def test_without_a_key_the_page_asks_for_one(measured_arbiter, tmp_path):
    page = httpx.get(f"{measured_arbiter.url}/dashboard")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "connect-src 'self'" in page.headers["content-security-policy"]
    dom = browse(f"{measured_arbiter.url}/dashboard", tmp_path / "profile", "--dump-dom")
    assert "enter an API key" in dom
    assert re.findall(r'<tr data-model="', dom) == []
    assert mock_upstream_calls(measured_arbiter) == 30

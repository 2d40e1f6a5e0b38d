"""A real browser (headless Chromium) loads pages from a live server: they render and break no CSP rule.

Skipped only when Chromium is absent outside CI; in CI (``CI`` set) a missing browser is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db(transaction=True)
CSP_MESSAGE = re.compile(r"Content Security Policy|Content-Security-Policy", re.IGNORECASE)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--enable-logging=stderr",
    "--v=0",
    "--virtual-time-budget=8000",
]


@pytest.fixture
def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is required in CI (apt-get install -y chromium)")
        pytest.skip("no Chromium on this machine")
    return path


def browse(chromium: str, profile: Path, url: str, *action: str) -> subprocess.CompletedProcess:
    """Run a fresh headless Chromium on ``url`` (fresh profile each time) and return its output."""
    profile.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={profile}", *action, url],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def csp_violations(log: str) -> list[str]:
    return [line for line in log.splitlines() if CSP_MESSAGE.search(line)]


def test_the_probe_sees_a_violation(chromium, live_server, settings, tmp_path):
    """Control: a page with inline script and style does produce violation messages (and is blocked)."""
    settings.ROOT_URLCONF = "tests.security.csp_probe_urls"
    result = browse(chromium, tmp_path / "profile", f"{live_server.url}/csp-probe/", "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    assert csp_violations(result.stderr), result.stderr[-3000:]
    assert "<title>probe</title>" in result.stdout  # the inline script was blocked: it would retitle the page


def test_login_page_renders_with_no_csp_violation(chromium, live_server, tmp_path):
    result = browse(chromium, tmp_path / "profile", f"{live_server.url}/accounts/login/", "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    assert csp_violations(result.stderr) == []
    assert 'name="username"' in result.stdout and 'name="password"' in result.stdout
    assert 'name="csrfmiddlewaretoken"' in result.stdout


def test_login_page_is_styled_by_its_stylesheet(chromium, live_server, tmp_path):
    from PIL import Image

    shot = tmp_path / "login.png"
    result = browse(
        chromium, tmp_path / "profile", f"{live_server.url}/accounts/login/", f"--screenshot={shot}",
        "--window-size=1000,700", "--hide-scrollbars",
    )  # fmt: skip
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    assert csp_violations(result.stderr) == []
    image = Image.open(shot).convert("RGB")
    assert image.getpixel((4, 4)) == (0x1D, 0x23, 0x30)  # the dark top bar of static/css/maestro.css
    assert image.getpixel((4, 300)) == (0xF6, 0xF7, 0xFB)  # the page background


def test_api_docs_run_their_scripts_under_the_csp(chromium, live_server, tmp_path):
    result = browse(chromium, tmp_path / "profile", f"{live_server.url}/api/v1/docs/", "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    assert csp_violations(result.stderr) == []
    assert "Maestro ML API" in result.stdout  # rendered by Swagger UI's scripts from the schema

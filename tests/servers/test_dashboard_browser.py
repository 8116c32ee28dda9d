"""The dashboard in headless Chromium: the package table must be in the rendered DOM.

Skipped when Chromium is missing, except under CI (``CI`` set), where it must exist.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import ServerProc

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)


@pytest.fixture(scope="module")
def chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required under CI (apt-get install chromium)")
        pytest.skip("chromium not installed")
    return CHROMIUM


def run_chromium(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}", *args,
        ],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_dashboard_renders_the_package_table(
    chromium: str, server: ServerProc, tmp_path: Path
) -> None:
    shot = tmp_path / "dashboard.png"
    result = run_chromium(
        chromium, tmp_path / "profile", "--window-size=1200,900", f"--screenshot={shot}",
        "--dump-dom", server.url,
    )  # fmt: skip
    dom = result.stdout
    assert '<table id="packages">' in dom, result.stderr[-2000:]
    assert '<td class="name">pytest</td>' in dom
    model = "threaded" if server.kind == "threaded" else "gevent"
    assert f'id="concurrency">{model}<' in dom and server.name in dom
    assert shot.exists() and shot.stat().st_size > 5000

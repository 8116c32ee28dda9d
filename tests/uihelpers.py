"""Running ``pipkit ui`` in a subprocess for the tests: a venv with known drift, the URL."""

from __future__ import annotations

import contextlib
import http.client
import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.conftest import ROOT, pip_install, site_packages

READY = "pipkit ui: serving "
LOCK = "alpha==1.0\nbeta==2.0\ngamma==1.0\n"
XSS = "<script>document.title='pwned'</script><img src=x onerror=alert(1)>"


def drifted_env(venv: Path, wheelhouse: Path, folder: Path) -> Path:
    """alpha 1.0 (plain pip) and beta 1.0 (``pipkit install``, so the history has an entry)
    installed, a lock wanting beta 2.0 and gamma (missing), and a hand-made ``xss-pkg`` whose
    Summary is markup (extra). Returns the lock."""
    info = site_packages(venv) / "xss_pkg-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: xss-pkg\nVersion: 0.1\nSummary: {XSS}\n"
        "Requires-Dist: alpha\n\n"
    )
    (info / "RECORD").write_text("")
    pip_install(venv, "alpha==1.0", wheelhouse=wheelhouse)
    subprocess.run(
        [sys.executable, "-m", "pipkit", "--python", str(venv), "install", "beta==1.0",
         "--", "--no-index", "--find-links", str(wheelhouse)],
        check=True, capture_output=True, env={**_env(), "PYTHONPATH": str(ROOT)}, timeout=120,
    )  # fmt: skip
    lock = folder / "requirements.txt"
    lock.write_text(LOCK)
    return lock


@dataclass
class Ui:
    popen: subprocess.Popen[str]
    url: str
    stderr: Path

    @property
    def port(self) -> int:
        return int(urlsplit(self.url).port or 0)

    def get(self, path: str, host: str | None = None) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            headers = {"Host": host} if host else {}
            conn.request("GET", path, headers=headers)
            reply = conn.getresponse()
            return reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read()
        finally:
            conn.close()

    def doc(self, name: str) -> Any:
        status, _, body = self.get(f"/data/{name}")
        assert status == 200, (name, status)
        return json.loads(body)

    def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signum)
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        return self.popen.returncode


@contextlib.contextmanager
def running_ui(
    venv: Path, cwd: Path, *args: str, timeout: float = 60, env: dict[str, str] | None = None
) -> Iterator[Ui]:
    """``pipkit --python VENV ui --port 0 ARGS`` until the block ends (then SIGTERM)."""
    errors = cwd / "ui-stderr.txt"
    with errors.open("w") as stderr:
        popen = subprocess.Popen(
            [sys.executable, "-m", "pipkit", "--python", str(venv), "ui", "--port", "0", *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env={**_env(), "PYTHONPATH": str(ROOT), **(env or {})},
        )
    assert popen.stdout is not None
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(popen.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    ui: Ui | None = None
    try:
        text = line[0].rstrip("\n") if line else ""
        assert text.startswith(READY), f"no ready line: {text!r}\n{errors.read_text()}"
        url = text[len(READY) :].split(" ", 1)[0]
        ui = Ui(popen, url, errors)
        yield ui
    finally:
        if ui is not None:
            ui.stop()
        elif popen.poll() is None:
            popen.kill()
            popen.wait(10)


def _env() -> dict[str, str]:
    import os

    return dict(os.environ)

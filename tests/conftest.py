"""Shared fixtures: a scrubbed environment, one venv per session copied per test, wheels.

Creating a venv costs seconds on a 2-core machine, so one is made per session (with pip;
under pytest-xdist, once per worker: each worker has its own base temp dir) and each test
that needs one gets a copy. pip's configuration from the machine never leaks in: every test
runs with PIP_CONFIG_FILE=/dev/null and no PIP_* variables; HOME and the XDG folders point at
empty folders, so a test that points PIP_CONFIG_FILE at a file of its own still sees no user
or XDG-global pip.conf (pip reads /etc/pip.conf whatever the environment says; pipkit's own
reader is pointed away from it); and pipkit's cache and data folders point into the temp dir.
The same scrubbing applies from the session's start, so module and session fixtures that
run pip or pipkit see it too.

``CI`` set (as ``.ci/run`` runs) turns "not on this machine" skips into failures: there, what
the tests need has been installed (see :func:`require`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.wheelmaker import make_wheel

ROOT = Path(__file__).resolve().parent.parent


def _scrub(monkeypatch: pytest.MonkeyPatch, base: Path) -> None:
    for key in list(os.environ):
        if key.startswith("PIP_") or key in ("VIRTUAL_ENV", "PIPKIT_PYTHON", "PYTHONPATH"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    monkeypatch.setenv("PIP_NO_INPUT", "1")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    # Where pip and pipkit look for user and global pip.conf files: empty folders.
    monkeypatch.setenv("HOME", str(base / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(base / "xdg-config"))
    monkeypatch.setenv("XDG_CONFIG_DIRS", str(base / "xdg-config-dirs"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(base / "xdg-cache"))
    from pipkit.env import pipconfig

    monkeypatch.setattr(pipconfig, "_SYSTEM_CONFIG_DIR", str(base / "etc"))
    monkeypatch.setenv("PIPKIT_CACHE_DIR", str(base / "pipkit-cache"))
    monkeypatch.setenv("UV_CACHE_DIR", str(base / "uv-cache"))  # never the user's uv cache
    for key in list(os.environ):
        if (key.startswith("UV_") and key != "UV_CACHE_DIR") or key == "PIPKIT_INSTALLER":
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(base / "xdg-data"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture(scope="session", autouse=True)
def _hermetic_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The scrubbed environment from the start: session and module fixtures run in it."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        _scrub(monkeypatch, tmp_path_factory.getbasetemp())
        yield


@pytest.fixture(autouse=True)
def _hermetic(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    # Again per test: whatever an earlier test changed by hand is put back.
    _scrub(monkeypatch, tmp_path_factory.getbasetemp())


def require(present: bool, what: str) -> None:
    """Skip a test that needs ``what`` when it is missing here; under CI (``CI`` set), fail:
    ``.ci/run`` installs everything the tests need, so a missing tool there is a failure."""
    if present:
        return
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required under CI")
    pytest.skip(f"{what} not available on this machine")


def wait_until(
    predicate: Callable[[], object], what: str, *, timeout: float = 120, interval: float = 0.005
) -> None:
    """Poll ``predicate`` until it is true: how a test waits for another process's event.

    The deadline is generous (a loaded 2-core machine is slow, never wrong); on expiry the test
    fails naming ``what`` it waited for.
    """
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {timeout:g} s waiting for {what}")
        time.sleep(interval)


@pytest.fixture(params=["pip", "uv"])
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each installer engine in turn (``PIPKIT_INSTALLER``): a test taking it runs twice."""
    monkeypatch.setenv("PIPKIT_INSTALLER", request.param)
    return str(request.param)


@pytest.fixture(scope="session")
def template_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One venv with pip, made once per session; tests get copies (``venv``)."""
    path = tmp_path_factory.mktemp("template") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    return path


def copy_venv(template: Path, dest: Path) -> Path:
    shutil.copytree(template, dest, symlinks=True)
    cfg = dest / "pyvenv.cfg"
    # pyvenv.cfg may name the folder it was made in; the copy must not point back at it.
    cfg.write_text(cfg.read_text().replace(str(template), str(dest)))
    return dest


@pytest.fixture
def venv(template_venv: Path, tmp_path: Path) -> Path:
    """A fresh, throwaway venv (a copy of the session's template)."""
    return copy_venv(template_venv, tmp_path / "venv")


def venv_python(venv: Path) -> str:
    return str(venv / "bin" / "python")


def site_packages(venv: Path) -> Path:
    """The venv's site-packages folder (its purelib)."""
    return next((venv / "lib").glob("python*/site-packages"))


def fake_editable(
    site: Path, name: str, version: str, project_url: str, *, record: bool = True
) -> Path:
    """A PEP 660 editable install's dist-info, written by hand as a backend leaves it."""
    info = site / f"{name}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n")
    if record:
        (info / "RECORD").write_text("")
    (info / "direct_url.json").write_text(
        json.dumps({"url": project_url, "dir_info": {"editable": True}})
    )
    return info


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of small wheels, used as a --find-links index with --no-index."""
    folder = tmp_path_factory.mktemp("wheelhouse")
    for version in ("1.0", "2.0"):
        make_wheel(folder, "alpha", version)
        make_wheel(folder, "beta", version, requires=["alpha>=1.0"])
    make_wheel(folder, "gamma", "1.0", requires=["beta"])
    make_wheel(folder, "Odd.Name_pkg", "1.0", module="odd_name_pkg")
    make_wheel(folder, "epoch", "1!2.0")
    make_wheel(folder, "localv", "1.0+local.7")
    return folder


def pip_install(venv: Path, *args: str, wheelhouse: Path | None = None) -> None:
    """Install with the venv's own pip, offline from ``wheelhouse``."""
    cmd = [venv_python(venv), "-m", "pip", "install", "-q", "--no-index"]
    if wheelhouse is not None:
        cmd += ["--find-links", str(wheelhouse)]
    subprocess.run([*cmd, *args], check=True)


def pip_freeze(venv: Path, *args: str) -> str:
    return subprocess.run(
        [venv_python(venv), "-m", "pip", "freeze", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


@pytest.fixture
def run_pipkit() -> Iterator[object]:
    """Invoke the CLI in-process through typer's CliRunner: ``run_pipkit(args) -> Result``."""
    from typer.testing import CliRunner

    from pipkit.cli import app

    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
        return runner.invoke(app, list(args), input=input, catch_exceptions=False)

    yield invoke


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make pipkit believe a person sits at stdin, so it asks (CliRunner's stdin is a pipe)."""
    monkeypatch.setattr("pipkit.cli._terminal", lambda: True)

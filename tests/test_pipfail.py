"""pip's failures as one pipkit line: the package, the cause, and where pip's output went.

Real pip (the test venv's own) against a find-links folder of tiny wheels; the environment
must be unchanged after each refusal.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import pip_freeze
from tests.wheelmaker import make_wheel


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("failwheels")
    make_wheel(folder, "requests", "2.31.0")
    for version in ("1.0", "2.0"):
        make_wheel(folder, "alpha", version)
    make_wheel(folder, "beta", "2.0", requires=["alpha>=2.0"])
    for minor in range(12):
        make_wheel(folder, "many", f"0.{minor}")
    return folder


def _pipkit(venv: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipkit", "--python", str(venv), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
    )


def _install(venv: Path, wheels: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    options = ["--", "--no-index", "--find-links", str(wheels)]
    return _pipkit(venv, cwd, *args, *options)


LOG = re.compile(r"pip's output is in (\S+\.log)\n$")


def _one_line(result: subprocess.CompletedProcess[str]) -> tuple[str, Path]:
    """The error line without its log path, and the log file it names."""
    assert result.returncode == 1, result.stderr
    # The failure is one line, the last; a sync says its target and plan before it.
    lines = result.stderr.splitlines(keepends=True)
    assert [line for line in lines if line.startswith("pipkit: error:")] == lines[-1:], (
        result.stderr
    )
    assert "Traceback" not in result.stderr
    match = LOG.search(lines[-1])
    assert match, result.stderr
    return lines[-1][: match.start()], Path(match.group(1))


@pytest.mark.parametrize(
    ("requirements", "line"),
    [
        (
            ["reqeusts"],
            "pipkit: error: reqeusts: not found on {wheels} (did you mean requests?); "
            "nothing was changed, ",
        ),
        (
            ["alpha==9.0"],
            "pipkit: error: alpha==9.0: no such version (nearest: 2.0, 1.0); nothing was changed, ",
        ),
        (
            ["many==5"],
            "pipkit: error: many==5: no such version (nearest: 0.11, 0.10, 0.9, 0.8, 0.7); "
            "nothing was changed, ",
        ),
        (
            ["alpha==1.0", "beta==2.0"],
            "pipkit: error: conflicting requirements: alpha==1.0 (requested) and alpha>=2.0 "
            "(required by beta 2.0); nothing was changed, ",
        ),
    ],
)
def test_install_failure_is_one_line(
    venv: Path, wheels: Path, tmp_path: Path, requirements: list[str], line: str
) -> None:
    before = pip_freeze(venv, "--all")
    text, log = _one_line(_install(venv, wheels, tmp_path, "install", *requirements))
    assert text == line.format(wheels=wheels)
    assert log.parent == Path(os.environ["PIPKIT_CACHE_DIR"]) / "logs"
    assert "ERROR:" in log.read_text()  # pip's own words are kept, in full
    assert pip_freeze(venv, "--all") == before


def test_verbose_shows_pips_output_first(venv: Path, wheels: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pipkit", "-v", "--python", str(venv), "install", "many==5"),
            *("--", "--no-index", "--find-links", str(wheels)),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert (
        "ERROR: Could not find a version that satisfies the requirement many==5 (from "
        "versions: 0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.10, 0.11)" in result.stderr
    )
    assert result.stderr.splitlines()[-1].startswith("pipkit: error: many==5: no such version")


def test_sync_failure_names_the_lock_line(venv: Path, wheels: Path, tmp_path: Path) -> None:
    lock = tmp_path / "requirements.txt"
    lock.write_text(f"--no-index\n--find-links {wheels}\n\nalpha==1.0\nmany==0.99\n")
    before = pip_freeze(venv, "--all")
    result = _pipkit(venv, tmp_path, "sync", "requirements.txt", "--yes", "--json")
    text, _log = _one_line(result)
    assert text == (
        "pipkit: error: requirements.txt:5: many==0.99: no such version "
        "(nearest: 0.11, 0.10, 0.9, 0.8, 0.7); the environment was left as it was, "
    )
    assert pip_freeze(venv, "--all") == before

"""The probe runs under any Python >= 3.6, so read-only commands work on old targets."""

from __future__ import annotations

import ast
import glob
import json
import os
import shutil
import subprocess
from pathlib import Path

import pipkit.env.probe as probe_module
from tests.conftest import require

SOURCE = Path(probe_module.__file__).read_text()


def test_probe_source_is_python_3_6_syntax() -> None:
    tree = ast.parse(SOURCE, feature_version=(3, 6))
    futures = [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "__future__"
        for alias in node.names
    ]
    assert "annotations" not in futures  # a SyntaxError before Python 3.7


def _old_pythons() -> list[str]:
    """Python 3.6/3.7 interpreters on this machine (pyenv or PATH), if any."""
    # PYENV_ROOT first: the suite points HOME at an empty folder (tests/conftest.py).
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    found = sorted(glob.glob(str(pyenv / "versions/3.[67].*/bin/python")))
    found += [shutil.which(name) or "" for name in ("python3.6", "python3.7")]
    # A pyenv shim exists even when that version is not installed: keep those that run.
    return [path for path in found if path and subprocess.run([path, "-c", ""]).returncode == 0]


def test_probe_runs_under_an_old_python(tmp_path: Path) -> None:
    olds = _old_pythons()
    require(bool(olds), "Python 3.6 or 3.7 (pyenv)")
    result = subprocess.run([olds[0], "-c", SOURCE], capture_output=True, text=True, check=True)
    answer = json.loads(result.stdout)
    assert answer["version"][:2] in ([3, 6], [3, 7])
    assert answer["marker_env"]["python_version"] in ("3.6", "3.7")


def test_read_only_commands_on_an_old_target(tmp_path: Path) -> None:
    olds = _old_pythons()
    require(bool(olds), "Python 3.6 or 3.7 (pyenv)")
    import sys

    old_venv = tmp_path / "old"
    subprocess.run([olds[0], "-m", "venv", "--without-pip", str(old_venv)], check=True)
    site = next((old_venv / "lib").glob("python*/site-packages"))
    info = site / "alpha-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: alpha\nVersion: 1.0\n\n")
    (info / "RECORD").write_text("")
    (info / "INSTALLER").write_text("pip\n")
    run = [sys.executable, "-m", "pipkit", "--python", str(old_venv)]
    freeze = subprocess.run([*run, "freeze"], capture_output=True, text=True, cwd=tmp_path)
    assert (freeze.returncode, freeze.stdout) == (0, "alpha==1.0\n"), freeze.stderr
    listing = subprocess.run([*run, "list"], capture_output=True, text=True, cwd=tmp_path)
    assert listing.returncode == 0 and "alpha   1.0" in listing.stdout, listing.stderr
    (tmp_path / "requirements.txt").write_text("alpha==1.0\n")
    check = subprocess.run([*run, "check"], capture_output=True, text=True, cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr

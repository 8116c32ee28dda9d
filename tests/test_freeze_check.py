"""`freeze -o FILE` then `check FILE` is in sync, for every env freeze can describe: wheels,
a PEP 660 editable without VCS, and a `setup.py develop` egg-link."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import fake_editable, pip_install, site_packages


def _pipkit(venv: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipkit", "--python", str(venv), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
    )


def test_freeze_then_check_is_in_sync(venv: Path, wheelhouse: Path, tmp_path: Path) -> None:
    pip_install(venv, "gamma", "Odd.Name_pkg", "epoch", "localv", wheelhouse=wheelhouse)
    site = site_packages(venv)
    # PEP 660: a dist-info whose direct_url.json says editable, no VCS in the project.
    project = tmp_path / "proj660"
    project.mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "proj660"\nversion = "0.1"\n')
    fake_editable(site, "proj660", "0.1", project.as_uri())
    # setup.py develop: an egg-link naming the project folder, which holds the egg-info.
    legacy = tmp_path / "legacy"
    info = legacy / "legacy.egg-info"
    info.mkdir(parents=True)
    (legacy / "setup.py").write_text("from setuptools import setup\nsetup(name='legacy')\n")
    (info / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: legacy\nVersion: 0.3\n")
    (site / "legacy.egg-link").write_text(f"{legacy}\n.\n")
    (site / "easy-install.pth").write_text(f"{legacy}\n")

    frozen = _pipkit(venv, tmp_path, "freeze", "-o", "frozen.txt")
    assert frozen.returncode == 0, frozen.stderr
    text = (tmp_path / "frozen.txt").read_text()
    assert "-e " in text and "legacy" in text, text
    check = _pipkit(venv, tmp_path, "check", "frozen.txt")
    assert (check.returncode, check.stdout) == (0, "frozen.txt vs venv: in sync\n"), (
        check.stdout + check.stderr
    )

"""The project keeps its own promises: pinned requirements in step, typed, linted."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from pipkit.core.lockfile import read_lock

ROOT = Path(__file__).resolve().parent.parent


def test_requirements_txt_pins_satisfy_pyproject() -> None:
    """requirements.txt (pipkit's own lock) pins every runtime dependency, within its range."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lock = read_lock([ROOT / "requirements.txt"])
    pins = {entry.name: entry.pinned_version for entry in lock.entries}
    assert all(pins.values()), "every entry of requirements.txt is pinned"
    assert all(entry.hashes for entry in lock.entries), "and hashed"
    for line in project["dependencies"]:
        req = Requirement(line)
        name = req.name.lower()
        assert name in pins, f"{name} is missing from requirements.txt"
        assert req.specifier.contains(Version(str(pins[name])), prereleases=True), (
            f"requirements.txt pins {name}=={pins[name]}, outside {req.specifier}"
        )


@pytest.mark.parametrize("tool", ["ruff", "mypy"])
def test_code_is_clean(tool: str) -> None:
    exe = shutil.which(tool, path=str(Path(sys.executable).parent)) or shutil.which(tool)
    if exe is None:
        pytest.fail(f"{tool} is not installed (it is in the test extra)")
    argv = [exe, "check", "pipkit", "tests", "bench", "examples"] if tool == "ruff" else [exe]
    result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr

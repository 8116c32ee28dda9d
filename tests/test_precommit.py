"""The pre-commit hooks in ``.pre-commit-hooks.yaml``, run by ``pre-commit try-repo``.

pre-commit makes its own venv and pip-installs this checkout into it, with pipkit's
dependencies from the package index: marked ``network`` (the machine's pip configuration is
used for that install, not the tests' scrubbed one).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT


def test_the_hooks_file_names_both_hooks() -> None:
    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert hooks["pipkit-lock-check"]["entry"] == "pipkit lock --check"
    assert hooks["pipkit-check"]["entry"] == "pipkit check"
    for hook in hooks.values():
        assert hook["language"] == "python"
        assert hook["pass_filenames"] is False


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)


@pytest.mark.network
def test_try_repo_lock_check_fails_on_a_stale_lock(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    checkout = tmp_path / "checkout"
    # try-repo wants a git repository: a snapshot of this checkout's tracked files
    shutil.copytree(ROOT, checkout, ignore=shutil.ignore_patterns(".venv*", ".git", "__pycache__"))
    _git(checkout, "init", "-q")
    _git(checkout, "add", "-A")
    _git(checkout, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "snapshot")
    project = tmp_path / "project"
    project.mkdir()
    (project / "requirements.in").write_text("apple>=2\n")
    (project / "requirements.txt").write_text("apple==1.0\n")  # apple>=2 is not satisfied: stale
    _git(project, "init", "-q")
    _git(project, "add", "-A")
    env = {k: v for k, v in os.environ.items() if k != "PIP_CONFIG_FILE"}
    env["PRE_COMMIT_HOME"] = str(tmp_path / "pre-commit-home")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pre_commit",
            "try-repo",
            str(checkout),
            "pipkit-lock-check",
            "--all-files",
        ],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "pipkit lock --check (the lock is stale)" in result.stdout
    assert "Failed" in result.stdout

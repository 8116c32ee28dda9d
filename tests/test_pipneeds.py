"""A changing command on a target whose pip is too old for it (issue 11, item 16): one line,
exit 2, before pip runs, the environment unchanged.

pipkit plans install and upgrade with pip's ``--dry-run --report`` (pip 22.2). The target here
is a venv whose pip says it is 21.3 (its metadata folder's name and METADATA): the check reads
only that version (no pip 21.3 wheel is needed offline).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pipkit.core.pipneeds import DRY_RUN_REPORT, too_old
from tests.conftest import pip_freeze, site_packages


def test_the_rule() -> None:
    def line(have: str | None) -> str | None:
        return too_old(have, DRY_RUN_REPORT, prefix="/v", python="/v/bin/python", doing="pipkit x")

    assert line("22.2") is None and line("26.3.1") is None and line("23.0.dev0") is None
    assert line("22.1.2") == (
        "/v has pip 22.1.2; pipkit x needs pip >= 22.2 (upgrade it: /v/bin/python -m pip "
        "install -U pip)"
    )
    assert line("9.0.1") is not None and line("odd") is None  # unreadable: pip decides
    assert line(None) == (
        "/v has no pip; pipkit x needs pip >= 22.2 (install it: /v/bin/python -m ensurepip "
        "--upgrade)"
    )


@pytest.fixture
def old_pip(venv: Path) -> Path:
    (info,) = site_packages(venv).glob("pip-*.dist-info")
    metadata = info / "METADATA"
    text = metadata.read_text()
    metadata.write_text(re.sub(r"(?m)^Version: .*$", "Version: 21.3", text, count=1))
    info.rename(info.with_name("pip-21.3.dist-info"))  # pip reads the folder's name first
    return venv


@pytest.mark.parametrize(
    ("args", "doing"),
    [
        (["install", "alpha"], "install"),
        (["install", "--dry-run", "alpha"], "install"),
        (["upgrade", "alpha"], "upgrade"),
        (["upgrade", "--all", "--yes"], "upgrade"),
    ],
    ids=" ".join,
)
def test_install_and_upgrade_refuse_an_old_pip_in_one_line(
    old_pip: Path, wheelhouse: Path, run_pipkit: Any, args: list[str], doing: str
) -> None:
    before = pip_freeze(old_pip, "--all")
    result = run_pipkit(
        "--python", str(old_pip), *args, "--", "--no-index", "--find-links", str(wheelhouse)
    )
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"pipkit: error: {old_pip} has pip 21.3; pipkit {doing} needs pip >= 22.2 "
        f"(upgrade it: {old_pip}/bin/python -m pip install -U pip)\n"
    )
    assert pip_freeze(old_pip, "--all") == before


def test_sync_needs_nothing_newer(
    old_pip: Path, wheelhouse: Path, tmp_path: Path, run_pipkit: Any
) -> None:
    lock = tmp_path / "requirements.txt"
    lock.write_text(f"--no-index\n--find-links {wheelhouse}\nalpha==1.0\n")
    result = run_pipkit("--python", str(old_pip), "sync", str(lock), "--yes")
    assert result.exit_code == 0, result.stderr
    assert "alpha==1.0" in pip_freeze(old_pip)


def test_a_target_without_pip_says_how_to_get_it(tmp_path: Path, run_pipkit: Any) -> None:
    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    result = run_pipkit("--python", str(bare), "install", "alpha")
    assert result.exit_code == 2
    assert result.stderr == (
        f"pipkit: error: {bare} has no pip; pipkit install needs pip >= 22.2 "
        f"(install it: {bare}/bin/python -m ensurepip --upgrade)\n"
    )

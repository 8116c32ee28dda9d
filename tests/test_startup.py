"""The full CLI builds only the command a command line names (pipkit.cli.main): each command,
help, usage errors, sub-apps and completion still behave as when every command is built."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipkit.cli import invoked_command

# The console script's entry, with the fast path and kept answers off: the full CLI only.
ENTRY = "import sys\nfrom pipkit.cli import main\nsys.argv = ['pipkit', *sys.argv[1:]]\nmain()\n"


def pipkit(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["sync", "--yes"], "sync"),
        (["--python", "x", "-q", "lock", "-o", "y"], "lock"),
        (["--python=x", "--installer", "uv", "-v", "check"], "check"),
        (["--no-history", "history", "show", "3"], "history"),
        (["--help"], None),
        (["--version"], None),
        ([], None),
        (["--python"], None),
    ],
)
def test_the_command_a_command_line_names(argv: list[str], name: str | None) -> None:
    assert invoked_command(argv) == name


def test_one_command_built_still_reads_as_all_of_them(tmp_path: Path, venv: Path) -> None:
    root_help = pipkit("--help", cwd=tmp_path)
    assert root_help.returncode == 0
    for command in ("install", "sync", "check", "lock", "rollback", "history", "freeze"):
        assert f" {command} " in root_help.stdout, command
    typo = pipkit("instal", "requests", cwd=tmp_path)
    assert (typo.returncode, typo.stderr) == (
        2,
        "pipkit: error: no such command instal (did you mean install?)\n",
    )
    lock_help = pipkit("-q", "lock", "--help", cwd=tmp_path)
    assert lock_help.returncode == 0 and "Usage: pipkit lock" in lock_help.stdout
    history = pipkit("--python", str(venv), "history", cwd=tmp_path)
    assert history.returncode == 0, history.stderr
    assert "No history yet" in history.stdout + history.stderr
    freeze = pipkit("--python", str(venv), "freeze", cwd=tmp_path)
    direct = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "freeze"], capture_output=True, text=True
    )
    assert freeze.stdout == direct.stdout


def test_completion_still_sees_every_command(tmp_path: Path) -> None:
    done = pipkit(
        cwd=tmp_path,
        env={"_PIPKIT_COMPLETE": "complete_bash", "COMP_WORDS": "pipkit sy", "COMP_CWORD": "1"},
    )
    assert "sync" in done.stdout.split()

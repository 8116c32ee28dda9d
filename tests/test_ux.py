"""What a user sees when typing pipkit: one-line usage errors, help examples, small wording.

Run as real subprocesses where the exact stderr line matters, so what is checked is what a
terminal shows.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import pip_freeze


def _pipkit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipkit", *args], capture_output=True, text=True, cwd=cwd
    )


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["install", "requests", "--no-cache-dir"],
            "pipkit: error: no such option --no-cache-dir for install (pip's options go after "
            "--: pipkit install requests -- --no-cache-dir)",
        ),
        (["instal", "requests"], "pipkit: error: no such command instal (did you mean install?)"),
        (["zzzz"], "pipkit: error: no such command zzzz (see pipkit --help)"),
        (["history", "shw"], "pipkit: error: no such command shw (did you mean show?)"),
        (
            ["history", "show", "x"],
            "pipkit: error: history show: invalid value for 'ID': 'x' is not a valid int",
        ),
        (["history", "show"], "pipkit: error: history show: missing argument 'ID'"),
        (
            ["sync", "--dry-rn"],
            "pipkit: error: no such option --dry-rn for sync (did you mean --dry-run?)",
        ),
        (
            ["--pyton", "x", "list"],
            "pipkit: error: no such option --pyton (did you mean --python?)",
        ),
        (["uninstall"], "pipkit: error: uninstall: missing argument 'packages'"),
    ],
)
def test_usage_error_is_one_line_exit_2(tmp_path: Path, args: list[str], line: str) -> None:
    result = _pipkit(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr == line + "\n"
    assert result.stdout == ""


def test_empty_package_name_is_a_usage_error(tmp_path: Path, venv: Path) -> None:
    before = pip_freeze(venv, "--all")
    result = _pipkit("--python", str(venv), "install", "", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (
        "pipkit: error: empty package name: name a package, as in pipkit install requests\n"
    )
    assert pip_freeze(venv, "--all") == before


def _commands() -> list[list[str]]:
    from typer.main import get_command

    from pipkit.cli import app

    root = get_command(app)
    found: list[list[str]] = []

    def walk(command: object, path: list[str]) -> None:
        subcommands = getattr(command, "commands", None)
        if path:
            found.append(path)
        for name, sub in (subcommands or {}).items():
            walk(sub, [*path, name])

    walk(root, [])
    found.insert(0, [])  # pipkit --help itself
    return found


def test_every_command_help_has_an_example(run_pipkit) -> None:  # type: ignore[no-untyped-def]
    commands = _commands()
    assert ["install"] in commands and ["history", "prune"] in commands
    for path in commands:
        result = run_pipkit(*path, "--help")
        assert result.exit_code == 0, path
        assert "Example" in result.output, f"pipkit {' '.join(path)} --help has no example"

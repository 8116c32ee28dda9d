"""Bad input gets one clear line naming the file and line, the option or the package, exit 2.

Run as a real subprocess, so what is checked is exactly what a user sees on the terminal.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def _pipkit(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipkit", *args], capture_output=True, text=True, cwd=cwd
    )


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("alpha==1.0\ngamma[\n", "reqs.txt:2: invalid requirement 'gamma['"),
        ("alpha==1.0 ; python_version <<< '3'\n", "reqs.txt:1: invalid marker"),
        ("--no-such-option\n", "reqs.txt:1:"),
        ("-r missing-include.txt\n", "missing-include.txt"),
        ("alpha==1.0 \\\n  --hash=md5\n", "reqs.txt:1:"),
    ],
)
def test_malformed_lock_is_one_line_with_file_and_line(
    tmp_path: Path, venv: Path, content: str, expected: str
) -> None:
    (tmp_path / "reqs.txt").write_text(content)
    for command in ("check", "sync"):
        result = _pipkit(
            "--python",
            str(venv),
            command,
            "reqs.txt",
            "--yes" if command == "sync" else "--json",
            cwd=tmp_path,
        )
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert expected in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.stderr


def test_unknown_option_is_usage_error(tmp_path: Path) -> None:
    result = _pipkit("freeze", "--no-such-flag", cwd=tmp_path)
    assert result.returncode == 2
    assert "--no-such-flag" in result.stderr


def test_missing_lock_is_refused(tmp_path: Path, venv: Path) -> None:
    result = _pipkit("--python", str(venv), "sync", "nope.txt", "--yes", cwd=tmp_path)
    assert result.returncode == 2
    assert "nope.txt" in result.stderr and "Traceback" not in result.stderr

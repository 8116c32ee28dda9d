"""The reliability pass (issue 12): nothing outside the environment is touched, undo is byte
for byte, nothing on disk is trusted, and every failure is one line.

Each test checks what a user would: the outside file still there and byte-identical, the
env's whole tree (files, symlinks and empty folders) exactly as before, the history and the
store intact, the exit code and the one line on stderr.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_sync import base_venv, env, run_cli, site_packages, wheels

__all__ = ["base_venv", "env", "wheels"]  # fixtures, imported for pytest


def tree_state(root: Path, *, skip_state: bool = True) -> dict[str, str]:
    """Every entry under ``root``: file digests, symlink targets and folders (empty ones too).

    The pipkit state folder of a venv is left out when ``skip_state`` (the history changes).
    """
    state: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if skip_state and here == root:
            dirnames[:] = [d for d in dirnames if d != "pipkit"]
        for name in dirnames + filenames:
            path = here / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                state[rel] = "link:" + os.readlink(path)
            elif path.is_dir():
                state[rel] = "dir"
            else:
                state[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def diff_states(before: dict[str, str], after: dict[str, str]) -> tuple[list[str], ...]:
    added = sorted(set(after) - set(before))
    lost = sorted(set(before) - set(after))
    altered = sorted(k for k in before if k in after and before[k] != after[k])
    return added, lost, altered


def one_error_line(stderr: str) -> str:
    """The stderr of a refused command: exactly one ``pipkit: error:`` line, no traceback."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("pipkit: error:")]
    assert len(errors) == 1, stderr
    return errors[0]


# -- 6. one line, never a traceback ---------------------------------------------------------------


def test_show_files_with_a_non_utf8_record_is_one_line(env, tmp_path):  # type: ignore[no-untyped-def]
    record = next(site_packages(env).glob("gamma-1.0.dist-info")) / "RECORD"
    record.write_bytes(record.read_bytes() + b"gamma/\xff\xfe.py,,\n")
    result = run_cli("--python", str(env), "show", "gamma", "--files", cwd=tmp_path)
    assert result.returncode == 1
    line = one_error_line(result.stderr)
    assert "RECORD" in line and "gamma 1.0" in line


@pytest.mark.parametrize("kind", ["device", "fifo", "folder"])
def test_a_lock_that_is_not_a_regular_file_is_refused_at_once(env, tmp_path, kind):  # type: ignore[no-untyped-def]
    if kind == "device":
        path = Path(os.devnull.replace("null", "zero"))
    elif kind == "fifo":
        path = tmp_path / "requirements.txt"
        os.mkfifo(path)
    else:
        path = tmp_path / "locks"
        path.mkdir()
    for command in (["check", str(path)], ["sync", str(path), "--yes"]):
        # A FIFO nobody writes to would block a plain open() forever: the timeout says so.
        result = run_cli("--python", str(env), *command, cwd=tmp_path, timeout=60)
        assert result.returncode == 2, result.stderr
        line = one_error_line(result.stderr)
        assert str(path) in line


def test_an_oversized_lock_is_refused_unread(env, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    from pipkit import fsutil

    lock = tmp_path / "requirements.txt"
    lock.write_text("alpha==1.0\n" * 20)
    monkeypatch.setattr(fsutil, "MAX_INPUT_BYTES", 100)
    from pipkit.core.lockfile import read_lock
    from pipkit.errors import InputError

    with pytest.raises(InputError, match="larger than"):
        read_lock(lock)


def test_a_deeply_nested_pylock_is_one_line(env, tmp_path):  # type: ignore[no-untyped-def]
    lock = tmp_path / "pylock.toml"
    lock.write_text('lock-version = "1.0"\nx = ' + "[" * 50_000 + "]" * 50_000 + "\n")
    result = run_cli("--python", str(env), "check", str(lock), cwd=tmp_path)
    assert result.returncode == 2
    assert "nested too deeply" in one_error_line(result.stderr)


def test_ctrl_c_while_pipkit_imports_is_exit_130_without_traceback(tmp_path):  # type: ignore[no-untyped-def]
    # SIGINT arrives while pipkit.cli (typer, rich...) is being imported: deterministic, the
    # signal is sent from an import hook at that very moment.
    script = (
        "import builtins, os, signal, sys\n"
        "real = builtins.__import__\n"
        "def hook(name, *args, **kwargs):\n"
        "    if name == 'typer':\n"
        "        os.kill(os.getpid(), signal.SIGINT)\n"
        "    return real(name, *args, **kwargs)\n"
        "builtins.__import__ = hook\n"
        "sys.argv = ['pipkit', 'list']\n"
        "from pipkit.fastpath import main\n"
        "main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert result.returncode == 130
    assert result.stderr == "pipkit: interrupted\n"

"""Progress on long work (issue 11, item 9): pip's (and uv's) lines read as events, one event
per package reaching the use case's callback, and a rich bar on a terminal only.

The parser is fed real output: fixed lines pip 23.2 and uv print, and the output of a pip run
made here. The bar is looked for where a user sees it: absent from captured (non-terminal)
output, present under a pseudo-terminal.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pipkit.core.pipoutput import ProgressEvent, progress_event
from tests.conftest import pip_freeze, venv_python

# pip 23.2.1, `pip install --no-deps --no-index --find-links DIR -r req.txt` and a reinstall.
PIP_LINES = """\
Looking in links: /w
Processing /w/alpha-1.0-py3-none-any.whl (from -r /w/req.txt (line 1))
Collecting requests==2.31.0 (from -r /tmp/t/requirements.txt (line 3))
  Downloading requests-2.31.0-py3-none-any.whl (62 kB)
Collecting Odd.Name_pkg>=1 (from x)
  Using cached Odd.Name_pkg-1.0-py3-none-any.whl
Installing collected packages: gamma, beta, alpha
  Attempting uninstall: beta
    Found existing installation: beta 1.0
      Successfully uninstalled beta-1.0
Successfully installed alpha-1.0 beta-1.0 gamma-1.0
"""
# uv 0.x, `uv pip install --no-deps ...` (its summary lines on stderr).
UV_LINES = """\
Resolved 2 packages in 3ms
Prepared 2 packages in 5ms
Installed 2 packages in 4ms
 + alpha==1.0
 ~ beta==2.0
"""


def test_pip_and_uv_lines_as_events() -> None:
    events = [progress_event(line) for line in PIP_LINES.splitlines()]
    assert [e for e in events if e is not None] == [
        ProgressEvent("package", name="alpha"),
        ProgressEvent("package", name="requests"),
        ProgressEvent("download", name="requests"),
        ProgressEvent("package", name="Odd.Name_pkg"),
        ProgressEvent("installing"),
        ProgressEvent("done"),
    ]
    uv = [progress_event(line) for line in UV_LINES.splitlines()]
    assert [e for e in uv if e is not None] == [
        ProgressEvent("installing"),
        ProgressEvent("package", name="alpha"),
        ProgressEvent("package", name="beta"),
    ]


def test_a_real_pip_run_reads_as_one_event_per_package(venv: Path, wheelhouse: Path) -> None:
    wheels = [str(next(wheelhouse.glob(f"{n}-1.0-*.whl"))) for n in ("alpha", "beta", "gamma")]
    done = subprocess.run(
        [venv_python(venv), "-m", "pip", "install", "--no-deps", "--no-index", *wheels],
        capture_output=True,
        text=True,
        check=True,
    )
    events = [e for e in map(progress_event, done.stdout.splitlines()) if e is not None]
    assert sorted(e.name for e in events if e.kind == "package") == ["alpha", "beta", "gamma"]
    assert [e.kind for e in events][-2:] == ["installing", "done"]


def lock_of_three(folder: Path, wheelhouse: Path) -> Path:
    lock = folder / "requirements.txt"
    lock.write_text(f"--no-index\n--find-links {wheelhouse}\nalpha==1.0\nbeta==1.0\ngamma==1.0\n")
    return lock


def test_the_sync_callback_hears_each_package_once(
    venv: Path, wheelhouse: Path, tmp_path: Path, engine: str
) -> None:
    from pipkit.env.target import resolve_target
    from pipkit.ops.sync import load_lock, sync

    events: list[ProgressEvent] = []
    lock = load_lock([str(lock_of_three(tmp_path, wheelhouse))])
    result = sync(
        resolve_target(str(venv)),
        lock,
        yes=True,
        capture_pip=True,
        installer=engine,
        progress=events.append,
    )
    assert result.applied
    assert events[0] == ProgressEvent("start", total=3, what="installing")
    assert sorted(e.name for e in events if e.kind == "package") == ["alpha", "beta", "gamma"]
    assert events[-1] == ProgressEvent("done")
    assert "gamma==1.0" in pip_freeze(venv)


BAR = "━"  # rich's bar


def test_no_bar_when_not_on_a_terminal(
    venv: Path, wheelhouse: Path, tmp_path: Path, run_pipkit: Any
) -> None:
    lock = lock_of_three(tmp_path, wheelhouse)
    result = run_pipkit("--python", str(venv), "sync", str(lock), "--yes")
    assert result.exit_code == 0, result.stderr
    assert BAR not in result.output and "3/3" not in result.output
    assert result.stderr.splitlines()[-1] == "Installed 3 packages"


def run_in_pty(args: list[str], cwd: Path) -> tuple[int, str]:
    """Run pipkit with stdin, stdout and stderr on a pseudo-terminal; its exit code and all
    it wrote there."""
    master, slave = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, "-m", "pipkit", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=cwd,
        env={**os.environ, "TERM": "xterm"},
        close_fds=True,
    )
    os.close(slave)
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every writer is gone
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return child.wait(timeout=300), b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.parametrize("command", [["sync", "LOCK", "--yes"], ["rollback", "--yes"]])
def test_a_bar_on_a_terminal(
    venv: Path, wheelhouse: Path, tmp_path: Path, command: list[str]
) -> None:
    lock = lock_of_three(tmp_path, wheelhouse)
    py = ["--python", str(venv)]
    if command[0] == "rollback":  # sync, remove all three, then roll that back: 3 restored
        code, _ = run_in_pty([*py, "sync", str(lock), "--yes"], tmp_path)
        assert code == 0
        empty = tmp_path / "empty.txt"
        empty.write_text("")
        code, _ = run_in_pty([*py, "sync", str(empty), "--yes", "--allow-empty"], tmp_path)
        assert code == 0 and "alpha" not in pip_freeze(venv)
    code, output = run_in_pty([*py, *[str(lock) if a == "LOCK" else a for a in command]], tmp_path)
    assert code == 0, output
    assert BAR in output and "3/3" in output, output
    word = "restoring" if command[0] == "rollback" else "installing"
    assert word in output
    assert "gamma==1.0" in pip_freeze(venv)


@pytest.mark.parametrize("quiet", [["-q"], ["--json"]], ids=" ".join)
def test_no_bar_under_quiet_or_json_even_on_a_terminal(
    venv: Path, wheelhouse: Path, tmp_path: Path, quiet: list[str]
) -> None:
    lock = lock_of_three(tmp_path, wheelhouse)
    py = ["--python", str(venv)]
    args = (
        [*quiet, *py, "sync", str(lock), "--yes"]
        if quiet == ["-q"]
        else [*py, "sync", str(lock), "--yes", *quiet]
    )
    code, output = run_in_pty(args, tmp_path)
    assert code == 0, output
    assert BAR not in output and "3/3" not in output, output
    assert "gamma==1.0" in pip_freeze(venv)
    if quiet == ["-q"]:
        assert output == ""  # -q: errors only

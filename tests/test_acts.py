"""What a user sees: pipkit acts only where it is told, asks the same way everywhere, and
says what it did (issue 11, items 1 to 9).

Every test drives the CLI and asserts the exact line, the exit code and, where nothing may
change, that the environment is unchanged.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, pip_freeze, pip_install, venv_python

NO_ENV = (
    "pipkit: error: no virtual environment found (looked for .venv in {cwd} and its "
    "parents): create one with python -m venv .venv, or pass --python"
)


def _offline(wheelhouse: Path) -> list[str]:
    return ["--", "--no-index", "--find-links", str(wheelhouse)]


# -- 1. no silent fallback ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["install", "alpha"],
        ["uninstall", "alpha", "--yes"],
        ["upgrade", "--all"],
        ["sync", "--yes"],
        ["sync", "--dry-run"],
        ["rollback", "--yes"],
        ["recover", "--yes"],
        ["demo", "--yes"],
    ],
)
def test_a_change_with_no_environment_is_refused(run_pipkit, tmp_path, monkeypatch, args):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "requirements.txt").write_text("alpha==1.0\n")
    result = run_pipkit(*args)
    assert result.exit_code == 2
    assert result.stderr == NO_ENV.format(cwd=tmp_path) + "\n"


def test_install_finds_the_dotvenv_of_a_parent_folder_and_names_it(
    run_pipkit, venv, wheelhouse, tmp_path, monkeypatch
):  # type: ignore[no-untyped-def]
    project = tmp_path / "project"
    (project / "src").mkdir(parents=True)
    (project / ".venv").symlink_to(venv)
    monkeypatch.chdir(project / "src")
    result = run_pipkit("install", "alpha==1.0", *_offline(wheelhouse))
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0] == f"target: {project / '.venv'}"
    assert pip_freeze(venv) == "alpha==1.0\n"


def test_a_read_with_no_environment_reads_pipkits_own_and_says_so(
    run_pipkit, tmp_path, monkeypatch
):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    result = run_pipkit("list", "--json")
    assert result.exit_code == 0
    assert result.stderr == (
        "pipkit: note: no virtual environment found (no --python, $PIPKIT_PYTHON, $VIRTUAL_ENV "
        f"or .venv): reading pipkit's own interpreter {sys.executable}\n"
    )
    assert any(row["name"] == "typer" for row in json.loads(result.stdout))


# -- 3. one prompt rule -------------------------------------------------------------------------


def test_no_terminal_and_no_yes_refuses_at_once(run_pipkit, venv, wheelhouse, tmp_path):  # type: ignore[no-untyped-def]
    pip_install(venv, "alpha==1.0", wheelhouse=wheelhouse)
    result = run_pipkit("--python", str(venv), "uninstall", "alpha")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == "pipkit: error: no terminal to confirm: pass --yes"
    assert "[Y/n]" not in result.output
    lock = tmp_path / "requirements.txt"
    lock.write_text("beta==1.0\n")
    result = run_pipkit("--python", str(venv), "sync", str(lock), "--", "--no-index")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == "pipkit: error: no terminal to confirm: pass --yes"
    assert pip_freeze(venv) == "alpha==1.0\n"


def test_answering_no_changes_nothing(run_pipkit, venv, wheelhouse, terminal):  # type: ignore[no-untyped-def]
    pip_install(venv, "alpha==1.0", wheelhouse=wheelhouse)
    result = run_pipkit("--python", str(venv), "uninstall", "alpha", input="n\n")
    assert result.exit_code == 1
    # (a terminal would echo the "n" and its newline after the question)
    assert result.stderr.endswith("Remove alpha 1.0? [Y/n]: pipkit: nothing changed\n")
    assert pip_freeze(venv) == "alpha==1.0\n"


def test_ctrl_c_at_the_prompt_exits_130(venv, wheelhouse, tmp_path):  # type: ignore[no-untyped-def]
    """A real terminal (a pty) on stdin, a real SIGINT while pipkit waits for the answer."""
    pip_install(venv, "alpha==1.0", wheelhouse=wheelhouse)
    leader, follower = os.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipkit", "--python", str(venv), "uninstall", "alpha"],
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    os.close(follower)
    try:
        assert proc.stderr is not None
        seen = b""
        while b"[Y/n]" not in seen:  # blocks until pipkit asks; no sleep
            ready, _, _ = select.select([proc.stderr], [], [], 60)
            assert ready, f"pipkit never asked: {seen!r}"
            chunk = os.read(proc.stderr.fileno(), 4096)
            assert chunk, f"pipkit exited before asking: {seen!r}"
            seen += chunk
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        os.close(leader)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert (seen + err).decode().rstrip().endswith("pipkit: interrupted: nothing changed")
    assert pip_freeze(venv) == "alpha==1.0\n"


# -- 7. the whole command line in the history ---------------------------------------------------


def test_history_records_the_whole_command_line(run_pipkit, venv, wheelhouse):  # type: ignore[no-untyped-def]
    args = ["--python", str(venv), "install", "alpha==1.0", *_offline(wheelhouse)]
    assert run_pipkit(*args).exit_code == 0
    assert run_pipkit("--python", str(venv), "uninstall", "alpha", "--yes").exit_code == 0
    history = json.loads(run_pipkit("--python", str(venv), "history", "--json").stdout)
    commands = [item["command"] for item in history if not item["outside"]]
    assert commands == [
        "pipkit " + " ".join(args),
        f"pipkit --python {venv} uninstall alpha --yes",
    ]


# -- 4. --dry-run on install, upgrade, uninstall ------------------------------------------------


def _history_len(run_pipkit, venv: Path) -> int:  # type: ignore[no-untyped-def]
    result = run_pipkit("--python", str(venv), "history", "--json")
    return len([e for e in json.loads(result.stdout) if not e["outside"]])


def test_dry_runs_print_the_plan_and_change_nothing(run_pipkit, venv, wheelhouse):  # type: ignore[no-untyped-def]
    result = run_pipkit(
        "--python", str(venv), "install", "beta==1.0", "--dry-run", *_offline(wheelhouse)
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == "+ alpha 2.0\n+ beta 1.0\n"
    assert pip_freeze(venv) == ""
    pip_install(venv, "alpha==1.0", wheelhouse=wheelhouse)
    result = run_pipkit(
        "--python", str(venv), "upgrade", "alpha", "--dry-run", *_offline(wheelhouse)
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == "~ alpha 1.0 -> 2.0\n"
    result = run_pipkit("--python", str(venv), "uninstall", "alpha", "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.stdout == "- alpha 1.0\n"
    assert pip_freeze(venv) == "alpha==1.0\n"
    assert _history_len(run_pipkit, venv) == 0


# -- 6. every change prints its plan; -q and -v ---------------------------------------------------


def test_install_prints_its_plan_and_summary_and_hides_pip(run_pipkit, venv, wheelhouse):  # type: ignore[no-untyped-def]
    pip_install(venv, "alpha==1.0", wheelhouse=wheelhouse)
    result = run_pipkit(
        "--python", str(venv), "install", "beta==1.0", "alpha==2.0", *_offline(wheelhouse)
    )
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        f"target: {venv}\n+ beta 1.0\n~ alpha 1.0 -> 2.0\nInstalled 1 package, changed 1\n"
    )
    assert result.stdout == ""  # pip's own output was captured: it succeeded


def test_quiet_prints_nothing_and_verbose_shows_pip(run_pipkit, venv, wheelhouse, capfd):  # type: ignore[no-untyped-def]
    result = run_pipkit("-q", "--python", str(venv), "install", "alpha==1.0", *_offline(wheelhouse))
    assert result.exit_code == 0, result.output
    assert result.output == ""
    result = run_pipkit("-q", "--python", str(venv), "uninstall", "alpha", "--yes")
    assert (result.exit_code, result.output) == (0, "")
    assert pip_freeze(venv) == ""
    assert "Successfully installed" not in capfd.readouterr().out  # not even on the real fd 1
    result = run_pipkit("-v", "--python", str(venv), "install", "alpha==1.0", *_offline(wheelhouse))
    assert result.exit_code == 0, result.output
    # pip streams to the terminal itself (file descriptor 1), as it would with pip install.
    assert "Successfully installed alpha-1.0" in capfd.readouterr().out


def test_sync_with_yes_prints_every_line_then_the_summary(run_pipkit, venv, wheelhouse, tmp_path):  # type: ignore[no-untyped-def]
    pip_install(venv, "alpha==1.0", "gamma==1.0", wheelhouse=wheelhouse)  # gamma brings beta 2.0
    lock = tmp_path / "requirements.txt"
    lock.write_text(f"--no-index\n--find-links {wheelhouse}\nalpha==2.0\nbeta==2.0\nepoch==1!2.0\n")
    result = run_pipkit("--python", str(venv), "sync", str(lock), "--yes")
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert lines[0] == f"target: {venv}"
    assert lines[1] == f"{lock} -> {venv}:"
    assert lines[2:5] == ["+ epoch 1!2.0", "~ alpha 1.0 -> 2.0", "- gamma 1.0"]
    assert lines[-1] == "Installed 1 package, changed 1, removed 1"
    assert result.stdout == ""


# -- 5. rollback --dry-run tells the truth --------------------------------------------------------


def test_rollback_to_a_broken_state_is_named_and_refused_unless_forced(
    run_pipkit, venv, wheelhouse
):  # type: ignore[no-untyped-def]
    py = ["--python", str(venv)]
    assert run_pipkit(*py, "install", "beta==1.0", *_offline(wheelhouse)).exit_code == 0
    # alpha removed behind pipkit's back: beta 1.0 now lacks its alpha>=1.0.
    subprocess.run([venv_python(venv), "-m", "pip", "uninstall", "-q", "-y", "alpha"], check=True)
    assert run_pipkit(*py, "install", "alpha==2.0", *_offline(wheelhouse)).exit_code == 0
    history = json.loads(run_pipkit(*py, "history", "--json").stdout)
    broken = next(e["id"] for e in history if e["outside"] and e["removed"] == 1)
    line = (
        f"pipkit: error: cannot roll back to the state right after entry {broken} "
        "(outside pipkit): it is itself broken: beta 1.0 -> alpha>=1.0 (missing); "
        "pass --force to go there anyway"
    )
    dry = run_pipkit(*py, "rollback", str(broken), "--dry-run")
    assert dry.exit_code == 1
    assert "- alpha 2.0" in dry.stdout.splitlines()
    assert dry.stderr.splitlines()[-1] == line
    real = run_pipkit(*py, "rollback", str(broken), "--yes")
    assert (real.exit_code, real.stderr.splitlines()[-1]) == (1, line)
    assert pip_freeze(venv) == "alpha==2.0\nbeta==1.0\n"
    forced = run_pipkit(*py, "rollback", str(broken), "--yes", "--force")
    assert forced.exit_code == 0, forced.output
    assert pip_freeze(venv) == "beta==1.0\n"

"""Kept answers (pipkit/env/answers.py): a repeated check, no-op sync, freeze or list is replayed
byte for byte from what the full CLI printed, and never once anything it read has changed.

Each run is the console script's entry (``pipkit.fastpath.main``) in a subprocess. A run says on
its last stderr line whether it was a replay: a replay imports nothing of pipkit's beyond the
fast path and the answers module (no target probe, no renderer).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import fake_editable, pip_install, site_packages

ENTRY = (
    "import json, sys\n"
    "from pipkit.fastpath import main\n"
    "sys.argv = ['pipkit', *sys.argv[1:]]\n"
    "try:\n"
    "    main()\n"
    "finally:\n"
    "    replayed = 'pipkit.env.target' not in sys.modules and 'pipkit.render' not in sys.modules\n"
    "    sys.stderr.write('\\nREPLAYED ' + json.dumps(replayed))\n"
)


class Run:
    def __init__(self, done: subprocess.CompletedProcess[str]) -> None:
        self.code = done.returncode
        self.stdout = done.stdout
        self.stderr, _, flag = done.stderr.rpartition("\nREPLAYED ")
        self.replayed: bool = json.loads(flag)

    @property
    def said(self) -> tuple[int, str, str]:
        return self.code, self.stdout, self.stderr


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Run:
    done = subprocess.run(
        [sys.executable, "-c", ENTRY, *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    return Run(done)


def full(*args: str, cwd: Path) -> tuple[int, str, str]:
    """The full typer CLI's answer, for comparison."""
    return run(*args, cwd=cwd, env={"PIPKIT_NO_FASTPATH": "1"}).said


@pytest.fixture
def project(venv: Path, wheelhouse: Path, tmp_path: Path) -> Path:
    pip_install(venv, "alpha==1.0", "beta==1.0", wheelhouse=wheelhouse)
    work = tmp_path / "work"
    work.mkdir()
    (work / "requirements.txt").write_text("alpha==1.0\nbeta==1.0\n")
    return work


FORMS = [["check"], ["check", "--json"], ["sync", "--yes"], ["freeze"], ["list", "--json"]]


@pytest.mark.parametrize("form", FORMS, ids=" ".join)
def test_a_repeated_command_is_replayed_byte_for_byte(
    venv: Path, project: Path, form: list[str]
) -> None:
    py = ["--python", str(venv)]
    first = run(*py, *form, cwd=project)
    again = run(*py, *form, cwd=project)
    assert (first.replayed, again.replayed) == (False, True)
    assert again.said == first.said == full(*py, *form, cwd=project)
    assert again.code == 0 and (again.stdout or again.stderr)


def test_a_changed_lock_is_never_answered_from_the_old_run(venv: Path, project: Path) -> None:
    py = ["--python", str(venv)]
    run(*py, "check", cwd=project)
    assert run(*py, "check", cwd=project).replayed
    (project / "requirements.txt").write_text("alpha==1.0\nbeta==2.0\n")
    drift = run(*py, "check", cwd=project)
    assert not drift.replayed
    assert drift.code == 1 and "beta" in drift.stdout + drift.stderr
    assert drift.said == full(*py, "check", cwd=project)
    # A drift answer exits 1: it is not kept.
    assert not run(*py, "check", cwd=project).replayed


def test_an_install_into_the_target_is_seen(venv: Path, project: Path, wheelhouse: Path) -> None:
    py = ["--python", str(venv)]
    run(*py, "freeze", cwd=project)
    assert "gamma" not in run(*py, "freeze", cwd=project).stdout
    pip_install(venv, "gamma==1.0", wheelhouse=wheelhouse)
    after = run(*py, "freeze", cwd=project)
    assert not after.replayed and "gamma==1.0" in after.stdout.splitlines()


def test_a_sync_that_changed_something_is_not_replayed(
    venv: Path, project: Path, wheelhouse: Path
) -> None:
    py = ["--python", str(venv)]
    (project / "requirements.txt").write_text(
        f"--no-index\n--find-links {wheelhouse}\nalpha==1.0\nbeta==2.0\n"
    )
    changed = run(*py, "sync", "--yes", cwd=project)
    assert changed.code == 0 and "beta" in changed.stdout + changed.stderr
    second = run(*py, "sync", "--yes", cwd=project)
    assert not second.replayed  # what the change printed is never said again
    assert "already matches" in second.stdout + second.stderr
    third = run(*py, "sync", "--yes", cwd=project)
    assert third.replayed and third.said == second.said


def test_a_pending_journal_is_never_hidden(venv: Path, project: Path) -> None:
    py = ["--python", str(venv)]
    run(*py, "check", cwd=project)
    journal = venv / "pipkit" / "transaction" / "journal.json"
    journal.parent.mkdir(parents=True, exist_ok=True)
    journal.write_text(json.dumps({"phase": "installing"}))
    after = run(*py, "check", cwd=project)
    assert not after.replayed
    assert after.said == full(*py, "check", cwd=project)


def test_the_environment_and_a_nearer_venv_are_part_of_the_answer(
    venv: Path, project: Path, template_venv: Path
) -> None:
    # No --python: the .venv found from the working folder up is the target.
    (project / ".venv").symlink_to(venv, target_is_directory=True)
    sub = project / "sub"
    sub.mkdir()
    run("freeze", cwd=sub)
    assert run("freeze", cwd=sub).replayed
    assert "alpha==1.0" in run("freeze", cwd=sub).stdout
    # A .venv nearer the working folder now wins: the old answer is not given.
    (sub / ".venv").symlink_to(template_venv, target_is_directory=True)
    nearer = run("freeze", cwd=sub)
    assert not nearer.replayed and "alpha" not in nearer.stdout
    # A variable pipkit reads is part of the key.
    named = run("freeze", cwd=sub, env={"PIPKIT_PYTHON": str(venv)})
    assert not named.replayed and "alpha==1.0" in named.stdout


def test_locks_that_include_files_and_editables_are_never_kept(
    venv: Path, project: Path, tmp_path: Path
) -> None:
    py = ["--python", str(venv)]
    (project / "base.txt").write_text("alpha==1.0\n")
    (project / "requirements.txt").write_text("-r base.txt\nbeta==1.0\n")
    run(*py, "check", cwd=project)
    assert not run(*py, "check", cwd=project).replayed
    (project / "base.txt").write_text("alpha==2.0\n")
    assert run(*py, "check", cwd=project).code == 1  # the included file's change is seen
    # An editable's freeze line follows its checkout, which no stamp covers.
    fake_editable(site_packages(venv), "Edit_Me", "0.1", (tmp_path / "proj").as_uri())
    run(*py, "freeze", cwd=project)
    assert not run(*py, "freeze", cwd=project).replayed


def test_a_torn_answer_file_is_a_miss_not_an_error(venv: Path, project: Path) -> None:
    py = ["--python", str(venv)]
    first = run(*py, "list", "--json", cwd=project)
    folder = Path(os.environ["PIPKIT_CACHE_DIR"]) / "answers"
    for kept in folder.iterdir():
        kept.write_bytes(kept.read_bytes()[:40])
    torn = run(*py, "list", "--json", cwd=project)
    assert not torn.replayed and torn.said == first.said


def test_no_cache_turns_it_off(venv: Path, project: Path) -> None:
    py = ["--python", str(venv)]
    run(*py, "check", cwd=project)
    off = run(*py, "check", cwd=project, env={"PIPKIT_NO_CACHE": "1"})
    assert not off.replayed and off.code == 0


def test_a_configured_lock_is_part_of_the_answer(
    venv: Path, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # [tool.pipkit] lock names another file: an edit of that file (not of pyproject.toml or a
    # default lock) must be seen too.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(project / "xdg-config"))
    (project / "pyproject.toml").write_text('[tool.pipkit]\nlock = "dev.txt"\n')
    (project / "dev.txt").write_text("alpha==1.0\nbeta==1.0\n")
    py = ["--python", str(venv)]
    first = run(*py, "check", cwd=project)
    assert first.code == 0 and first.stdout.startswith("dev.txt vs ")
    assert run(*py, "check", cwd=project).replayed
    (project / "dev.txt").write_text("alpha==1.0\nbeta==2.0\n")
    drift = run(*py, "check", cwd=project)
    assert not drift.replayed and drift.code == 1
    assert drift.said == full(*py, "check", cwd=project)

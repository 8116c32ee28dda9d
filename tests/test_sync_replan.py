"""A sync plans again under the env mutex when the environment changed after its plan was
shown (pipkit.ops.sync.sync): what it undoes and reports is what was there when it ran."""

from __future__ import annotations

from pathlib import Path

from pipkit.env.target import resolve_target
from pipkit.ops.sync import SyncResult, load_lock, sync
from tests.conftest import pip_freeze, pip_install


def test_a_change_made_while_the_question_was_open_is_planned_again(
    venv: Path, wheelhouse: Path, tmp_path: Path
) -> None:
    lock = tmp_path / "requirements.txt"
    lock.write_text(f"--no-index\n--find-links {wheelhouse}\nalpha==1.0\n")
    target = resolve_target(str(venv))
    asked: list[SyncResult] = []

    def confirm(result: SyncResult) -> bool:
        asked.append(result)
        pip_install(venv, "alpha==2.0", wheelhouse=wheelhouse)  # someone else, meanwhile
        return True

    done = sync(target, load_lock([str(lock)]), confirm=confirm, capture_pip=True)
    assert [e.name for e in asked[0].plan.install] == ["alpha"]  # what the question showed
    assert [(c.name, c.installed.version) for c in done.plan.change] == [("alpha", "2.0")]
    assert done.applied
    assert "alpha==1.0" in pip_freeze(venv).splitlines()


def test_an_unchanged_environment_keeps_the_plan_it_showed(
    venv: Path, wheelhouse: Path, tmp_path: Path
) -> None:
    lock = tmp_path / "requirements.txt"
    lock.write_text(f"--no-index\n--find-links {wheelhouse}\nalpha==1.0\nbeta==1.0\n")
    target = resolve_target(str(venv))
    asked: list[SyncResult] = []
    done = sync(
        target,
        load_lock([str(lock)]),
        confirm=lambda result: asked.append(result) is None,
        capture_pip=True,
    )
    assert done.plan == asked[0].plan and done.applied
    assert {"alpha==1.0", "beta==1.0"} <= set(pip_freeze(venv).splitlines())

"""Behaviour that worked but nothing guarded: each test asserts what a user sees (the line,
the exit code) and what the environment is afterwards.

recover after pip finished on an env that drifted since; a duplicate dist-info during sync;
an undo that itself fails; the no-op cache never answering for locks with ``-r``, ``-c`` or
``${VAR}``; a PEP 668 target refused.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import site_packages, venv_python
from tests.test_sync import (
    base_venv,
    block,
    dist_infos,
    env,
    file_state,
    imported_version,
    pip,
    run_cli,
    wheels,
    write_lock,
)

__all__ = ["base_venv", "env", "wheels"]  # fixtures, imported for pytest


def _assert_as_before(venv: Path, before: dict[str, str]) -> None:
    after = file_state(venv)
    added = sorted(set(after) - set(before))
    lost = sorted(set(before) - set(after))
    altered = sorted(k for k in before if k in after and before[k] != after[k])
    assert (added, lost, altered) == ([], [], [])
    assert not (venv / "pipkit" / "transaction").exists()


# -- recover after pip finished, on an env that drifted since --------------------------------


def test_recover_after_pip_finished_and_a_drift_undoes_and_says_why(env, wheels, tmp_path):  # type: ignore[no-untyped-def]
    lock = write_lock(
        tmp_path / "requirements.txt", wheels, "alpha==2.0", "beta==2.0", "gamma==1.0"
    )
    before = file_state(env)
    killed = run_cli(
        "--python", str(env), "sync", str(lock), "--yes", cwd=tmp_path,
        env={"PIPKIT_TEST_KILL_AT": "installed"},
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL
    # The user changes the env by hand before recovering: beta 2.0 (the change's) is removed.
    pip(env, "uninstall", "-y", "beta")
    recovered = run_cli("--python", str(env), "recover", "--yes", cwd=tmp_path)
    assert recovered.returncode == 0, recovered.stderr
    # What recover did and why: the change no longer holds, so it is undone, not finished.
    assert "undid the interrupted" in recovered.stderr
    assert "pip had finished but beta" in recovered.stderr
    _assert_as_before(env, before)
    assert dist_infos(env)["beta"] == ["1.0"] and imported_version(env, "alpha") == "1.0"


def test_recover_after_pip_finished_and_an_unrelated_change_finishes(env, wheels, tmp_path):  # type: ignore[no-untyped-def]
    lock = write_lock(
        tmp_path / "requirements.txt", wheels, "alpha==2.0", "beta==2.0", "gamma==1.0"
    )
    killed = run_cli(
        "--python", str(env), "sync", str(lock), "--yes", cwd=tmp_path,
        env={"PIPKIT_TEST_KILL_AT": "installed"},
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL
    # A package the change does not touch, installed by hand meanwhile: the change still holds.
    pip(env, "install", "--no-index", "--find-links", str(wheels), "Odd.Name_pkg")
    recovered = run_cli("--python", str(env), "recover", "--yes", cwd=tmp_path)
    assert recovered.returncode == 0, recovered.stderr
    assert "finished the interrupted" in recovered.stderr
    assert "the environment matches" in recovered.stderr
    infos = dist_infos(env)
    assert infos["alpha"] == ["2.0"] and infos["beta"] == ["2.0"]
    assert infos["odd_name_pkg"] == ["1.0"]  # the user's own change is kept
    assert not (env / "pipkit" / "transaction").exists()
    check = run_cli("--python", str(env), "check", str(lock), cwd=tmp_path)
    assert check.returncode == 1  # in line with the lock, but for the user's extra package
    assert "odd-name-pkg" in check.stdout.lower().replace("_", "-").replace(".", "-")


# -- a duplicate dist-info in the target ---------------------------------------------------------


def test_sync_with_a_duplicate_dist_info(run_pipkit, env, wheels, tmp_path):  # type: ignore[no-untyped-def]
    site = site_packages(env)
    stray = site / "alpha-0.9.dist-info"
    shutil.copytree(site / "alpha-1.0.dist-info", stray)
    metadata = stray / "METADATA"
    metadata.write_text(metadata.read_text().replace("Version: 1.0", "Version: 0.9"))
    lock = write_lock(
        tmp_path / "requirements.txt", wheels, "alpha==2.0", "beta==1.0", "gamma==1.0"
    )
    before = file_state(env)
    result = run_pipkit("--python", str(env), "sync", str(lock), "--yes")
    # pip would replace one of the two and leave the other: refused before anything changes,
    # naming the two folders the user has.
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        "pipkit: error: alpha is installed twice (alpha-0.9.dist-info, alpha-1.0.dist-info): "
        "remove the stray copy first (pipkit doctor names it); nothing was changed"
    )
    assert "\n~ alpha 1.0 -> 2.0\n" not in result.output  # not even asked to
    _assert_as_before(env, before)
    assert dist_infos(env)["alpha"] == ["0.9", "1.0"]
    # install says the same, before pip changes anything.
    installed = run_pipkit(
        "--python", str(env), "install", "alpha==2.0", "--",
        "--no-index", "--find-links", str(wheels),
    )  # fmt: skip
    assert installed.exit_code == 1
    assert installed.output.strip().splitlines()[-1] == (
        "pipkit: error: alpha is installed twice (alpha-0.9.dist-info, alpha-1.0.dist-info): "
        "remove the stray copy first (pipkit doctor names it); nothing was changed"
    )
    _assert_as_before(env, before)


# -- an undo that itself fails -------------------------------------------------------------------


def test_an_undo_that_fails_keeps_the_journal_and_names_recover(env, wheels, tmp_path):  # type: ignore[no-untyped-def]
    block(env)  # aablocked fails once the others are in: the change is undone...
    lock = write_lock(
        tmp_path / "requirements.txt", wheels,
        "alpha==2.0", "beta==2.0", "gamma==1.0", "wheel==0.42", "aablocked==1.0",
    )  # fmt: skip
    before = file_state(env)
    # ...and the undo fails part-way (after pip's files went, before the stash is back).
    failed = run_cli(
        "--python", str(env), "sync", str(lock), "--yes", cwd=tmp_path,
        env={"PIPKIT_TEST_FAIL_AT": "undoing"},
    )  # fmt: skip
    assert failed.returncode == 1, failed.stderr
    last = failed.stderr.strip().splitlines()[-1]
    assert last.startswith("pipkit: error: could not undo the change (")
    assert "fault injected at undoing" in last
    assert last.endswith("the journal is kept: run `pipkit recover`")
    assert "Traceback" not in failed.stderr
    assert (env / "pipkit" / "transaction" / "journal.json").is_file()
    # The env is half undone, and every command that changes it says so until recover.
    refused = run_cli("--python", str(env), "sync", str(lock), "--yes", cwd=tmp_path)
    assert refused.returncode != 0 and "pipkit recover" in refused.stderr
    recovered = run_cli("--python", str(env), "recover", "--yes", cwd=tmp_path)
    assert recovered.returncode == 0, recovered.stderr
    assert "undid the interrupted" in recovered.stderr
    _assert_as_before(env, before)


# -- the no-op cache and locks that are more than their bytes --------------------------------


# A check whose answer comes from the cache never reaches typer: with typer's command tree made
# unusable, an uncached check exits 99.
_NO_TYPER = (
    "import sys, typer.main\n"
    "def broken(*a, **k): sys.exit(99)\n"
    "typer.main.get_command = broken\n"
    "from pipkit.fastpath import main\n"
    "sys.argv = ['pipkit', *sys.argv[1:]]\n"
    "main()\n"
)


@pytest.mark.parametrize("form", ["plain", "-r", "-c", "${VAR}"])
def test_noop_cache_never_answers_for_locks_with_includes_or_variables(form, env, wheels, tmp_path):  # type: ignore[no-untyped-def]
    pins = ["alpha==1.0", "beta==1.0", "gamma==1.0", "wheel==0.42"]
    other = tmp_path / "other.txt"
    variables = {"ALPHA_VERSION": "1.0"}
    if form == "-r":
        other.write_text("alpha==1.0\n")
        pins[0] = "-r other.txt"
    elif form == "-c":
        other.write_text("alpha==1.0\n")
        pins.append("-c other.txt")
    elif form == "${VAR}":
        pins[0] = "alpha==${ALPHA_VERSION}"
    lock = write_lock(tmp_path / "requirements.txt", wheels, *pins)
    py = ["--python", str(env)]
    first = run_cli(*py, "check", str(lock), cwd=tmp_path, env=variables)
    assert (first.returncode, first.stdout) == (0, "requirements.txt vs venv: in sync\n"), first
    again = subprocess.run(
        [sys.executable, "-c", _NO_TYPER, *py, "check", str(lock)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **variables},
    )
    if form == "plain":  # the control: a plain lock's no-op IS answered from the cache
        assert (again.returncode, again.stdout) == (0, first.stdout), again.stderr
        return
    assert again.returncode == 99, again.stdout + again.stderr  # not from the cache
    # And the real work notices a change in what the lock does not hold itself.
    if form == "${VAR}":
        variables["ALPHA_VERSION"] = "2.0"
    else:
        other.write_text("alpha==2.0\n")
    changed = run_cli(*py, "check", str(lock), cwd=tmp_path, env=variables)
    if form == "-c":  # the constraint now contradicts the pin: bad input, file and line named
        assert changed.returncode == 2
        assert changed.stderr.startswith(f"pipkit: error: {other}:1: alpha is pinned to 2.0 here")
    else:
        assert changed.returncode == 1
        assert "changed   alpha 1.0 (locked: 2.0)\n" in changed.stdout


# -- PEP 668 ---------------------------------------------------------------------------------


def _base_python(dest: Path, *, managed: bool) -> Path:
    """A Python installation that is not a venv, made hermetically: a copy of the base
    interpreter's small executable (libpython comes by its absolute rpath) beside a stdlib
    folder of symlinks to the real one's entries and an empty site-packages of its own. Python
    finds its prefix from the executable's folder, so ``sys.prefix`` is ``dest`` and its stdlib
    ``dest/lib/pythonX.Y``, where ``EXTERNALLY-MANAGED`` is written when ``managed``."""
    real = subprocess.run(
        [sys.executable, "-c", "import sys, sysconfig; print(sys._base_executable); "
         "print(sysconfig.get_path('stdlib', vars={'installed_base': sys.base_prefix}))"],
        capture_output=True, text=True, check=True,
    ).stdout.split("\n")  # fmt: skip
    executable, stdlib = Path(real[0]).resolve(), Path(real[1])
    (dest / "bin").mkdir(parents=True)
    shutil.copy2(executable, dest / "bin" / executable.name)
    lib = dest / "lib" / stdlib.name
    (lib / "site-packages").mkdir(parents=True)
    for entry in stdlib.iterdir():
        if entry.name != "site-packages":
            (lib / entry.name).symlink_to(entry)
    if managed:
        (lib / "EXTERNALLY-MANAGED").write_text("[externally-managed]\nError=a test's\n")
    return dest / "bin" / executable.name


@pytest.fixture(scope="module")
def managed_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    python = _base_python(tmp_path_factory.mktemp("pep668") / "python", managed=True)
    probe = subprocess.run(
        [str(python), "-c", "import sys; print(sys.prefix == sys.base_prefix)"],
        capture_output=True, text=True,
    )  # fmt: skip
    if probe.stdout.strip() != "True":
        pytest.fail(f"the copied interpreter does not run on its own: {probe.stderr}")
    return python


def test_pep668_target_is_refused_as_pip_refuses_it(run_pipkit, managed_python, wheels, tmp_path):  # type: ignore[no-untyped-def]
    site = managed_python.parent.parent / "lib"
    before = sorted(p.name for p in site.glob("*/site-packages/*"))
    result = run_pipkit("--python", str(managed_python), "install", "alpha", "--yes")
    assert result.exit_code == 2
    assert (
        f"pipkit: error: {managed_python} is externally managed (PEP 668); "
        "use a venv or pass --break-system-packages"
    ) in result.output
    lock = write_lock(tmp_path / "requirements.txt", wheels, "alpha==1.0")
    synced = run_pipkit("--python", str(managed_python), "sync", str(lock), "--yes")
    assert synced.exit_code == 2 and "externally managed (PEP 668)" in synced.output
    assert sorted(p.name for p in site.glob("*/site-packages/*")) == before == []
    # The oracle: pip itself (pointed at that interpreter) refuses it for the same reason.
    theirs = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(managed_python),
         "install", "--no-index", "alpha"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert theirs.returncode != 0 and "externally-managed-environment" in theirs.stderr


def test_the_same_interpreter_without_the_marker_is_only_not_a_venv(run_pipkit, tmp_path):  # type: ignore[no-untyped-def]
    # The control: what made the refusal above is the EXTERNALLY-MANAGED file.
    python = _base_python(tmp_path / "python", managed=False)
    result = run_pipkit("--python", str(python), "install", "alpha", "--yes")
    assert result.exit_code == 2
    assert "is not a virtual environment" in result.output
    assert "PEP 668" not in result.output


# -- a distribution without a RECORD ---------------------------------------------------------


def test_sync_refuses_to_replace_a_dist_without_a_record(run_pipkit, env, wheels, tmp_path):  # type: ignore[no-untyped-def]
    # Without a RECORD pipkit cannot know (nor stash, nor put back) the dist's files.
    info = site_packages(env) / "alpha-1.0.dist-info"
    (info / "RECORD").unlink()
    lock = write_lock(
        tmp_path / "requirements.txt", wheels, "alpha==2.0", "beta==1.0", "gamma==1.0"
    )
    before = file_state(env)
    result = run_pipkit("--python", str(env), "sync", str(lock), "--yes")
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"pipkit: error: cannot safely replace or remove alpha 1.0: it was installed without a "
        f"RECORD ({info}); repair it first with `pip install --ignore-installed --no-deps "
        "alpha==1.0` (pip cannot uninstall it either)"
    )
    _assert_as_before(env, before)
    # The advice, checked with pip: its uninstall refuses too, the repair works, then sync does.
    refused = subprocess.run(
        [venv_python(env), "-m", "pip", "uninstall", "-y", "alpha"], capture_output=True, text=True
    )
    assert refused.returncode != 0 and "RECORD" in refused.stdout + refused.stderr
    # (pip's own hint, --force-reinstall, fails the same way: it uninstalls first.)
    pip(env, "install", "--no-index", "--find-links", str(wheels), "--ignore-installed",
        "--no-deps", "alpha==1.0")  # fmt: skip
    synced = run_pipkit("--python", str(env), "sync", str(lock), "--yes")
    assert synced.exit_code == 0, synced.output
    assert dist_infos(env)["alpha"] == ["2.0"]

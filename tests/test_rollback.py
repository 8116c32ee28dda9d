"""``pipkit rollback`` and ``pipkit history`` end to end, through the CLI and real pip.

Changes are made from a local wheelhouse (``--no-index --find-links``); rollbacks then run
with no index at all (``PIP_NO_INDEX=1``, no find-links), so every wheel they need must come
from pipkit's own store. Versions are checked by importing each module's ``__version__``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipkit.env.ledger import store_for
from pipkit.env.target import resolve_target
from tests.conftest import (
    copy_venv,
    pip_freeze,
    pip_install,
    site_packages,
    venv_python,
    wait_until,
)
from tests.wheelmaker import make_wheel

MODULES = ("alpha", "beta", "gamma")


def _pipkit(run_pipkit, venv: Path, *args: str, code: int = 0):  # type: ignore[no-untyped-def]
    argv = ["--python", str(venv), *args]
    saved, sys.argv = sys.argv, ["pipkit", *argv]  # the history records the command line
    try:
        result = run_pipkit(*argv)
    finally:
        sys.argv = saved
    assert result.exit_code == code, (result.stdout, result.stderr)
    return result


def _from(wheelhouse: Path) -> list[str]:
    return ["--", "--no-index", "--find-links", str(wheelhouse), "-q"]


def _imported(venv: Path) -> dict[str, str]:
    """``{module: __version__}`` for the test modules that import in the venv."""
    code = (
        "import importlib, json\n"
        "out = {}\n"
        f"for name in {MODULES!r}:\n"
        "    try:\n"
        "        out[name] = importlib.import_module(name).__version__\n"
        "    except ImportError:\n"
        "        pass\n"
        "print(json.dumps(out))\n"
    )
    out = subprocess.run(
        [venv_python(venv), "-c", code], capture_output=True, text=True, check=True
    ).stdout
    loaded: dict[str, str] = json.loads(out)
    return loaded


def _site_files(venv: Path) -> list[str]:
    """Every file in site-packages (byte-code aside), relative: what a rollback must restore."""
    site = site_packages(venv)
    found = []
    for folder, dirs, files in os.walk(site):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        found += [os.path.relpath(os.path.join(folder, f), site) for f in files]
    return sorted(found)


def _state(venv: Path) -> tuple[str, dict[str, str], list[str]]:
    return pip_freeze(venv), _imported(venv), _site_files(venv)


def _history(run_pipkit, venv: Path) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    rows: list[dict[str, object]] = json.loads(
        _pipkit(run_pipkit, venv, "history", "--json").stdout
    )
    return rows


def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)


# One pytest-xdist worker runs this whole file (addopts: --dist loadfile), so each history is
# made once. Session-scoped all the same: a module fixture is torn down and made again
# whenever tests of another module run in between.
@pytest.fixture(scope="session")
def prepared(template_venv, wheelhouse, tmp_path_factory):  # type: ignore[no-untyped-def]
    """``prepared(engine) -> (venv, states)``: five recorded changes (install, install,
    upgrade, uninstall, sync) made with that installer engine, once per engine, in a venv of
    their own, and the state after each, by entry id."""
    from typer.testing import CliRunner

    from pipkit.cli import app

    runner = CliRunner()
    made: dict[str, tuple[Path, dict[int, tuple[str, dict[str, str], list[str]]]]] = {}

    def run_pipkit(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
        return runner.invoke(app, list(args), input=input, catch_exceptions=False)

    def make(engine: str):  # type: ignore[no-untyped-def]
        if engine in made:
            return made[engine]
        folder = tmp_path_factory.mktemp(f"rollback-prepared-{engine}")
        venv = copy_venv(template_venv, folder / "venv")
        states: dict[int, tuple[str, dict[str, str], list[str]]] = {}
        with pytest.MonkeyPatch.context() as monkeypatch:
            monkeypatch.setenv("PIPKIT_INSTALLER", engine)
            _pipkit(run_pipkit, venv, "install", "alpha==1.0", *_from(wheelhouse))
            states[1] = _state(venv)
            _pipkit(run_pipkit, venv, "install", "beta==1.0", *_from(wheelhouse))
            states[2] = _state(venv)
            _pipkit(run_pipkit, venv, "upgrade", "alpha", *_from(wheelhouse))
            states[3] = _state(venv)
            _pipkit(run_pipkit, venv, "uninstall", "beta", "--yes")
            states[4] = _state(venv)
            lock = folder / "requirements.txt"
            lock.write_text(
                f"--no-index\n--find-links {wheelhouse}\nalpha==1.0\nbeta==2.0\ngamma==1.0\n"
            )
            _pipkit(run_pipkit, venv, "sync", str(lock), "--yes")
            states[5] = _state(venv)
        assert states[1][1] == {"alpha": "1.0"}
        assert states[3][1] == {"alpha": "2.0", "beta": "1.0"}
        assert states[4][1] == {"alpha": "2.0"}
        assert states[5][1] == {"alpha": "1.0", "beta": "2.0", "gamma": "1.0"}
        made[engine] = (venv, states)
        return made[engine]

    return make


@pytest.fixture
def changed(prepared, venv, request):  # type: ignore[no-untyped-def]
    """``venv`` replaced by a copy of the history prepared with the test's engine (pip unless
    it takes ``engine``), its history and wheel store inside it, so each test may change it
    freely; the states after each entry, by entry id."""
    engine = request.getfixturevalue("engine") if "engine" in request.fixturenames else "pip"
    source, states = prepared(engine)
    shutil.rmtree(venv)
    copy_venv(source, venv)
    assert _state(venv) == states[5]  # the copy is the same environment
    return states


def test_history_lists_every_change_with_counts(run_pipkit, venv, changed):  # type: ignore[no-untyped-def]
    rows = _history(run_pipkit, venv)
    assert [r["id"] for r in rows] == [1, 2, 3, 4, 5]
    assert all(set(r) >= {"id", "time", "command", "added", "removed", "changed"} for r in rows)
    counts = [(r["added"], r["changed"], r["removed"]) for r in rows]
    assert counts == [(1, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1), (2, 1, 0)]
    assert all(r["result"] == "ok" for r in rows)
    assert " install " in str(rows[0]["command"]) and " sync " in str(rows[4]["command"])
    assert [
        r["id"]
        for r in json.loads(_pipkit(run_pipkit, venv, "history", "--json", "--limit", "2").stdout)
    ] == [4, 5]
    table = _pipkit(run_pipkit, venv, "history").stdout
    assert "Added" in table and "Removed" in table

    shown = _pipkit(run_pipkit, venv, "history", "show", "5").stdout
    assert "+ beta 2.0" in shown and "+ gamma 1.0" in shown and "~ alpha 2.0 -> 1.0" in shown
    doc = json.loads(_pipkit(run_pipkit, venv, "history", "show", "3", "--json").stdout)
    assert doc["changed"] == [
        {
            "before": {"name": "alpha", "version": "1.0"},
            "after": {"name": "alpha", "version": "2.0"},
        }
    ]
    assert {p["name"] for p in doc["after"]} >= {"alpha", "beta", "pip"}
    missing = _pipkit(run_pipkit, venv, "history", "show", "99", code=2)
    assert "no history entry 99 (entries are 1 to 5)" in missing.stderr
    assert "Traceback" not in missing.output


def test_offline_rollback_to_every_entry(engine, run_pipkit, venv, changed, monkeypatch):  # type: ignore[no-untyped-def]
    _offline(monkeypatch)
    # Backwards, forwards and across: each needs wheels an earlier change or rollback removed.
    for entry_id in (1, 3, 5, 2, 4, 1, 5):
        _pipkit(run_pipkit, venv, "rollback", str(entry_id), "--yes")
        assert _state(venv) == changed[entry_id], f"rollback {entry_id}"
    rows = _history(run_pipkit, venv)
    assert [str(r["command"]).split(" rollback ")[1] for r in rows[5:]] == [
        f"{n} --yes" for n in (1, 3, 5, 2, 4, 1, 5)
    ]
    assert all(r["result"] == "ok" for r in rows)
    # Rolling back to the state already there changes nothing and records nothing.
    _pipkit(run_pipkit, venv, "rollback", "5", "--yes")
    assert len(_history(run_pipkit, venv)) == len(rows)


def test_second_rollback_undoes_the_first(engine, run_pipkit, venv, changed, monkeypatch):  # type: ignore[no-untyped-def]
    _offline(monkeypatch)
    _pipkit(run_pipkit, venv, "rollback", "2", "--yes")
    assert _state(venv) == changed[2]
    result = _pipkit(run_pipkit, venv, "rollback", "--yes")  # undo the rollback: back to 5
    assert f"before entry 6 (pipkit --python {venv} rollback 2 --yes)" in result.stderr
    assert _state(venv) == changed[5]
    _pipkit(run_pipkit, venv, "rollback", "--yes")  # and undo that undo
    assert _state(venv) == changed[2]


def test_dry_run_shows_the_plan_and_changes_nothing(
    run_pipkit, venv, changed, monkeypatch, terminal
):  # type: ignore[no-untyped-def]
    _offline(monkeypatch)
    result = _pipkit(run_pipkit, venv, "rollback", "4", "--dry-run")
    assert "- beta 2.0" in result.stdout and "- gamma 1.0" in result.stdout
    assert "~ alpha 1.0 -> 2.0  (from the wheel store)" in result.stdout
    assert _state(venv) == changed[5]
    assert len(_history(run_pipkit, venv)) == 5
    # Without --yes it asks; "no" changes nothing.
    argv = ["--python", str(venv), "rollback", "4"]
    answered = run_pipkit(*argv, input="n\n")
    assert answered.exit_code == 1 and "Roll back?" in answered.stderr
    assert "nothing changed" in answered.stderr
    assert _state(venv) == changed[5]


def test_missing_wheels_named_first(run_pipkit, venv, wheelhouse, monkeypatch):  # type: ignore[no-untyped-def]
    _pipkit(run_pipkit, venv, "install", "alpha==1.0", "beta==1.0", *_from(wheelhouse))
    _pipkit(run_pipkit, venv, "upgrade", "alpha", "beta", *_from(wheelhouse))
    store = resolve_target(str(venv)).state_dir / "store"
    for wheel in store.glob("*.whl"):
        wheel.unlink()
    shutil.rmtree(store / "parked", ignore_errors=True)  # stashes not yet repacked, too
    before = _state(venv)
    _offline(monkeypatch)
    result = _pipkit(run_pipkit, venv, "rollback", "1", "--yes", code=1)
    assert "not in the wheel store: alpha==1.0, beta==1.0" in result.stderr
    assert "no index was reachable" in result.stderr
    assert _state(venv) == before
    # With an index that has them (find-links, as pip's configuration gives it), it works.
    monkeypatch.delenv("PIP_NO_INDEX")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheelhouse))
    result = _pipkit(run_pipkit, venv, "rollback", "1", "--yes")
    assert "(from the index)" in result.stderr
    assert _imported(venv) == {"alpha": "1.0", "beta": "1.0"}


def test_outside_change_shows_up_and_can_be_undone(run_pipkit, venv, wheelhouse, monkeypatch):  # type: ignore[no-untyped-def]
    _pipkit(run_pipkit, venv, "install", "alpha==1.0", *_from(wheelhouse))
    pip_install(venv, "gamma==1.0", wheelhouse=wheelhouse)  # plain pip: beta, gamma
    rows = _history(run_pipkit, venv)
    assert rows[1]["command"] == "(outside pipkit)" and rows[1]["outside"] is True
    assert (rows[1]["added"], rows[1]["changed"], rows[1]["removed"]) == (2, 0, 0)
    _offline(monkeypatch)
    _pipkit(run_pipkit, venv, "rollback", "--yes")
    assert _imported(venv) == {"alpha": "1.0"}
    # Then forward again: beta and gamma were archived by that rollback's own transaction.
    _pipkit(run_pipkit, venv, "rollback", "2", "--yes")
    assert _imported(venv) == {"alpha": "1.0", "beta": "2.0", "gamma": "1.0"}


def test_rollback_without_history_is_a_clear_error(run_pipkit, venv):  # type: ignore[no-untyped-def]
    result = _pipkit(run_pipkit, venv, "rollback", "--yes", code=1)
    assert "no history for" in result.stderr and "Traceback" not in result.output
    assert _pipkit(run_pipkit, venv, "history", "--json").stdout.strip() == "[]"


def test_store_cap_and_prune(run_pipkit, venv, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    big = tmp_path / "big"
    for name in ("one", "two", "three"):
        make_wheel(big, name, "1.0", files={f"{name}_blob.bin": os.urandom(300_000)})
    _pipkit(run_pipkit, venv, "install", "one", "two", "three", *_from(big))
    store = resolve_target(str(venv)).state_dir / "store"
    # A cap of 0.7 MB: uninstalling all three archives ~0.9 MB, the oldest goes at once.
    monkeypatch.setenv("PIPKIT_STORE_MAX_MB", "0.7")
    for name in ("one", "two", "three"):
        _pipkit(run_pipkit, venv, "uninstall", name, "--yes")
    # What the store can restore (parked stashes repacked first, as a rollback reads it).
    kept = sorted(w.name for w in store_for(resolve_target(str(venv))).wheels())
    assert kept == ["three", "two"]
    assert sum(p.stat().st_size for p in store.glob("*.whl")) <= 0.7 * 1024 * 1024
    result = _pipkit(run_pipkit, venv, "history", "prune", "--max-mb", "0.4", "--json")
    doc = json.loads(result.stdout)
    assert (
        doc["dropped"] == [p for p in doc["dropped"] if p.startswith("two-")] and doc["kept"] == 1
    )
    assert [p.name.split("-")[0] for p in store.glob("*.whl")] == ["three"]
    text = _pipkit(run_pipkit, venv, "history", "prune", "--max-mb", "0").stderr
    assert "dropped 1 wheel, " in text and not list(store.glob("*.whl"))


# -- two pipkit processes at once -------------------------------------------------------------


def _spawn(venv: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pipkit", "--python", str(venv), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_concurrent_installs_keep_env_and_history_whole(run_pipkit, venv, wheelhouse):  # type: ignore[no-untyped-def]
    # The second waits for the first (a wait long enough for a loaded machine): both must
    # succeed, one after the other. Giving up is tested on its own below.
    wait = {"PIPKIT_LOCK_TIMEOUT": "300"}
    first = _spawn(venv, "install", "alpha==1.0", *_from(wheelhouse), env=wait)
    second = _spawn(venv, "install", "Odd.Name_pkg==1.0", *_from(wheelhouse), env=wait)
    for proc in (first, second):
        _out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        assert "Traceback" not in err
    rows = _history(run_pipkit, venv)
    assert [(r["result"], r["added"]) for r in rows] == [("ok", 1), ("ok", 1)]
    check = subprocess.run(
        [venv_python(venv), "-m", "pip", "check"], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout
    assert set(pip_freeze(venv).split()) == {"alpha==1.0", "Odd.Name_pkg==1.0"}


def test_second_pipkit_waits_then_gives_up_with_a_message(run_pipkit, venv, wheelhouse):  # type: ignore[no-untyped-def]
    from pipkit.env import mutex

    _pipkit(run_pipkit, venv, "install", "alpha==1.0", *_from(wheelhouse))
    target = resolve_target(str(venv))
    with mutex.hold(target):
        proc = _spawn(
            venv, "install", "beta==1.0", *_from(wheelhouse), env={"PIPKIT_LOCK_TIMEOUT": "0.5"}
        )
        _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert "another pipkit" in err and "PIPKIT_LOCK_TIMEOUT" in err and "Traceback" not in err
    assert _imported(venv) == {"alpha": "1.0"}
    assert [r["id"] for r in _history(run_pipkit, venv)] == [1]


def test_failed_change_is_recorded_as_rolled_back(run_pipkit, venv, wheelhouse, tmp_path):  # type: ignore[no-untyped-def]
    _pipkit(run_pipkit, venv, "install", "alpha==1.0", *_from(wheelhouse))
    bad = tmp_path / "bad"
    # pip fails half-way through it: a file where site-packages has the folder "pip".
    make_wheel(bad, "alpha", "3.0", files={"pip": "not a folder\n"})
    _pipkit(run_pipkit, venv, "install", "alpha==3.0", *_from(bad), code=1)
    rows = _history(run_pipkit, venv)
    assert [(r["result"], r["added"], r["changed"], r["removed"]) for r in rows] == [
        ("ok", 1, 0, 0),
        ("rolled back", 0, 0, 0),
    ]
    assert _imported(venv) == {"alpha": "1.0"}


def test_history_reads_while_another_pipkit_holds_the_lock(run_pipkit, venv, wheelhouse):  # type: ignore[no-untyped-def]
    from pipkit.env import mutex

    _pipkit(run_pipkit, venv, "install", "alpha==1.0", *_from(wheelhouse))
    pip_install(venv, "beta==1.0", wheelhouse=wheelhouse)
    with mutex.hold(resolve_target(str(venv))):
        # A change may be under way: what differs is not called an outside change yet.
        assert [r["id"] for r in _history(run_pipkit, venv)] == [1]
    rows = _history(run_pipkit, venv)
    assert [r["command"] for r in rows][1] == "(outside pipkit)"


def test_killed_change_is_recorded_as_interrupted(run_pipkit, venv, wheelhouse):  # type: ignore[no-untyped-def]
    journal = resolve_target(str(venv)).state_dir / "transaction" / "journal.json"
    proc = _spawn(venv, "install", "alpha==1.0", *_from(wheelhouse))

    def installing() -> bool:
        assert proc.poll() is None, "pipkit ended before pip started"
        try:
            return bool(json.loads(journal.read_text()).get("phase") == "installing")
        except (OSError, ValueError):
            return False

    # SIGKILL pipkit once pip is running (the journal's phase): pip finishes on its own, orphaned.
    wait_until(installing, "the journal's 'installing' phase")
    proc.kill()
    proc.wait()
    _pipkit(run_pipkit, venv, "recover", "--yes")  # waits for the orphaned pip, then undoes
    rows = _history(run_pipkit, venv)
    assert [r["result"] for r in rows] == ["interrupted", "rolled back"]
    assert str(rows[1]["command"]).startswith("pipkit recover")
    # Killed just before pip started, nothing was installed; else pip finished alpha. Either
    # way the history says what happened: what the interrupted entry added, recover removed.
    assert rows[0]["added"] == rows[1]["removed"] in (0, 1)
    assert rows[0]["removed"] == rows[1]["added"] == 0
    assert _imported(venv) == {}

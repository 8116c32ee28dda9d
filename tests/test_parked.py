"""A change's commit parks its stash in the store (one rename) instead of repacking every
replaced package into a wheel; the store repacks parked stashes when it is next read, and an
offline rollback still restores them. A commit cut off after parking is undone with the stash
moved back (pipkit.env.ledger.archive/settle, pipkit.env.transaction._unpark)."""

from __future__ import annotations

import json
import signal
from pathlib import Path

from tests.test_sync import (
    base_venv,
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


def _store(venv: Path) -> Path:
    return venv / "pipkit" / "store"


def test_a_sync_parks_what_it_replaced_and_a_rollback_restores_it_offline(env, wheels, tmp_path):  # type: ignore[no-untyped-def]
    before = run_cli("--python", str(env), "freeze", cwd=tmp_path).stdout
    lock = write_lock(tmp_path / "requirements.txt", wheels, "alpha==2.0", "beta==2.0")
    synced = run_cli("--python", str(env), "sync", str(lock), "--yes", cwd=tmp_path)
    assert synced.returncode == 0, synced.stderr
    parked = list((_store(env) / "parked").iterdir())
    assert len(parked) == 1
    manifest = json.loads((parked[0] / "parked.json").read_text())
    # What the sync replaced (alpha, beta) or removed (gamma, not in the lock).
    assert sorted(Path(p).name for p in manifest["infos"]) == [
        "alpha-1.0.dist-info",
        "beta-1.0.dist-info",
        "gamma-1.0.dist-info",
    ]
    assert not list(_store(env).glob("*.whl"))  # nothing repacked on the commit's path
    # Offline (no index, no links): only the store can bring 1.0 back.
    back = run_cli("--python", str(env), "rollback", "--yes", cwd=tmp_path)
    assert back.returncode == 0, back.stderr
    assert run_cli("--python", str(env), "freeze", cwd=tmp_path).stdout == before
    assert imported_version(env, "alpha") == "1.0"
    # Settled: repacked into wheels, the parked stash gone.
    assert {w.name.split("-")[0] for w in _store(env).glob("*.whl")} >= {"alpha", "beta", "gamma"}
    # The rollback's own change parked what it replaced (2.0): only that one is left parked.
    assert len(list((_store(env) / "parked").iterdir())) == 1


def test_history_prune_repacks_what_is_parked(env, wheels, tmp_path):  # type: ignore[no-untyped-def]
    lock = write_lock(tmp_path / "requirements.txt", wheels, "alpha==2.0")
    assert run_cli("--python", str(env), "sync", str(lock), "--yes", cwd=tmp_path).returncode == 0
    pruned = run_cli("--python", str(env), "history", "prune", "--max-mb", "100", cwd=tmp_path)
    assert pruned.returncode == 0, pruned.stderr
    assert sorted(w.name.split("-")[0] for w in _store(env).glob("*.whl")) == [
        "alpha",
        "beta",
        "gamma",
    ]
    assert not list((_store(env) / "parked").iterdir())


def test_a_commit_cut_off_after_parking_is_undone_with_its_stash_back(env, wheels, tmp_path):  # type: ignore[no-untyped-def]
    before = file_state(env)
    lock = write_lock(tmp_path / "requirements.txt", wheels, "alpha==2.0", "beta==2.0")
    killed = run_cli(
        "--python", str(env), "sync", str(lock), "--yes", cwd=tmp_path,
        env={"PIPKIT_TEST_KILL_AT": "archived"},
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL
    assert len(list((_store(env) / "parked").iterdir())) == 1
    # A read of the store meanwhile leaves a pending transaction's stash where it is.
    ui_like = run_cli("--python", str(env), "history", cwd=tmp_path)
    assert ui_like.returncode in (0, 1)
    pip(env, "uninstall", "-y", "beta")  # the user changes the env before recovering
    recovered = run_cli("--python", str(env), "recover", "--yes", cwd=tmp_path)
    assert recovered.returncode == 0, recovered.stderr
    assert "undid the interrupted" in recovered.stderr
    after = file_state(env)
    assert sorted(set(before) - set(after)) == [] and sorted(set(after) - set(before)) == []
    assert dist_infos(env)["beta"] == ["1.0"] and imported_version(env, "alpha") == "1.0"

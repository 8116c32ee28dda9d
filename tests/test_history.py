"""The history store and the wheel store: recording, outside changes, repacking, pruning.

Everything runs against real venvs (copies of the session template) and pip, offline from
small in-memory wheels; the history is read back through the library and the CLI.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import threading
import zipfile
from pathlib import Path

import pytest

from pipkit.core import snapshot as snap
from pipkit.env import ledger as history
from pipkit.env.store import Layout, WheelStore, max_bytes, repack
from pipkit.env.target import Target, resolve_target
from pipkit.env.transaction import STASH_MIRROR
from pipkit.errors import UsageError
from pipkit.ops import rollback
from tests.conftest import copy_venv, fake_editable, pip_install, site_packages, venv_python
from tests.wheelmaker import make_wheel


def _target(venv: Path) -> Target:
    return resolve_target(str(venv))


def _tool_wheel(folder: Path) -> Path:
    """A wheel with a sub-package, a plain script, an entry point and a data file."""
    data = "tool_pkg-1.0+x.data"
    script = "#!python\nimport tool_pkg as t\nprint('run', t.__version__)\n"
    return make_wheel(
        folder,
        "Tool.Pkg",
        "1.0+x",
        files={
            f"{data}/scripts/runme": script,
            f"{data}/data/share/toolpkg/f.txt": "data file\n",
            "tool_pkg-1.0+x.dist-info/entry_points.txt": "[console_scripts]\ntp = tool_pkg:m\n",
            "subpkg/__init__.py": "X = 1\n",
        },
    )


def _record_paths(info: Path) -> set[str]:
    return {line.split(",")[0] for line in info.joinpath("RECORD").read_text().splitlines()}


# -- the wheel store ----------------------------------------------------------------------------


def test_repack_installed_dist_reinstalls_offline(venv, template_venv, tmp_path):  # type: ignore[no-untyped-def]
    pip_install(venv, "Tool.Pkg", wheelhouse=_tool_wheel(tmp_path / "wh").parent)
    site = site_packages(venv)
    layout = Layout(str(site), str(venv / "bin"), str(venv))
    wheel = repack(site, "tool_pkg-1.0+x.dist-info", tmp_path / "store", layout=layout)
    assert wheel.name == "tool_pkg-1.0+x-py3-none-any.whl"
    names = zipfile.ZipFile(wheel).namelist()
    assert "tool_pkg-1.0+x.data/scripts/runme" in names
    assert "tool_pkg-1.0+x.data/data/share/toolpkg/f.txt" in names
    assert not any("__pycache__" in n or n.endswith(("INSTALLER", "REQUESTED")) for n in names)
    assert not any(n.endswith("/tp") for n in names)  # pip regenerates entry-point wrappers

    fresh = copy_venv(template_venv, tmp_path / "fresh")
    pip_install(fresh, "tool.pkg==1.0+x", wheelhouse=tmp_path / "store")
    out = subprocess.run(
        [venv_python(fresh), str(fresh / "bin" / "runme")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert (fresh / "bin" / "runme").read_text().startswith(f"#!{fresh}/bin/python")
    assert out.stdout == "run 1.0+x\n"
    assert (fresh / "bin" / "tp").exists()
    assert (fresh / "share" / "toolpkg" / "f.txt").read_text() == "data file\n"
    fresh_site = site_packages(fresh)
    assert (fresh_site / "subpkg" / "__init__.py").read_text() == "X = 1\n"
    # The reinstalled RECORD lists the same files as the original install.
    original = _record_paths(site / "tool_pkg-1.0+x.dist-info")
    again = _record_paths(fresh_site / "tool_pkg-1.0+x.dist-info")
    assert original == again


def test_repack_refuses_a_dist_with_missing_files(venv, wheelhouse, tmp_path):  # type: ignore[no-untyped-def]
    from pipkit.env.store import StoreError

    pip_install(venv, "alpha==1.0", wheelhouse=wheelhouse)
    site = site_packages(venv)
    (site / "alpha.py").unlink()
    with pytest.raises(StoreError, match=r"alpha 1\.0: .*alpha\.py"):
        repack(site, "alpha-1.0.dist-info", tmp_path / "store")
    assert not list((tmp_path / "store").glob("*"))  # nothing half-written


def test_store_prune_drops_oldest_first(tmp_path):  # type: ignore[no-untyped-def]
    store = WheelStore(tmp_path / "store", cap_bytes=10_000)
    paths = []
    for index, name in enumerate(("aaa", "bbb", "ccc")):
        wheel = make_wheel(tmp_path / "store", name, "1.0", files={"blob.bin": os.urandom(4000)})
        os.utime(wheel, (1_000_000 + index, 1_000_000 + index))
        paths.append(wheel)
    assert [w.name for w in store.wheels()] == ["aaa", "bbb", "ccc"]
    assert store.find("AAA", "1.0.0") is not None  # names normalized, versions by PEP 440
    dropped = store.prune()
    assert [w.name for w in dropped] == ["aaa"]
    assert store.total_bytes() <= 10_000
    assert [w.name for w in store.prune(0)] == ["bbb", "ccc"]


def test_store_cap_from_environment():  # type: ignore[no-untyped-def]
    assert max_bytes({}) == 500 * 1024 * 1024
    assert max_bytes({"PIPKIT_STORE_MAX_MB": "1.5"}) == int(1.5 * 1024 * 1024)
    with pytest.raises(UsageError, match="PIPKIT_STORE_MAX_MB"):
        max_bytes({"PIPKIT_STORE_MAX_MB": "lots"})


def test_archive_reads_the_transaction_stash_layout(venv, tmp_path):  # type: ignore[no-untyped-def]
    pip_install(venv, "Tool.Pkg", wheelhouse=_tool_wheel(tmp_path / "wh").parent)
    target = _target(venv)
    site = site_packages(venv)
    stash = tmp_path / "stash"
    # The transaction's layout: a file that was at /p/x is kept at <stash>/root/p/x.
    info = site / "tool_pkg-1.0+x.dist-info"
    for rel in _record_paths(info):
        source = os.path.normpath(os.path.join(site, rel))
        if os.path.exists(source):
            dest = stash / "root" / source.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.rename(source, dest)
    rel_info = str(Path("root") / str(info).lstrip("/"))
    history.archive(target, stash, [rel_info], mirror=STASH_MIRROR)
    wheel = history.store_for(target).find("tool-pkg", "1.0+x")
    assert wheel is not None
    assert "tool_pkg-1.0+x.data/scripts/runme" in zipfile.ZipFile(wheel.path).namelist()


def test_archive_from_a_stash_mirroring_site_packages(venv, tmp_path):  # type: ignore[no-untyped-def]
    import shutil

    pip_install(venv, "Tool.Pkg", wheelhouse=_tool_wheel(tmp_path / "wh").parent)
    site = site_packages(venv)
    stash = tmp_path / "stash"
    for rel in _record_paths(site / "tool_pkg-1.0+x.dist-info"):
        if not rel.startswith("../") and (site / rel).exists():
            (stash / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(site / rel, stash / rel)
    target = _target(venv)
    history.archive(target, stash, ["tool_pkg-1.0+x.dist-info"], mirror=STASH_MIRROR)
    wheel = history.store_for(target).find("tool-pkg", "1.0+x")
    assert wheel is not None
    names = zipfile.ZipFile(wheel.path).namelist()
    assert "tool_pkg.py" in names and "subpkg/__init__.py" in names
    assert not any(".data/" in n for n in names)  # outside site-packages: not in this stash


def test_archive_never_raises(venv, tmp_path, caplog):  # type: ignore[no-untyped-def]
    target = _target(venv)
    (tmp_path / "stash" / "broken-1.0.dist-info").mkdir(parents=True)
    history.archive(target, tmp_path / "stash", ["broken-1.0.dist-info"], mirror=STASH_MIRROR)
    # A warning through logging, which the CLI shows as "pipkit: warning: ..."
    assert "not kept for offline rollback: broken 1.0" in caplog.text


# -- recording ----------------------------------------------------------------------------------


def test_recording_records_before_after_and_result(venv, wheelhouse):  # type: ignore[no-untyped-def]
    target = _target(venv)
    with history.recording(target, "pipkit install alpha") as rec:
        pip_install(venv, "alpha==1.0", wheelhouse=wheelhouse)
    assert rec.entry_id == 1 and rec.result == "ok"
    with pytest.raises(RuntimeError), history.recording(target, "pipkit upgrade alpha"):
        pip_install(venv, "alpha==2.0", wheelhouse=wheelhouse)
        raise RuntimeError("boom")
    with history.recording(target, "pipkit uninstall alpha") as rec:
        rec.set_result("rolled back")
    with history.History.open(target) as db:
        entries = db.entries()
    assert [(e.id, e.command, e.result) for e in entries] == [
        (1, "pipkit install alpha", "ok"),
        (2, "pipkit upgrade alpha", "failed"),
        (3, "pipkit uninstall alpha", "rolled back"),
    ]
    assert [p.pin for p in entries[0].diff.added] == ["alpha==1.0"]
    assert [(a.version, b.version) for a, b in entries[1].diff.changed] == [("1.0", "2.0")]
    assert entries[2].diff.empty
    assert "pip" in entries[0].before  # the full set, not just the change


def test_outside_change_is_recorded_before_the_next_entry(venv, wheelhouse):  # type: ignore[no-untyped-def]
    target = _target(venv)
    with history.recording(target, "pipkit install alpha"):
        pip_install(venv, "alpha==1.0", wheelhouse=wheelhouse)
    pip_install(venv, "beta==1.0", wheelhouse=wheelhouse)  # behind pipkit's back
    with history.recording(target, "pipkit install gamma") as rec:
        pip_install(venv, "gamma==1.0", wheelhouse=wheelhouse)
    assert rec.outside_id == 2 and rec.entry_id == 3
    with history.History.open(target) as db:
        outside, last = db.entries()[1:]
    assert outside.outside and outside.command == "(outside pipkit)"
    assert [p.pin for p in outside.diff.added] == ["beta==1.0"]
    assert [p.pin for p in last.diff.added] == ["gamma==1.0"]
    # Looking again finds nothing new.
    assert history.notice_outside_changes(target) is None


def test_direct_url_and_editable_origins_are_kept(venv, tmp_path):  # type: ignore[no-untyped-def]
    target = _target(venv)
    direct = make_wheel(tmp_path / "direct", "directpkg", "3.1")
    with history.recording(target, "pipkit install directpkg"):
        pip_install(venv, f"directpkg @ {direct.as_uri()}")
    site = site_packages(venv)
    fake_editable(site, "edpkg", "0.5", (tmp_path / "proj").as_uri())
    history.notice_outside_changes(target)
    with history.History.open(target) as db:
        first, outside = db.entries()
    assert first.diff.added[0].origin == direct.as_uri()
    added = outside.diff.added[0]
    assert added.editable and added.origin == (tmp_path / "proj").as_uri()
    assert added.describe() == f"0.5 editable {(tmp_path / 'proj').as_uri()}"


def test_history_trouble_is_a_warning_never_an_error(venv, wheelhouse, caplog):  # type: ignore[no-untyped-def]
    target = _target(venv)
    target.state_dir.mkdir(parents=True, exist_ok=True)
    (target.state_dir / "history.sqlite3").write_bytes(b"this is not a database" * 100)
    with history.recording(target, "pipkit install alpha") as rec:
        pip_install(venv, "alpha==1.0", wheelhouse=wheelhouse)
    assert rec.entry_id is None
    assert any(
        r.levelname == "WARNING" and "history: cannot record this change" in r.getMessage()
        for r in caplog.records
    )


def test_interrupted_entry_is_marked_when_found(venv, wheelhouse):  # type: ignore[no-untyped-def]
    target = _target(venv)
    with history.History.open(target) as db:
        db.add("pipkit install alpha", history.RUNNING, history.snapshot(target), None)
    pip_install(venv, "alpha==1.0", wheelhouse=wheelhouse)  # the dead process's pip finished
    with history.recording(target, "pipkit install beta"):
        pass
    with history.History.open(target) as db:
        first, second = db.entries()
    assert first.result == "interrupted" and [p.pin for p in first.diff.added] == ["alpha==1.0"]
    assert second.result == "ok" and second.diff.empty


def test_concurrent_writers_lose_nothing(tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "h.sqlite3"
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            with history.History(path) as db:
                for index in range(25):
                    entry = db.add(f"w{worker}-{index}", history.RUNNING, {}, None)
                    db.finish(entry, "ok", {})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with history.History(path) as db:
        entries = db.entries()
    assert len(entries) == 150 and {e.result for e in entries} == {"ok"}
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


# -- rollback locks -----------------------------------------------------------------------------


def test_rollback_lock_round_trips_origins_through_the_sync_plan(venv, wheelhouse, tmp_path):  # type: ignore[no-untyped-def]
    """A lock made from the installed set is in sync with it: origins compare as sync does."""
    from pipkit.core.plan import diff as plan_diff
    from pipkit.env.dists import iter_distributions

    pip_install(venv, "alpha==1.0", "localv", "epoch", wheelhouse=wheelhouse)
    direct = make_wheel(tmp_path / "direct", "directpkg", "3.1")
    pip_install(venv, f"directpkg @ {direct.as_uri()}")
    project = tmp_path / "proj"
    project.mkdir()
    fake_editable(site_packages(venv), "edpkg", "0.5", project.as_uri())
    target = _target(venv)
    with history.recording(target, "pipkit install things"):
        pass
    now = history.snapshot(target)
    entry = history.Entry(1, "t", "c", "ok", False, now, now)
    plan = rollback.RollbackPlan(entry, False, now, now, sources={})
    lock = rollback.rollback_lock(target, plan)
    by_name = {e.name: e for e in lock.entries}
    assert by_name["alpha"].line == "alpha==1.0"
    assert by_name["localv"].line == "localv==1.0+local.7"
    assert by_name["directpkg"].line == f"directpkg @ {direct.as_uri()}"
    assert by_name["edpkg"].editable and by_name["edpkg"].line == str(project)
    assert lock.options.no_index and lock.options.find_links == (str(target.state_dir / "store"),)
    result = plan_diff(list(iter_distributions(target.sys_path)), lock.entries)
    assert result.is_noop, result


def test_missing_sources_are_named(venv, wheelhouse, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    target = _target(venv)
    with history.recording(target, "pipkit nothing"):
        pass
    current = history.snapshot(target)
    wanted = dict(current)
    for pkg in (
        snap.Pkg("alpha", "1.0"),
        snap.Pkg("gone", "1.0", origin=(tmp_path / "nowhere").as_uri(), editable=True),
        snap.Pkg("remote", "2.0", origin="https://example.invalid/remote-2.0.tar.gz"),
    ):
        wanted[pkg.key] = pkg
    sources, missing, unreachable = rollback._find_sources(target, snap.diff(current, wanted))
    assert sources == {"remote": rollback.REMOTE}
    assert missing == ("alpha==1.0", f"gone (editable {(tmp_path / 'nowhere').as_uri()})")
    assert unreachable and "no package index" in unreachable

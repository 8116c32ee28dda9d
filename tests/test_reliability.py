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

from tests.test_sync import base_venv, env, run_cli, site_packages, wheels, write_lock
from tests.wheelmaker import make_wheel

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
        "sys.argv = ['pipkit', 'show', 'pip']\n"
        "from pipkit.fastpath import main\n"
        "main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert result.returncode == 130
    assert result.stderr == "pipkit: interrupted\n"


# -- fixtures: two more installed dists, and a wheel that fails part-way -------------------------


@pytest.fixture(scope="module")
def rel_wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("rel-wheels")
    make_wheel(folder, "victimdist", "1.0", module="victim_mod")
    make_wheel(folder, "nsa", "1.0", module="nsa_top", files={"shared/ns_a.py": "A = 1\n"})
    # pip writes the root files, then the data files, and stops at the unknown scheme key:
    # a file added to the shared namespace folder, another dist's module overwritten, new
    # nested folders, a data file under <prefix>/share, then the failure.
    make_wheel(
        folder,
        "aabad",
        "1.0",
        files={
            "shared/ns_bad.py": "B = 1\n",
            "victim_mod.py": "OVERWRITTEN = 1\n",
            "newpkg/sub/deep.py": "x = 1\n",
            "aabad-1.0.data/data/share/aabad/x.txt": "data\n",
            "aabad-1.0.data/zzbogus/boom.txt": "boom\n",
        },
    )
    return folder


@pytest.fixture(scope="module")
def rel_base(base_venv: Path, rel_wheels: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("rel-base") / "venv"
    subprocess.run(["cp", "-a", str(base_venv), str(venv)], check=True)
    cfg = venv / "pyvenv.cfg"
    cfg.write_text(cfg.read_text().replace(str(base_venv), str(venv)))
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index"]
    subprocess.run([*pip, "--find-links", str(rel_wheels), "victimdist", "nsa"], check=True)
    return venv


@pytest.fixture
def renv(rel_base: Path, tmp_path: Path) -> Path:
    """A copy of rel_base: alpha, beta, gamma 1.0, victimdist 1.0, nsa 1.0 (shared/ns_a.py)."""
    dest = tmp_path / "venv"
    subprocess.run(["cp", "-a", str(rel_base), str(dest)], check=True)
    cfg = dest / "pyvenv.cfg"
    cfg.write_text(cfg.read_text().replace(str(rel_base), str(dest)))
    return dest


def history_results(venv: Path) -> list[str]:
    import sqlite3

    path = venv / "pipkit" / "history.sqlite3"
    if not path.exists():
        return []
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT result FROM entries ORDER BY id")]


def record_of(venv: Path, dist: str) -> Path:
    return next(site_packages(venv).glob(f"{dist}-*.dist-info")) / "RECORD"


# -- 1. a RECORD path through a symlink -----------------------------------------------------------


def test_uninstall_never_follows_a_symlink_out_of_the_env(renv, tmp_path):  # type: ignore[no-untyped-def]
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.txt"
    victim.write_bytes(b"not the environment's\n")
    (site_packages(renv) / "link").symlink_to(outside, target_is_directory=True)
    record = record_of(renv, "gamma")
    record.write_text(record.read_text() + "link/victim.txt,,\n")

    result = run_cli("--python", str(renv), "uninstall", "gamma", "--yes", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert victim.read_bytes() == b"not the environment's\n"
    assert sorted(os.listdir(outside)) == ["victim.txt"]
    assert "not touching" in result.stderr and "link/victim.txt" in result.stderr
    assert not list(site_packages(renv).glob("gamma-*"))
    # Nor packed into the store: gamma cannot be kept whole, and pipkit says so when it
    # repacks the parked stash, the next time the store is read (here: a rollback's dry run).
    looked = run_cli("--python", str(renv), "rollback", "--dry-run", cwd=tmp_path)
    assert "not kept for offline rollback" in looked.stderr
    assert not list((renv / "pipkit" / "store").rglob("gamma-*.whl"))
    assert victim.read_bytes() == b"not the environment's\n"
    assert sorted(os.listdir(outside)) == ["victim.txt"]


# -- 4. pipkit's own state is never a package's ----------------------------------------------------


def test_a_record_naming_pipkits_state_leaves_history_and_store(renv, wheels, tmp_path):  # type: ignore[no-untyped-def]
    lock = write_lock(
        tmp_path / "requirements.txt", wheels,
        "alpha==2.0", "beta==1.0", "gamma==1.0", "victimdist==1.0", "nsa==1.0",
    )  # fmt: skip
    first = run_cli("--python", str(renv), "sync", str(lock), "--yes", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    state = renv / "pipkit"
    store_before = tree_state(state / "store", skip_state=False)
    assert store_before  # alpha 1.0 was kept
    record = record_of(renv, "gamma")
    record.write_text(
        record.read_text() + "../../../pipkit/history.sqlite3,,\n../../../pipkit/store,,\n"
        "../../../pipkit/store/index.json,,\n"
    )
    result = run_cli("--python", str(renv), "uninstall", "gamma", "--yes", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "not touching" in result.stderr
    assert history_results(renv) == ["ok", "ok"]  # both changes, the first one kept
    after = tree_state(state / "store", skip_state=False)
    assert {k: v for k, v in after.items() if k in store_before} == store_before


# -- 3. undo is complete ---------------------------------------------------------------------------


@pytest.mark.parametrize("wheels_known", [True, False])
def test_a_wheel_failing_part_way_is_undone_to_the_byte(renv, rel_wheels, tmp_path, wheels_known):  # type: ignore[no-untyped-def]
    # wheels_known: the lock says --no-index, so pipkit reads the wheel's own file list and
    # backs up only what it would overwrite; else (an index could serve another wheel) it
    # backs up every file of the scheme.
    options = "--no-index\n" if wheels_known else ""
    lock = tmp_path / "requirements.txt"
    names = "alpha==1.0\nbeta==1.0\ngamma==1.0\nvictimdist==1.0\nnsa==1.0\naabad==1.0\n"
    lock.write_text(f"{options}--find-links {rel_wheels}\n{names}")
    before = tree_state(renv)
    extra = {} if wheels_known else {"PIP_NO_INDEX": "1"}
    result = run_cli("--python", str(renv), "sync", str(lock), "--yes", cwd=tmp_path, env=extra)
    assert result.returncode == 1, result.stderr
    line = one_error_line(result.stderr)
    assert "the environment was left as it was" in line
    # pip's own words are in the log file the line names (its output is captured, not shown)
    log = Path(line.rsplit("pip's output is in ", 1)[1].strip())
    assert "Unknown scheme key" in log.read_text()
    assert diff_states(before, tree_state(renv)) == ([], [], [])
    assert (site_packages(renv) / "victim_mod.py").read_text() == '__version__ = "1.0"\n'
    assert history_results(renv) == ["rolled back"]


def test_sigkill_then_recover_removes_new_folders_and_data(renv, rel_wheels, tmp_path):  # type: ignore[no-untyped-def]
    lock = tmp_path / "requirements.txt"
    names = "alpha==1.0\nbeta==1.0\ngamma==1.0\nvictimdist==1.0\nnsa==1.0\naabad==1.0\n"
    lock.write_text(f"--no-index\n--find-links {rel_wheels}\n{names}")
    before = tree_state(renv)
    # Killed right before pip runs; pip then runs by hand, as if it outlived pipkit.
    killed = run_cli(
        "--python", str(renv), "sync", str(lock), "--yes", cwd=tmp_path,
        env={"PIPKIT_TEST_KILL_AT": "stashed"},
    )  # fmt: skip
    assert killed.returncode == -9
    subprocess.run(
        [str(renv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index", "--no-deps",
         "--find-links", str(rel_wheels), "aabad==1.0"],
        capture_output=True,
    )  # fmt: skip
    assert (renv / "share" / "aabad" / "x.txt").exists()  # pip did leave its mess
    recovered = run_cli("--python", str(renv), "recover", "--yes", cwd=tmp_path)
    assert recovered.returncode == 0, recovered.stderr
    assert diff_states(before, tree_state(renv)) == ([], [], [])


# -- 2. recover trusts nothing on disk ------------------------------------------------------------


def _pending(renv: Path, wheels: Path, tmp_path: Path) -> Path:
    """A real pending journal: a sync of alpha 2.0 SIGKILLed once stashed."""
    lock = write_lock(tmp_path / "requirements.txt", wheels, "alpha==2.0", "beta==1.0")
    killed = run_cli(
        "--python", str(renv), "sync", str(lock), "--yes", cwd=tmp_path,
        env={"PIPKIT_TEST_KILL_AT": "stashed"},
    )  # fmt: skip
    assert killed.returncode == -9
    txn = renv / "pipkit" / "transaction"
    assert (txn / "journal.json").exists()
    return txn


@pytest.mark.parametrize(
    "damage",
    ["not-utf8", "not-json", "phase-mistyped", "stash-elsewhere", "snapshot-outside", "version"],
)
def test_recover_refuses_a_journal_it_did_not_write(renv, wheels, tmp_path, damage):  # type: ignore[no-untyped-def]
    import json

    txn = _pending(renv, wheels, tmp_path)
    outside = tmp_path / "outside"
    (outside / "folder").mkdir(parents=True)
    (outside / "folder" / "keep.txt").write_text("mine\n")
    journal_path = txn / "journal.json"
    journal = json.loads(journal_path.read_text())
    if damage == "not-utf8":
        journal_path.write_bytes(b'{"version": 1, "phase": "\xff"}')
    elif damage == "not-json":
        journal_path.write_text("{")
    elif damage == "phase-mistyped":
        journal["phase"] = 5
        journal_path.write_text(json.dumps(journal))
    elif damage == "version":
        journal["version"] = "1"
        journal_path.write_text(json.dumps(journal))
    elif damage == "stash-elsewhere":
        # A stash mirroring outside/folder: restoring it would write there, then rmtree it.
        fake = tmp_path / "fake-stash"
        target = fake / "root" / str(outside / "folder").lstrip("/")
        target.mkdir(parents=True)
        (target / "planted.txt").write_text("x\n")
        journal["stash"] = str(fake)
        journal_path.write_text(json.dumps(journal))
    else:
        snap_path = txn / "snapshot.json"
        snapshot = json.loads(snap_path.read_text())
        snapshot["trees"].append([str(outside), True])
        snapshot["entries"][str(outside)] = ["d", 0, 0, 0, None]
        snap_path.write_text(json.dumps(snapshot))
    before = tree_state(renv)
    outside_before = tree_state(outside, skip_state=False)
    result = run_cli("--python", str(renv), "recover", "--yes", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    line = one_error_line(result.stderr)
    assert "journal.json" in line and "refusing" in line
    assert tree_state(outside, skip_state=False) == outside_before
    assert tree_state(renv) == before
    assert journal_path.exists()  # still pending: a person decides


# -- 5. Ctrl-C during the commit -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("point", "sig"),
    [("installed", "INT"), ("committing", "INT"), ("archived", "INT"), ("installed", "TERM")],
)
def test_ctrl_c_past_the_point_of_no_return_keeps_the_change(env, wheels, tmp_path, point, sig):  # type: ignore[no-untyped-def]
    # SIGTERM (a service manager stopping pipkit) is answered as Ctrl-C is.
    lock = write_lock(tmp_path / "requirements.txt", wheels, "alpha==2.0", "beta==1.0")
    result = run_cli(
        "--python", str(env), "sync", str(lock), "--yes", cwd=tmp_path,
        env={"PIPKIT_TEST_SIGNAL_AT": f"{point}:{sig}"},
    )  # fmt: skip
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1] == (
        "pipkit: interrupted: the change was already committed: it was KEPT, not undone "
        "(history: ok)"
    )
    assert history_results(env) == ["ok"]
    assert not (env / "pipkit" / "transaction").exists()
    check = run_cli("--python", str(env), "check", str(lock), cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr


@pytest.mark.parametrize("sig", ["INT", "TERM"])
def test_ctrl_c_before_the_point_of_no_return_undoes(env, wheels, tmp_path, sig):  # type: ignore[no-untyped-def]
    lock = write_lock(tmp_path / "requirements.txt", wheels, "alpha==2.0", "beta==1.0")
    before = tree_state(env)
    result = run_cli(
        "--python", str(env), "sync", str(lock), "--yes", cwd=tmp_path,
        env={"PIPKIT_TEST_SIGNAL_AT": f"snapshot:{sig}"},
    )  # fmt: skip
    assert result.returncode == 130, result.stderr
    assert result.stderr.splitlines()[-1] == "pipkit: interrupted"
    assert diff_states(before, tree_state(env)) == ([], [], [])
    assert history_results(env) == ["rolled back"]


# -- 7. a locked history refuses the change --------------------------------------------------------


def test_a_locked_history_refuses_the_change_unless_no_history(env, wheels, tmp_path):  # type: ignore[no-untyped-def]
    import sqlite3

    from pipkit.env.ledger import History

    db = env / "pipkit" / "history.sqlite3"
    History(db).close()  # the database exists, as after any earlier change
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys\n"
         f"conn = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
         "conn.execute('BEGIN IMMEDIATE')\n"
         "print('locked', flush=True)\n"
         "sys.stdin.readline()\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        lock = write_lock(tmp_path / "requirements.txt", wheels, "alpha==2.0", "beta==1.0")
        before = tree_state(env)
        waits = {"PIPKIT_HISTORY_TIMEOUT": "0.2"}
        result = run_cli("--python", str(env), "sync", str(lock), "--yes", cwd=tmp_path, env=waits)
        assert result.returncode == 1, result.stderr
        line = one_error_line(result.stderr)
        assert f"locked by pid {holder.pid}" in line and "nothing was changed" in line
        assert "--no-history" in line
        assert diff_states(before, tree_state(env)) == ([], [], [])
        forced = run_cli(
            "--python", str(env), "--no-history", "sync", str(lock), "--yes",
            cwd=tmp_path, env=waits,
        )  # fmt: skip
        assert forced.returncode == 0, forced.stderr
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM entries").fetchone()[0] == 0

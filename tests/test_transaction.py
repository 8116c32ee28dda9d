"""All or nothing: every failure leaves the env exactly as it was, files and versions.

Failures: a hash mismatch, a wheel that fails part-way (after others were installed), a
cut-off wheel, Ctrl-C while pip runs, SIGKILL at several moments followed by ``recover``, a
second pipkit waiting on the env lock; and install/uninstall going through the same door.
pipkit runs as a subprocess wherever signals are involved. Tests taking the ``engine`` fixture
run once per installer engine (pip, uv: ``PIPKIT_INSTALLER``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import require, wait_until
from tests.loopback import FileServer
from tests.test_sync import (
    base_venv,
    block,
    dist_infos,
    env,
    file_state,
    imported_version,
    run_cli,
    sha256_of,
    site_packages,
    wheels,
    write_lock,
)
from tests.wheelmaker import make_wheel

__all__ = ["base_venv", "env", "wheels"]  # fixtures, imported for pytest


def _assert_unchanged(venv: Path, before: dict[str, str]) -> None:
    after = file_state(venv)
    added = sorted(set(after) - set(before))
    lost = sorted(set(before) - set(after))
    altered = sorted(k for k in before if k in after and before[k] != after[k])
    assert (added, lost, altered) == ([], [], [])
    assert dist_infos(venv)["alpha"] == ["1.0"]  # one dist-info, the old version
    assert imported_version(venv, "alpha") == "1.0"
    assert "alpha 1.0" in (venv / "bin" / "alpha-tool").read_text()  # scripts came back too
    assert not (venv / "pipkit" / "transaction").exists()


# What each installer says when a wheel does not match its lock's hash.
HASH_MISMATCH = {
    "pip": "THESE PACKAGES DO NOT MATCH THE HASHES",
    "uv": "Hash mismatch for `alpha==2.0`",
}


def test_hash_mismatch_changes_nothing(engine, env, wheels, tmp_path):  # type: ignore[no-untyped-def]
    beta = wheels / "beta-2.0-py3-none-any.whl"
    lock = write_lock(
        tmp_path / "requirements.txt",
        wheels,
        f"alpha==2.0 --hash=sha256:{'0' * 64}",
        f"beta==2.0 --hash={sha256_of(beta)}",
    )
    before = file_state(env)
    # -v: pip's own output streams, as pip's would.
    result = run_cli("-v", "--python", str(env), "sync", str(lock), "--yes", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert HASH_MISMATCH[engine] in result.stderr
    assert result.stderr.strip().endswith(
        f"pipkit: error: {engine} failed (exit code 1); the environment was left as it was"
    )
    assert "Traceback" not in result.stderr
    _assert_unchanged(env, before)


def test_wheel_failing_part_way_is_undone(env, wheels, tmp_path):  # type: ignore[no-untyped-def]
    # pip installs alpha, beta, gamma 2.0 and needy, then fails on aabroken (a file escaping
    # site-packages): everything it did must go, and the stashed 1.0s come back.
    lock = write_lock(
        tmp_path / "requirements.txt",
        wheels,
        "alpha==2.0",
        "beta==2.0",
        "gamma==2.0",
        "aabroken==1.0",
    )
    before = file_state(env)
    result = run_cli("-v", "--python", str(env), "sync", str(lock), "--yes", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Installing collected packages: gamma, beta, alpha, aabroken" in result.stdout
    assert "the environment was left as it was" in result.stderr
    _assert_unchanged(env, before)
    assert dist_infos(env)["gamma"] == ["1.0"]


def test_install_failing_part_way_is_undone(engine, env, wheels, tmp_path):  # type: ignore[no-untyped-def]
    # Both installers put alpha, beta and gamma 2.0 in, then fail on aablocked (its folder is
    # taken by a plain file): everything they did must go, and the stashed 1.0s come back.
    lock = write_lock(
        tmp_path / "requirements.txt", wheels, "alpha==2.0", "beta==2.0", "gamma==2.0",
        "aablocked==1.0",
    )  # fmt: skip
    block(env)
    before = file_state(env)
    result = run_cli("--python", str(env), "sync", str(lock), "--yes", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "aablocked" in result.stdout + result.stderr  # the installer named what failed
    assert (
        f"{engine} failed" in result.stderr
        and "the environment was left as it was" in result.stderr
    )
    _assert_unchanged(env, before)
    assert dist_infos(env)["gamma"] == ["1.0"]


def test_cut_off_wheel_is_undone(engine, env, wheels, tmp_path):  # type: ignore[no-untyped-def]
    lock = write_lock(
        tmp_path / "requirements.txt", wheels, "alpha==2.0", "beta==1.0", "aacut==1.0"
    )
    before = file_state(env)
    result = run_cli("--python", str(env), "sync", str(lock), "--yes", cwd=tmp_path)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr
    program = "uv" if engine == "uv" else "pip"
    assert last.startswith(
        f"pipkit: error: {program} failed (exit code 1); the environment was left as it was"
    ), last
    _assert_unchanged(env, before)


def _start_sync(env: Path, lock: Path, cwd: Path, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        # -v: pip's own output streams, so the test sees pip at work.
        [sys.executable, "-m", "pipkit", "-v", "--python", str(env), "sync", str(lock), "--yes"],
        cwd=cwd,
        env={**os.environ, **extra},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _slow_lock(tmp_path: Path, wheels: Path, server: FileServer) -> Path:
    """A lock whose last wheel comes from ``server`` (which stalls its download)."""
    lock = write_lock(
        tmp_path / "requirements.txt", wheels, "alpha==2.0", "beta==2.0", "aaslow==1.0"
    )
    text = lock.read_text().replace("--no-index\n", f"--no-index\n--find-links {server.url}\n")
    lock.write_text(text)
    return lock


def _slow_server(tmp_path: Path) -> FileServer:
    make_wheel(tmp_path / "slow", "aaslow", "1.0")
    return FileServer(tmp_path / "slow", stall="aaslow-1.0-py3-none-any.whl")


def _wait_for_line(process: subprocess.Popen[str], text: str, timeout: float = 60) -> None:
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    for line in process.stdout:
        if text in line:
            return
        assert time.monotonic() < deadline, f"no {text!r} from pipkit in time"
    raise AssertionError(f"pipkit ended without printing {text!r}")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_while_pip_installs_restores(env, wheels, tmp_path, signum):  # type: ignore[no-untyped-def]
    lock = write_lock(
        tmp_path / "requirements.txt", wheels, "alpha==2.0", "beta==2.0", "aahuge==1.0"
    )
    before = file_state(env)
    process = _start_sync(env, lock, tmp_path)
    _wait_for_line(process, "Installing collected packages")
    # pip installs aahuge last: once its package folder appears, alpha and beta are in and
    # aahuge's 2,500 modules are being written.
    wait_until((site_packages(env) / "aahuge_pkg").is_dir, "pip to start writing aahuge")
    process.send_signal(signum)  # SIGTERM (a service manager stopping pipkit) as Ctrl-C
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "pipkit: interrupted" in err and "Traceback" not in err
    _assert_unchanged(env, before)


def test_ctrl_c_while_the_installer_downloads_restores(engine, env, wheels, tmp_path):  # type: ignore[no-untyped-def]
    # Deterministic for both engines: the installer is stuck on a download that the test
    # holds, so the interrupt lands while it runs, after the stash.
    before = file_state(env)
    with _slow_server(tmp_path) as server:
        lock = _slow_lock(tmp_path, wheels, server)
        process = _start_sync(env, lock, tmp_path)
        assert server.stalled.wait(60), "the installer never asked for aaslow"
        assert imported_version(env, "alpha") == "ImportError"  # stashed: the change runs
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "pipkit: interrupted" in err and "Traceback" not in err
    _assert_unchanged(env, before)


def test_sigkill_while_the_installer_runs_then_recover_undoes(engine, env, wheels, tmp_path):  # type: ignore[no-untyped-def]
    # Only pipkit dies; the installer (holding the env lock's inherited fd) finishes once the
    # download is let go, and recover, waiting for the lock, then undoes all of it.
    before = file_state(env)
    with _slow_server(tmp_path) as server:
        lock = _slow_lock(tmp_path, wheels, server)
        process = _start_sync(env, lock, tmp_path)
        assert server.stalled.wait(60), "the installer never asked for aaslow"
        process.kill()
        process.wait(timeout=30)
        server.release.set()
        recovered = run_cli(
            "--python", str(env), "recover", "--yes", cwd=tmp_path,
            env={"PIPKIT_LOCK_TIMEOUT": "60"},
        )  # fmt: skip
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()
    assert recovered.returncode == 0, recovered.stderr
    assert "undid the interrupted" in recovered.stderr
    _assert_unchanged(env, before)


@pytest.mark.parametrize("point", ["journal", "stash", "stashed"])
def test_sigkill_before_pip_then_recover_undoes(engine, env, wheels, tmp_path, point):  # type: ignore[no-untyped-def]
    lock = write_lock(
        tmp_path / "requirements.txt", wheels, "alpha==2.0", "beta==2.0", "gamma==1.0"
    )
    before = file_state(env)
    killed = run_cli(
        "--python", str(env), "sync", str(lock), "--yes", cwd=tmp_path,
        env={"PIPKIT_TEST_KILL_AT": point},
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL
    journal = json.loads((env / "pipkit" / "transaction" / "journal.json").read_text())
    assert journal["command"].startswith("pipkit ") and journal["phase"] in ("prepared", "stashed")
    if point != "journal":
        assert imported_version(env, "alpha") == "ImportError"  # stashed away

    # Every command that reads or changes the env says so; changing ones refuse.
    check = run_cli("--python", str(env), "check", str(lock), cwd=tmp_path)
    assert "pipkit recover" in check.stderr
    again = run_cli("--python", str(env), "sync", str(lock), "--yes", cwd=tmp_path)
    assert again.returncode == 1 and "pipkit recover" in again.stderr

    recovered = run_cli("--python", str(env), "recover", "--yes", cwd=tmp_path)
    assert recovered.returncode == 0, recovered.stderr
    assert "undid the interrupted" in recovered.stderr
    _assert_unchanged(env, before)
    nothing = run_cli("--python", str(env), "recover", "--yes", cwd=tmp_path)
    assert nothing.returncode == 0 and "nothing to recover" in nothing.stderr


@pytest.mark.parametrize("point", ["installed", "committing"])
def test_sigkill_after_pip_then_recover_finishes(engine, env, wheels, tmp_path, point):  # type: ignore[no-untyped-def]
    lock = write_lock(
        tmp_path / "requirements.txt", wheels, "alpha==2.0", "beta==2.0", "gamma==1.0"
    )
    killed = run_cli(
        "--python", str(env), "sync", str(lock), "--yes", cwd=tmp_path,
        env={"PIPKIT_TEST_KILL_AT": point},
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL
    recovered = run_cli("--python", str(env), "recover", "--yes", cwd=tmp_path)
    assert recovered.returncode == 0, recovered.stderr
    assert "finished the interrupted" in recovered.stderr
    assert dist_infos(env)["alpha"] == ["2.0"] and dist_infos(env)["beta"] == ["2.0"]
    assert imported_version(env, "alpha") == "2.0"
    assert not (env / "pipkit" / "transaction").exists()
    check = run_cli("--python", str(env), "check", str(lock), cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr


def test_sigkill_during_pip_then_recover_undoes(env, wheels, tmp_path):  # type: ignore[no-untyped-def]
    # Only pipkit dies: pip goes on holding the env lock (it inherited the lock's fd), so
    # recover waits for it to finish, then undoes what it did.
    lock = write_lock(
        tmp_path / "requirements.txt", wheels, "alpha==2.0", "beta==2.0", "aahuge==1.0"
    )
    before = file_state(env)
    process = _start_sync(env, lock, tmp_path)
    _wait_for_line(process, "Installing collected packages")
    process.kill()
    process.wait(timeout=30)
    recovered = run_cli(
        "--python", str(env), "recover", "--yes", cwd=tmp_path,
        env={"PIPKIT_LOCK_TIMEOUT": "60"},
    )  # fmt: skip
    assert recovered.returncode == 0, recovered.stderr
    assert "undid the interrupted" in recovered.stderr
    if process.stdout is not None:
        process.stdout.close()
    if process.stderr is not None:
        process.stderr.close()
    _assert_unchanged(env, before)


def test_a_second_pipkit_waits_then_gives_up(env, wheels, tmp_path):  # type: ignore[no-untyped-def]
    from pipkit.env import mutex
    from pipkit.env.target import resolve_target

    lock = write_lock(tmp_path / "requirements.txt", wheels, "alpha==2.0", "beta==1.0")
    before = file_state(env)
    with mutex.hold(resolve_target(str(env))):
        started = time.monotonic()
        result = run_cli(
            "--python", str(env), "sync", str(lock), "--yes", cwd=tmp_path,
            env={"PIPKIT_LOCK_TIMEOUT": "0.5"},
        )  # fmt: skip
        waited = time.monotonic() - started
    assert result.returncode == 1
    assert "another pipkit" in result.stderr and "PIPKIT_LOCK_TIMEOUT" in result.stderr
    assert waited >= 0.5
    _assert_unchanged(env, before)
    bad = run_cli(
        "--python", str(env), "sync", str(lock), "--yes", cwd=tmp_path,
        env={"PIPKIT_LOCK_TIMEOUT": "soon"},
    )  # fmt: skip
    assert bad.returncode == 2 and "PIPKIT_LOCK_TIMEOUT" in bad.stderr


def test_install_and_uninstall_are_all_or_nothing(engine, run_pipkit, env, wheels, tmp_path):  # type: ignore[no-untyped-def]
    py = ["--python", str(env)]
    links = ["--", "--no-index", "--find-links", str(wheels)]
    block(env)
    before = file_state(env)
    # alpha 2.0 would replace 1.0, then aablocked fails: the upgrade is undone too.
    failed = run_pipkit(*py, "install", "alpha==2.0", "aablocked", *links)
    assert failed.exit_code == 1
    _assert_unchanged(env, before)

    ok = run_pipkit(*py, "install", "alpha==2.0", *links)
    assert ok.exit_code == 0, ok.output
    assert dist_infos(env)["alpha"] == ["2.0"]
    assert imported_version(env, "alpha") == "2.0"

    removed = run_pipkit(*py, "uninstall", "gamma", "beta", "--yes")
    assert removed.exit_code == 0, removed.output
    assert "beta" not in dist_infos(env) and "gamma" not in dist_infos(env)
    assert not (site_packages(env) / "gamma.py").exists()
    assert not (env / "pipkit" / "transaction").exists()


def test_a_failing_history_costs_a_warning_not_the_env(
    run_pipkit, env, wheels, tmp_path, monkeypatch
):  # type: ignore[no-untyped-def]
    from pipkit.env import ledger as history

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(history, "recording", broken)
    monkeypatch.setattr(history, "archive", broken)
    lock = write_lock(tmp_path / "requirements.txt", wheels, "alpha==2.0", "beta==1.0")
    result = run_pipkit("--python", str(env), "sync", str(lock), "--yes")
    assert result.exit_code == 0, result.output
    assert "history: not recording this change (disk on fire)" in result.stderr
    assert "history: could not archive" in result.stderr
    assert dist_infos(env)["alpha"] == ["2.0"] and "gamma" not in dist_infos(env)
    assert not (env / "pipkit" / "transaction").exists()


def test_pip_replacing_itself_is_undone_too(env, wheels, tmp_path):  # type: ignore[no-untyped-def]
    # pip pinned to another version is stashed by copy (pip must still run to replace itself);
    # pip uninstalls itself, installs "99.0", then aabroken fails: the real pip comes back.
    lock = write_lock(
        tmp_path / "requirements.txt",
        wheels,
        "alpha==2.0",
        "beta==1.0",
        "gamma==1.0",
        "wheel==0.42",
        "pip==99.0",
        "aabroken==1.0",
    )
    before = file_state(env)
    result = run_cli("-v", "--python", str(env), "sync", str(lock), "--yes", cwd=tmp_path)
    assert result.returncode == 1
    assert "Successfully uninstalled pip" in result.stdout  # pip's own output, under -v
    _assert_unchanged(env, before)
    version = subprocess.run(
        [str(env / "bin" / "python"), "-m", "pip", "--version"], capture_output=True, text=True
    )
    assert version.returncode == 0 and "99.0" not in version.stdout


def test_stdlib_undo_when_pipkit_cannot_start(env, wheels, tmp_path):  # type: ignore[no-untyped-def]
    # The last resort: undo from the journal alone, with typer and packaging unavailable.
    lock = write_lock(
        tmp_path / "requirements.txt", wheels, "alpha==2.0", "beta==2.0", "gamma==1.0"
    )
    before = file_state(env)
    killed = run_cli(
        "--python", str(env), "sync", str(lock), "--yes", cwd=tmp_path,
        env={"PIPKIT_TEST_KILL_AT": "stashed"},
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL
    journal = json.loads((env / "pipkit" / "transaction" / "journal.json").read_text())
    assert journal["undo_command"].endswith(f"-m pipkit.env.transaction undo {env / 'pipkit'}")
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    for name in ("typer", "packaging"):
        (blocker / f"{name}.py").write_text("raise ImportError('not here')\n")
    undone = subprocess.run(
        [sys.executable, "-m", "pipkit.env.transaction", "undo", str(env / "pipkit")],
        env={**os.environ, "PYTHONPATH": str(blocker)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert undone.returncode == 0, undone.stderr
    _assert_unchanged(env, before)


def test_stash_inside_site_packages_when_state_dir_is_elsewhere(
    engine, run_pipkit, env, wheels, tmp_path
):  # type: ignore[no-untyped-def]
    # A state dir on another file system than site-packages (a system Python's under $HOME;
    # here the venv's own, a symlink onto a tmpfs): a stash cannot be made by renames there, so
    # it lives in a hidden folder of site-packages and goes with the transaction. Nothing is
    # mocked: the decision is pipkit's, from the real devices.
    other_fs = Path("/dev/shm")
    site = site_packages(env)
    if not other_fs.is_dir() or other_fs.stat().st_dev == site.stat().st_dev:
        require(False, "a second file system (a tmpfs at /dev/shm)")
    elsewhere = Path(tempfile.mkdtemp(prefix="pipkit-state-", dir=other_fs))
    try:
        (env / "pipkit").symlink_to(elsewhere, target_is_directory=True)
        block(env)
        before = file_state(env)
        bad = write_lock(tmp_path / "bad.txt", wheels, "alpha==2.0", "beta==1.0", "aablocked==1.0")
        failed = run_cli("--python", str(env), "sync", str(bad), "--yes", cwd=tmp_path)
        assert failed.returncode == 1, failed.stderr
        _assert_unchanged(env, before)
        # Where the stash was: killed once it is made, the hidden folder is in site-packages.
        good = write_lock(tmp_path / "good.txt", wheels, "alpha==2.0", "beta==1.0")
        killed = run_cli(
            "--python", str(env), "sync", str(good), "--yes", cwd=tmp_path,
            env={"PIPKIT_TEST_KILL_AT": "stashed"},
        )  # fmt: skip
        assert killed.returncode == -signal.SIGKILL
        stashes = sorted(p.name for p in site.glob(".pipkit-stash-*"))
        assert len(stashes) == 1, stashes
        assert not (elsewhere / "transaction" / "stash").exists()
        recovered = run_cli("--python", str(env), "recover", "--yes", cwd=tmp_path)
        assert recovered.returncode == 0, recovered.stderr
        _assert_unchanged(env, before)
        ok = run_pipkit("--python", str(env), "sync", str(good), "--yes")
        assert ok.exit_code == 0, ok.output
        assert imported_version(env, "alpha") == "2.0"
        assert not list(site.glob(".pipkit-stash-*"))
    finally:
        shutil.rmtree(elsewhere, ignore_errors=True)

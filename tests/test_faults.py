"""Randomized faults: SIGKILL, SIGINT or SIGTERM at a random moment of a 20-change sync, then
``recover``; the environment's whole tree must be exactly the before or the after.

A fixed seed, 3 trials by default; ``PIPKIT_FAULT_TRIALS=50`` for more. A trial stops pipkit
either at a random named point of the transaction (``PIPKIT_TEST_KILL_AT`` /
``PIPKIT_TEST_SIGNAL_AT``, the Nth time it is reached) or after a random delay within the
time a clean run took (pip may then be killed with it, or outlive it). Plus an ENOSPC run on a
small tmpfs, where the test runs as root (mounting needs it).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.test_reliability import diff_states, one_error_line, tree_state
from tests.test_sync import base_venv, run_cli, site_packages, wheels
from tests.wheelmaker import make_wheel

__all__ = ["base_venv", "wheels"]  # fixtures, imported for pytest

SEED = 12
POINTS = ["journal", "stash", "stashed", "snapshot", "installed", "committing", "archived"]
UPGRADED = [f"fp{n:02d}" for n in range(15)]  # installed at 1.0, locked at 2.0
ADDED = [f"fp{n:02d}" for n in range(15, 20)]  # not installed, locked at 1.0


@pytest.fixture(scope="module")
def fault_wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("fault-wheels")
    for name in UPGRADED + ADDED:
        for version in ("1.0", "2.0"):
            files = {
                f"{name}_pkg/__init__.py": f"V = {version!r}\n",
                f"{name}_pkg/sub/mod.py": "X = 1\n",
                f"{name}-{version}.data/data/share/{name}/{version}.txt": version,
                f"{name}-{version}.dist-info/entry_points.txt": (
                    f"[console_scripts]\n{name}-cli = {name}_pkg:V\n"
                ),
            }
            make_wheel(folder, name, version, files=files)
    return folder


@pytest.fixture(scope="module")
def fault_base(
    base_venv: Path, fault_wheels: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    venv = tmp_path_factory.mktemp("fault-base") / "venv"
    _copy(base_venv, venv)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index"]
    subprocess.run([*pip, "--find-links", str(fault_wheels), *UPGRADED], check=True)
    return venv


def _copy(source: Path, dest: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", str(source), str(dest)], check=True)
    cfg = dest / "pyvenv.cfg"
    cfg.write_text(cfg.read_text().replace(str(source), str(dest)))


def _lock(path: Path, wheels: Path) -> Path:
    lines = [f"{n}==2.0" for n in UPGRADED] + [f"{n}==1.0" for n in ADDED]
    lines += ["alpha==1.0", "beta==1.0", "gamma==1.0"]
    path.write_text(f"--no-index\n--find-links {wheels}\n" + "\n".join(lines) + "\n")
    return path


def _comparable(state: dict[str, str]) -> dict[str, str]:
    # A .pyc embeds its source's mtime, which differs from one install to the next: an
    # installed (after) tree is compared with the reference without the .pyc bytes.
    return {k: ("pyc" if k.endswith(".pyc") else v) for k, v in state.items()}


def _sync(venv: Path, lock: Path, cwd: Path, extra: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pipkit", "--python", str(venv), "sync", str(lock), "--yes"],
        cwd=cwd,
        env={**os.environ, **extra},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )


TRIALS = int(os.environ.get("PIPKIT_FAULT_TRIALS") or 3)


@pytest.mark.timeout(300 + 60 * TRIALS)  # a trial is a whole sync plus a recover
def test_random_faults_end_before_or_after(fault_base, fault_wheels, tmp_path):  # type: ignore[no-untyped-def]
    trials = TRIALS
    venv = tmp_path / "trial" / "venv"  # one path for every trial: scripts name it
    lock = _lock(tmp_path / "requirements.txt", fault_wheels)

    _copy(fault_base, venv)
    before = tree_state(venv)
    started = time.monotonic()
    clean = _sync(venv, lock, tmp_path, {})
    _out, err = clean.communicate(timeout=600)
    took = time.monotonic() - started  # only to spread the random delays, never asserted
    assert clean.returncode == 0, err
    after = _comparable(tree_state(venv))
    assert diff_states(before, tree_state(venv))[0]  # the sync did change the tree

    rng = random.Random(SEED)
    outcomes: dict[str, int] = {"before": 0, "after": 0}
    for trial in range(trials):
        _copy(fault_base, venv)
        sig = rng.choice([signal.SIGKILL, signal.SIGINT, signal.SIGTERM])
        how = rng.choice(["point", "delay"])
        extra: dict[str, str] = {}
        point = rng.choice(POINTS)
        if how == "point":
            skip = rng.randrange(len(UPGRADED)) if point == "stash" else 0
            extra["PIPKIT_TEST_FAULT_SKIP"] = str(skip)
            if sig == signal.SIGKILL:
                extra["PIPKIT_TEST_KILL_AT"] = point
            else:
                extra["PIPKIT_TEST_SIGNAL_AT"] = (
                    f"{point}:{'INT' if sig == signal.SIGINT else 'TERM'}"
                )
        label = f"trial {trial}: {signal.Signals(sig).name} {how} {extra or ''}"
        proc = _sync(venv, lock, tmp_path, extra)
        if how == "delay":
            delay = rng.uniform(0, took)
            label += f" after {delay:.2f}s"
            try:
                proc.wait(timeout=delay)  # a random moment (it may even have finished)
            except subprocess.TimeoutExpired:
                whole_group = sig != signal.SIGKILL or rng.random() < 0.5
                with_pip = whole_group and sig == signal.SIGKILL
                label += " (pip too)" if with_pip else ""
                if whole_group:
                    os.killpg(proc.pid, sig)
                else:
                    proc.send_signal(sig)  # pip may outlive it, holding the env lock
        _out, err = proc.communicate(timeout=600)
        # pip, interrupted with its process group, may print its own traceback; pipkit never.
        frames = [line for line in err.splitlines() if line.strip().startswith('File "')]
        assert not [f for f in frames if f"{os.sep}pipkit{os.sep}" in f], f"{label}\n{err}"
        recovered = run_cli(
            "--python", str(venv), "recover", "--yes", cwd=tmp_path,
            env={"PIPKIT_LOCK_TIMEOUT": "600"},
        )  # fmt: skip
        assert recovered.returncode == 0, f"{label}\n{recovered.stderr}"
        assert not (venv / "pipkit" / "transaction").exists(), label
        now = tree_state(venv)
        if now == before:
            outcomes["before"] += 1
        else:
            assert _comparable(now) == after, (
                label,
                diff_states(before, now),
                diff_states(after, _comparable(now)),
            )
            outcomes["after"] += 1
    assert sum(outcomes.values()) == trials
    print(f"random faults: {trials} trials, {outcomes}")


def _is_root() -> bool:
    return os.geteuid() == 0


@pytest.mark.skipif(not _is_root(), reason="mounting a small tmpfs needs root")
def test_enospc_part_way_leaves_the_env_as_it_was(base_venv, tmp_path):  # type: ignore[no-untyped-def]
    wheels = tmp_path / "wheels"
    # Incompressible bytes, so the wheel's size is the space it needs.
    make_wheel(wheels, "bigdata", "1.0", files={"bigdata/blob.bin": os.urandom(6 << 20)})
    mount = tmp_path / "small"
    mount.mkdir()
    used = int(subprocess.run(["du", "-sb", str(base_venv)], capture_output=True, text=True,
                              check=True).stdout.split()[0])  # fmt: skip
    size = used + (3 << 20)  # room for the venv, the journal and the snapshot; not the blob
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], check=True)
    try:
        venv = mount / "venv"
        _copy(base_venv, venv)
        (tmp_path / "requirements.txt").write_text(
            f"--no-index\n--find-links {wheels}\nalpha==1.0\nbeta==1.0\ngamma==1.0\nbigdata==1.0\n"
        )
        before = tree_state(venv)
        result = run_cli(
            "--python", str(venv), "sync", str(tmp_path / "requirements.txt"), "--yes",
            cwd=tmp_path,
        )  # fmt: skip
        assert result.returncode == 1, result.stderr
        assert "left as it was" in one_error_line(result.stderr)
        assert diff_states(before, tree_state(venv)) == ([], [], [])
        assert not (site_packages(venv) / "bigdata").exists()
    finally:
        subprocess.run(["umount", str(mount)], check=False)

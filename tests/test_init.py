"""``pipkit init``: a new project in one command, all or nothing.

Hermetic: wheels from tests/wheelmaker.py in a find-links folder, PIP_NO_INDEX, and a
project folder in tmp_path; each successful init makes a real venv there.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.wheelmaker import make_wheel


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "alpha", "1.0")
    make_wheel(wheels, "beta", "1.0", requires=["alpha"])
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    project = tmp_path / "project"
    project.mkdir()
    (project / "README.md").write_text("# a project\n")
    monkeypatch.chdir(project)
    return project


def _tree(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its bytes (None for a folder): "exactly as before"."""
    return {
        str(p.relative_to(folder)): (None if p.is_dir() else p.read_bytes())
        for p in sorted(folder.rglob("*"))
    }


def _freeze(folder: Path) -> list[str]:
    result = subprocess.run(
        [str(folder / ".venv" / "bin" / "python"), "-m", "pip", "freeze"],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.splitlines()


def test_init_makes_venv_inputs_lock_and_syncs(run_pipkit, folder):  # type: ignore[no-untyped-def]
    result = run_pipkit("init", "beta")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Created .venv (Python 3.")
    assert lines[0].endswith(
        ", venv), wrote requirements.in, locked requirements.txt (2 packages), synced .venv."
    )
    assert lines[1:] == [
        "Next steps:",
        "  source .venv/bin/activate",
        "  pipkit check",
        "  pipkit install --save PKG",
    ]
    assert (folder / "requirements.in").read_text() == "beta\n"
    lock = (folder / "requirements.txt").read_text()
    assert "pipkit lock requirements.in -o requirements.txt" in lock
    assert "alpha==1.0" in lock and "beta==1.0" in lock
    assert _freeze(folder) == ["alpha==1.0", "beta==1.0"]
    check = run_pipkit("check")  # finds .venv here, as a user's next command would
    assert check.exit_code == 0, check.output
    assert "requirements.txt vs .venv: in sync" in check.stderr + check.stdout


def test_init_without_packages_json(run_pipkit, folder):  # type: ignore[no-untyped-def]
    result = run_pipkit("init", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["python"].startswith("3.")
    del data["python"]
    assert data == {
        "folder": str(folder),
        "venv": ".venv",
        "creator": "venv",
        "inputs": "requirements.in",
        "wrote_inputs": True,
        "lock": "requirements.txt",
        "packages": [],
        "next_steps": ["source .venv/bin/activate", "pipkit check", "pipkit install --save PKG"],
    }
    assert (folder / "requirements.in").read_text() == ""
    assert (folder / ".venv" / "bin" / "python").exists()
    assert _freeze(folder) == []


@pytest.mark.parametrize(
    ("existing", "args", "line"),
    [
        (
            ".venv/",
            ["beta"],
            ".venv already exists: pipkit init makes a new one (pipkit sync fills it)",
        ),
        (
            "requirements.txt",
            [],
            "requirements.txt already exists: pipkit init does not overwrite a lock "
            "(see pipkit lock)",
        ),
        (
            "requirements.in",
            ["beta"],
            "requirements.in already exists: pipkit init does not change it (run pipkit init "
            "without packages, then pipkit install --save PKG)",
        ),
    ],
)
def test_init_refuses_to_overwrite(run_pipkit, folder, existing, args, line):  # type: ignore[no-untyped-def]
    if existing.endswith("/"):
        (folder / existing).mkdir()
        (folder / existing / "mine").write_text("keep me\n")
    else:
        (folder / existing).write_text("alpha==1.0\n")
    before = _tree(folder)
    result = run_pipkit("init", *args)
    assert result.exit_code == 2
    assert result.stderr == f"pipkit: error: {line}\n"
    assert _tree(folder) == before


def test_bad_package_or_interpreter_is_exit_2_and_makes_nothing(run_pipkit, folder):  # type: ignore[no-untyped-def]
    before = _tree(folder)
    result = run_pipkit("init", "beta>>1")
    assert result.exit_code == 2
    assert result.stderr.startswith("pipkit: error: beta>>1: not a requirement (")
    result = run_pipkit("init", "--python", "no-such-python3.99", "beta")
    assert result.exit_code == 2
    assert result.stderr == "pipkit: error: --python no-such-python3.99: no such interpreter\n"
    result = run_pipkit("--python", str(folder), "init", "beta")
    assert result.exit_code == 2
    assert result.stderr == (
        "pipkit: error: init makes its own .venv: choose its interpreter with init --python PY\n"
    )
    assert _tree(folder) == before


def test_failed_lock_leaves_the_folder_exactly_as_before(run_pipkit, folder):  # type: ignore[no-untyped-def]
    before = _tree(folder)
    result = run_pipkit("init", "beta", "nosuchpkg")
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "pipkit: error: init failed locking, nothing kept (removed requirements.in, .venv): "
        "pip-compile could not resolve the inputs:"
    )
    assert "nosuchpkg" in result.stderr
    assert _tree(folder) == before


def test_failed_lock_keeps_the_users_own_inputs(run_pipkit, folder):  # type: ignore[no-untyped-def]
    (folder / "requirements.in").write_text("nosuchpkg\n")
    before = _tree(folder)
    result = run_pipkit("init")
    assert result.exit_code == 1
    assert "init failed locking, nothing kept (removed .venv)" in result.stderr
    assert _tree(folder) == before


def test_ctrl_c_during_sync_removes_everything_exit_130(run_pipkit, folder, monkeypatch):  # type: ignore[no-untyped-def]
    from pipkit.ops import sync

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # as a Ctrl-C during the install step arrives

    monkeypatch.setattr(sync, "sync", interrupted)
    before = _tree(folder)
    result = run_pipkit("init", "beta")
    assert result.exit_code == 130
    assert result.stderr == (
        "pipkit: interrupted: init undone (removed requirements.txt, requirements.in, .venv)\n"
    )
    assert _tree(folder) == before


def test_init_with_the_uv_installer_uses_uv_venv(run_pipkit, folder):  # type: ignore[no-untyped-def]
    result = run_pipkit("--installer", "uv", "init", "beta", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["creator"] == "uv venv"
    assert data["packages"] == [
        {"name": "alpha", "version": "1.0"},
        {"name": "beta", "version": "1.0"},
    ]
    assert "--resolver uv" in (folder / "requirements.txt").read_text()
    site = next((folder / ".venv" / "lib").glob("python*/site-packages"))
    assert sorted(p.name for p in site.glob("*.dist-info")) == [
        "alpha-1.0.dist-info",
        "beta-1.0.dist-info",
    ]  # uv venv puts no pip in: only what the lock says
    check = run_pipkit("--installer", "uv", "check")
    assert check.exit_code == 0, check.output


def test_a_real_ctrl_c_while_locking_removes_everything_exit_130(tmp_path, folder):  # type: ignore[no-untyped-def]
    """SIGINT to the whole process group (as a terminal sends it) while pip-compile is half-way
    through downloading a wheel it hashes: the loopback server holds the download until the
    signal has been sent, so the moment is certain without sleeping."""
    import os
    import signal
    import sys

    from tests.loopback import FileServer

    with FileServer(tmp_path / "wheels", stall="beta-1.0-py3-none-any.whl") as server:
        env = {**os.environ, "PIP_FIND_LINKS": server.url}
        before = _tree(folder)
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipkit", "init", "beta"],
            cwd=folder,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            assert server.stalled.wait(120), "pip-compile never asked for the wheel"
            os.killpg(proc.pid, signal.SIGINT)
            server.release.set()
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    assert proc.returncode == 130, err
    assert (
        err.splitlines()[-1] == "pipkit: interrupted: init undone (removed requirements.in, .venv)"
    )
    assert out == ""
    assert _tree(folder) == before

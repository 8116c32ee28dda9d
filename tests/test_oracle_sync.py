"""``pipkit sync`` judged by the tools it stands in for: ``pip-sync`` and ``uv pip sync``.

One drifted venv is made per module (alpha 1.0, beta 1.0 installed; epoch and localv extra) and
copied for each side. The same lock (alpha 2.0, beta 2.0, gamma, Odd.Name_pkg, from a
``--find-links`` wheelhouse) is synced into one copy by pipkit and into another by the outside
tool; then both copies' own ``pip freeze --all`` must be equal. The same pins as a PEP 751
``pylock.toml`` are synced by pipkit (under each installer engine) and by ``uv pip sync``.

What is compared: each copy's whole ``pip freeze --all``, pip and setuptools included. pip-sync
never removes pip, setuptools, wheel and pip-tools; pipkit never removes pip and setuptools
(``core.plan.PROTECTED``); ``uv pip sync`` (the uv this suite installs) leaves a venv's pip and
setuptools in place too. So no line is left out: a tool that removed or kept something the
others do not would make the freezes differ.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import copy_venv, pip_freeze, pip_install


@pytest.fixture(scope="module")
def drifted(
    template_venv: Path, wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    venv = copy_venv(template_venv, tmp_path_factory.mktemp("oracle-sync") / "venv")
    pip_install(venv, "alpha==1.0", "beta==1.0", "epoch", "localv", wheelhouse=wheelhouse)
    return venv


@pytest.fixture(scope="module")
def lock(wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("oracle-sync-lock") / "requirements.txt"
    path.write_text(
        f"--no-index\n--find-links {wheelhouse}\n"
        "alpha==2.0\nbeta==2.0\ngamma==1.0\nodd-name-pkg==1.0\n"
    )
    return path


def two_copies(drifted: Path, tmp_path: Path) -> tuple[Path, Path]:
    return copy_venv(drifted, tmp_path / "ours"), copy_venv(drifted, tmp_path / "theirs")


def test_same_freeze_as_pip_sync(
    drifted: Path, lock: Path, tmp_path: Path, run_pipkit: Any
) -> None:
    ours, theirs = two_copies(drifted, tmp_path)
    before = pip_freeze(ours, "--all")
    result = run_pipkit("--python", str(ours), "sync", str(lock), "--yes")
    assert result.exit_code == 0, result.output
    pip_sync = shutil.which("pip-sync", path=str(Path(sys.executable).parent))
    assert pip_sync is not None  # pip-tools is a test dependency
    subprocess.run(
        [pip_sync, "--python-executable", str(theirs / "bin" / "python"), "-q", str(lock)],
        check=True,
    )
    after = pip_freeze(ours, "--all")
    assert after == pip_freeze(theirs, "--all")
    assert after != before  # the sync did change something, on both sides
    assert "alpha==2.0" in after.splitlines() and "epoch==1!2.0" not in after


def test_uv_engine_same_freeze_as_uv_pip_sync(
    drifted: Path, lock: Path, tmp_path: Path, run_pipkit: Any
) -> None:
    ours, theirs = two_copies(drifted, tmp_path)
    result = run_pipkit("--installer", "uv", "--python", str(ours), "sync", str(lock), "--yes")
    assert result.exit_code == 0, result.output
    uv = shutil.which("uv", path=str(Path(sys.executable).parent))
    assert uv is not None  # uv is a test dependency
    subprocess.run(
        [uv, "pip", "sync", "--quiet", "--python", str(theirs / "bin" / "python"), str(lock)],
        check=True,
    )
    after = pip_freeze(ours, "--all")
    assert after == pip_freeze(theirs, "--all")
    assert "alpha==2.0" in after.splitlines() and "epoch==1!2.0" not in after


@pytest.fixture(scope="module")
def pylock(wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same pins as ``lock``, as a PEP 751 pylock.toml naming the wheels by path."""
    path = tmp_path_factory.mktemp("oracle-sync-pylock") / "pylock.toml"
    text = 'lock-version = "1.0"\ncreated-by = "tests"\n'
    for name, version, filename in (
        ("alpha", "2.0", "alpha-2.0-py3-none-any.whl"),
        ("beta", "2.0", "beta-2.0-py3-none-any.whl"),
        ("gamma", "1.0", "gamma-1.0-py3-none-any.whl"),
        ("odd-name-pkg", "1.0", "odd_name_pkg-1.0-py3-none-any.whl"),
    ):
        wheel = wheelhouse / filename
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        text += (
            f'\n[[packages]]\nname = "{name}"\nversion = "{version}"\n'
            f'wheels = [{{ name = "{filename}", path = "{wheel}", '
            f'hashes = {{ sha256 = "{digest}" }} }}]\n'
        )
    path.write_text(text)
    return path


def test_pylock_same_freeze_as_uv_pip_sync(  # type: ignore[no-untyped-def]
    engine, drifted, pylock, tmp_path, run_pipkit
):
    """``pipkit sync pylock.toml`` (each engine) and ``uv pip sync pylock.toml``."""
    ours, theirs = two_copies(drifted, tmp_path)
    result = run_pipkit("--python", str(ours), "sync", str(pylock), "--yes")
    assert result.exit_code == 0, result.output
    uv = shutil.which("uv", path=str(Path(sys.executable).parent))
    assert uv is not None
    subprocess.run(
        [uv, "pip", "sync", "--quiet", "--python", str(theirs / "bin" / "python"), str(pylock)],
        check=True,
    )
    after = pip_freeze(ours, "--all")
    assert after == pip_freeze(theirs, "--all")
    assert "alpha==2.0" in after.splitlines() and "epoch==1!2.0" not in after

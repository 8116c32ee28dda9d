"""Round trip through a real environment: pip installs a lock, pipkit finds it in sync.

What pip writes (``direct_url.json`` for wheel paths and ``name @ file://`` references, none
for index/find-links installs) must satisfy the plan's matching rules, or every sync would
reinstall. And pipkit's :func:`~pipkit.core.health.conflicts` must say what ``pip check`` says.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from packaging.markers import default_environment

from pipkit.core.health import conflicts
from pipkit.core.plan import compare, diff, effective_entries
from pipkit.core.reqfile import read_requirements
from pipkit.env.dists import installed
from tests.conftest import pip_install, site_packages, venv_python
from tests.core.helpers import write
from tests.wheelmaker import file_sha256, make_wheel

pytestmark = pytest.mark.slow

ENVIRONMENT = {key: str(value) for key, value in default_environment().items()}


def test_installed_lock_is_in_sync(venv: Path, tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    for version in ("1.0", "2.0"):
        make_wheel(wheels, "alpha", version)
    make_wheel(wheels, "delta", "1.0")
    dist = tmp_path / "dist"
    make_wheel(dist, "beta", "1.0", requires=["alpha>=1"])
    gamma = make_wheel(dist, "Gamma.Pkg", "1.0")
    # pip requires a hash on every line once one line has one: so all four carry theirs.
    alpha_hash = file_sha256(wheels / "alpha-1.0-py3-none-any.whl")
    beta_hash = file_sha256(dist / "beta-1.0-py3-none-any.whl")
    delta_hash = file_sha256(wheels / "delta-1.0-py3-none-any.whl")
    write(
        tmp_path / "requirements.txt",
        f"""
        --find-links {wheels}
        alpha==1.0 --hash=sha256:{alpha_hash}
        ./dist/beta-1.0-py3-none-any.whl --hash=sha256:{beta_hash}
        Gamma.Pkg @ {gamma.as_uri()} --hash=sha256:{file_sha256(gamma)}
        delta==1.0 \\
            --hash=sha256:{delta_hash}
        """,
    )
    subprocess.run(
        [venv_python(venv), "-m", "pip", "install", "-q", "--no-index", "-r", "requirements.txt"],
        cwd=tmp_path,
        check=True,
    )
    lock = read_requirements("requirements.txt", environ={}, cwd=tmp_path)
    dists = list(installed([str(site_packages(venv))]).values())

    result = compare(dists, lock, ENVIRONMENT)
    assert result.to_json() == {
        "in_sync": True,
        "missing": [],
        "extra": [],
        "changed": [],
        "conflicts": [],
    }
    plan = diff(dists, effective_entries(lock, ENVIRONMENT))
    assert [d.name for d in plan.unchanged] == ["alpha", "beta", "delta", "gamma-pkg"]
    assert "pip" in [d.name for d in plan.protected]

    # Drift: a newer pin, a dropped line, and a package installed from the index instead.
    write(
        tmp_path / "drift.txt",
        f"""
        --find-links {wheels}
        alpha==2.0
        beta==1.0
        delta==1.0
        """,
    )
    drift = read_requirements("drift.txt", environ={}, cwd=tmp_path)
    data = compare(dists, drift, ENVIRONMENT).to_json()
    assert data["extra"] == [{"name": "gamma-pkg", "version": "1.0"}]
    assert [(c["name"], c["locked"]) for c in data["changed"]] == [
        ("alpha", "2.0"),
        ("beta", "1.0"),  # locked from the index, installed from a wheel file
    ]
    assert data["changed"][1]["installed"].startswith("1.0 from file://")


def test_conflicts_agree_with_pip_check(venv: Path, tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "lib", "1.0")
    make_wheel(wheels, "other", "2.0rc1")
    make_wheel(
        wheels,
        "app",
        "1.0",
        requires=[
            "lib>=2",
            "gone",
            "other>=1",
            'winonly ; sys_platform == "win32"',
            'docs ; extra == "docs"',
        ],
        extras=["docs"],
    )
    pip_install(venv, "--no-deps", "app", "lib", "other==2.0rc1", wheelhouse=wheels)
    pip_check = subprocess.run(
        [venv_python(venv), "-m", "pip", "check"], capture_output=True, text=True, check=False
    )
    theirs = set(pip_check.stdout.splitlines())
    dists = list(installed([str(site_packages(venv))]).values())
    ours = {str(conflict) for conflict in conflicts(dists, ENVIRONMENT)}
    assert ours == theirs
    assert len(ours) == 2

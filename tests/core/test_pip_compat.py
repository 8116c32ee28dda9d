"""pipkit's reading of requirements files against pip's own, on the same files.

Each case writes tiny wheels and a requirements file, asks this interpreter's pip for its
resolution (``pip install --dry-run --ignore-installed --report -``, offline from the wheel
folder, no configuration) and checks that the pinned set pipkit derives for this interpreter's
marker environment (:func:`pipkit.core.plan.effective_entries`) is exactly what pip would
install. The suite-wide fixture scrubs PIP_* variables and points PIP_CONFIG_FILE at /dev/null.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.utils import canonicalize_name
from packaging.version import Version

from pipkit.core.plan import effective_entries
from pipkit.core.reqfile import read_requirements
from tests.core.helpers import write
from tests.wheelmaker import make_wheel

pytestmark = pytest.mark.slow

Pins = set[tuple[str, Version]]


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("compat-wheels")
    for name in ("alpha", "beta", "gamma", "delta", "unrelated"):
        for version in ("1.0", "2.0"):
            make_wheel(folder, name, version)
    make_wheel(folder, "Odd.Name_pkg", "1.0", module="odd_name_pkg")
    make_wheel(folder, "epoch", "1!2.0")
    make_wheel(folder, "epoch", "3.0")
    make_wheel(folder, "localv", "1.0+local.7")
    return folder


def pip_pins(cwd: Path, wheels: Path, *args: str, environ: dict[str, str] | None = None) -> Pins:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env.update(environ or {})
    result = subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
            "--report", "-", "--quiet", "--no-index", "--find-links", str(wheels),
            "--disable-pip-version-check", *args,
        ],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    return {
        (canonicalize_name(item["metadata"]["name"]), Version(item["metadata"]["version"]))
        for item in report["install"]
    }


def pipkit_pins(*files: str, cwd: Path, environ: dict[str, str] | None = None) -> Pins:
    lock = read_requirements(list(files), environ=environ or {}, cwd=cwd)
    pins: Pins = set()
    environment = {key: str(value) for key, value in default_environment().items()}
    for entry in effective_entries(lock, environment):
        assert entry.pinned_version is not None, entry
        pins.add((entry.name, Version(entry.pinned_version)))
    return pins


def test_includes_markers_env_vars_odd_versions(tmp_path: Path, wheels: Path) -> None:
    write(
        tmp_path / "requirements.txt",
        """
        # pipkit: python=3.11
        alpha==1.0 \\
            # a continued comment
        -r sub/more.txt
        beta==${BETA_VERSION}
        gamma==1.0 ; sys_platform == "win32"
        gamma==2.0 ; sys_platform != "win32"
        Odd.Name_pkg==1.0 ; python_version >= "3"
        epoch==1!2.0
        localv==1.0+local.7
        """,
    )
    write(tmp_path / "sub" / "more.txt", "delta===2.0  # arbitrary equality\n")
    environ = {"BETA_VERSION": "2.0"}
    ours = pipkit_pins("requirements.txt", cwd=tmp_path, environ=environ)
    assert ours == pip_pins(tmp_path, wheels, "-r", "requirements.txt", environ=environ)
    assert ("gamma", Version("2.0")) in ours and ("epoch", Version("1!2.0")) in ours


def test_constraints_pin_but_do_not_add(tmp_path: Path, wheels: Path) -> None:
    write(
        tmp_path / "requirements.txt",
        """
        -c constraints/c.txt
        alpha
        beta>=1
        """,
    )
    write(
        tmp_path / "constraints" / "c.txt",
        """
        alpha==1.0
        beta==1.0 ; python_version >= "3"
        unrelated==1.0
        """,
    )
    ours = pipkit_pins("requirements.txt", cwd=tmp_path)
    assert ours == pip_pins(tmp_path, wheels, "-r", "requirements.txt")
    assert ours == {("alpha", Version("1.0")), ("beta", Version("1.0"))}


def test_requirement_include_inside_a_constraints_file(tmp_path: Path, wheels: Path) -> None:
    # pip reads "-r" inside a constraints file as *requirements*; pipkit must agree.
    write(tmp_path / "requirements.txt", "alpha==2.0\n-c c.txt\n")
    write(tmp_path / "c.txt", "delta==1.0\n-r more.txt\n")
    write(tmp_path / "more.txt", "beta==1.0\n")
    ours = pipkit_pins("requirements.txt", cwd=tmp_path)
    assert ours == pip_pins(tmp_path, wheels, "-r", "requirements.txt")
    assert ("beta", Version("1.0")) in ours


def test_wheel_paths_and_direct_references(tmp_path: Path, wheels: Path) -> None:
    local = tmp_path / "dist"
    make_wheel(local, "alpha", "2.0")
    make_wheel(local, "beta", "1.0")
    write(
        tmp_path / "requirements.txt",
        f"""
        ./dist/alpha-2.0-py3-none-any.whl
        beta @ {(local / "beta-1.0-py3-none-any.whl").as_uri()}
        """,
    )
    write(tmp_path / "other.txt", "delta==1.0\n")
    ours = pipkit_pins("requirements.txt", "other.txt", cwd=tmp_path)
    theirs = pip_pins(tmp_path, wheels, "-r", "requirements.txt", "-r", "other.txt")
    assert ours == theirs
    assert ours == {
        ("alpha", Version("2.0")),
        ("beta", Version("1.0")),
        ("delta", Version("1.0")),
    }

"""Shared bench helpers: build a venv of N small packages, time commands side by side.

Benchmarks run pipkit next to pip / pip-tools / uv on the same environment in one run and
print ratios; they never assert. Wheels are made in memory (tests/wheelmaker.py) and
installed offline, so a bench needs no network.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.wheelmaker import make_wheel  # noqa: E402


def clean_env() -> dict[str, str]:
    """The environment with the machine's pip configuration switched off."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env.pop("VIRTUAL_ENV", None)
    return env


def build_env(workdir: Path, count: int = 40) -> tuple[Path, Path]:
    """A venv with ``count`` packages (a chain of dependencies) and its wheelhouse."""
    wheels = workdir / "wheels"
    names = [f"benchpkg{i:03d}" for i in range(count)]
    for i, name in enumerate(names):
        requires = [f"{names[i + 1]}>=1.0"] if i % 4 == 0 and i + 1 < count else []
        for version in ("1.0", "2.0"):
            make_wheel(
                wheels,
                name,
                version,
                requires=requires,
                files={f"{name}_data/__init__.py": "x = 1\n" * 50},
            )
    venv = workdir / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-index",
            "--find-links",
            str(wheels),
            *[f"{n}==1.0" for n in names],
        ],
        check=True,
        env=clean_env(),
    )
    return venv, wheels


def timeit(
    argv: Sequence[str],
    *,
    runs: int = 7,
    env: dict[str, str] | None = None,
    setup: Sequence[str] | None = None,
) -> float:
    """Median wall time of ``argv`` over ``runs`` runs (one warm-up run first)."""
    times: list[float] = []
    for i in range(runs + 1):
        if setup:
            subprocess.run(
                list(setup),
                check=True,
                env=env or clean_env(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        start = time.perf_counter()
        subprocess.run(
            list(argv),
            env=env or clean_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        if i:  # the first run warms caches (and pipkit's probe cache)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def pipkit_argv() -> list[str]:
    """pipkit as a user runs it: its console script next to this interpreter."""
    script = Path(sys.executable).with_name("pipkit")
    return [str(script)] if script.exists() else [sys.executable, "-m", "pipkit"]


def table(rows: Sequence[tuple[str, float, float, str]]) -> str:
    """Rows of (what, pipkit seconds, other seconds, other name) with the ratio."""
    lines = [f"{'benchmark':<34} {'pipkit':>9} {'other':>9} {'speed-up':>9}  vs"]
    for what, ours, theirs, other in rows:
        lines.append(
            f"{what:<34} {ours * 1000:>7.1f}ms {theirs * 1000:>7.1f}ms "
            f"{theirs / ours:>8.1f}x  {other}"
        )
    return "\n".join(lines)


def workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="pipkit-bench-"))


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)

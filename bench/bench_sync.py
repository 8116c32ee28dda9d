"""Bench pipkit check/sync side by side with pip-sync (pip-tools), uv and bare pip, in one run.

    .venv-test/bin/python bench/bench_sync.py [--runs N] [--quick]

1. A 40-package venv from a local wheelhouse, locked. No-op ``pipkit sync`` and ``pipkit check``
   against a no-op ``pip-sync`` (target: >= 5x faster) and ``python -c "import typer"``
   (target: within 1.5x), plus a no-op ``uv pip sync``; the cold no-op (result cache off,
   ``PIPKIT_NO_CACHE=1``) is shown too.
2. A sync of 30 changes (1.0 -> 2.0) from the wheelhouse against a bare
   ``pip install --no-deps -r`` of the same 30 pins (target: within 1.1x), ``pip-sync`` and
   ``uv pip sync``. The venv is restored from a copy before every run (not timed).
3. ``pipkit check`` (cold: cache off) on venvs of 500, 1,000 and 2,000 distributions (fake
   dist-info folders) against ``pip freeze`` there, to show linear growth.

Never asserts: prints a table (median wall time of N runs after one warm-up), ratios and the
targets. Offline; needs pip-tools and uv next to this interpreter (uv is skipped if missing).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    build_env,
    clean_env,
    pipkit_argv,
    remove,
    workdir,
)


def _env() -> dict[str, str]:
    env = clean_env()
    # Timings as a user sees them: with .pyc files (this machine's shell may disable them).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PIPKIT_CACHE_DIR"] = str(Path(os.environ.get("BENCH_TMP", "/tmp")) / "pipkit-bench-cache")
    return env


Command = tuple[list[str], dict[str, str], list[str] | None]


def measure(commands: dict[str, Command], runs: int) -> dict[str, float]:
    """Median wall time of each command, runs interleaved (in a shuffled order each round) so
    that load from elsewhere on the machine hits every command alike. One untimed warm-up
    each; ``setup`` (e.g. restoring the venv) runs untimed before every run."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    order = list(commands)
    shuffle = random.Random(7).shuffle  # a new order each round: no command always follows
    for round_ in range(runs + 1):  # the heaviest one (whose leftovers slow the next)
        shuffle(order)
        for name in order:
            argv, env, setup = commands[name]
            if setup:
                subprocess.run(setup, check=True, env=env, capture_output=True)
            start = time.perf_counter()
            subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if round_:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def _tool(name: str) -> str | None:
    beside = Path(sys.executable).with_name(name)
    if beside.exists():
        return str(beside)
    return shutil.which(name)


def _lock(path: Path, wheels: Path, pins: dict[str, str]) -> Path:
    lines = [
        "--no-index",
        f"--find-links {wheels}",
        *(f"{n}=={v}" for n, v in sorted(pins.items())),
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _fake_env(folder: Path, count: int) -> tuple[Path, Path]:
    """A venv with ``count`` fake distributions (dist-info only) and the lock that matches it."""
    venv = folder / f"venv{count}"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python*/site-packages"))
    pins: dict[str, str] = {}
    for i in range(count):
        name, version = f"fake{i:05d}", f"1.{i % 7}"
        info = site / f"{name}-{version}.dist-info"
        info.mkdir()
        requires = f"Requires-Dist: fake{i + 1:05d}>=1.0\n" if i % 5 == 0 and i + 1 < count else ""
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{requires}\n"
        )
        (info / "INSTALLER").write_text("pip\n")
        (info / "RECORD").write_text(f"{name}-{version}.dist-info/METADATA,,\n")
        pins[name] = version
    lock = folder / f"lock{count}.txt"
    lock.write_text("".join(f"{n}=={v}\n" for n, v in pins.items()))
    return venv, lock


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per command (median)")
    parser.add_argument("--quick", action="store_true", help="fewer runs, skip 2,000 dists")
    args = parser.parse_args()
    runs = 3 if args.quick else args.runs
    env = _env()
    pipkit = pipkit_argv()
    pip_sync = _tool("pip-sync")
    uv = _tool("uv")
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(Path(pipkit[0]).parent)], check=False
    )
    root = workdir()
    rows: list[tuple[str, float, float, str]] = []
    notes: list[str] = []
    try:
        print("building a 40-package venv from a local wheelhouse ...", file=sys.stderr)
        venv, wheels = build_env(root, 40)
        python = str(venv / "bin" / "python")
        names = sorted(p.name.split("-")[0] for p in wheels.glob("*-1.0-*.whl"))
        lock = _lock(root / "requirements.txt", wheels, dict.fromkeys(names, "1.0"))
        pristine = root / "pristine"
        subprocess.run(["cp", "-a", str(venv), str(pristine)], check=True)
        restore = ["sh", "-c", f"rm -rf '{venv}' && cp -a '{pristine}' '{venv}'"]

        # -- 1. no-op -----------------------------------------------------------------------
        base = [*pipkit, "--python", str(venv)]
        cold_env = {**env, "PIPKIT_NO_CACHE": "1"}
        noop: dict[str, Command] = {
            "check": ([*base, "check", str(lock)], env, None),
            "sync": ([*base, "sync", str(lock), "--yes"], env, None),
            "check-cold": ([*base, "check", str(lock)], cold_env, None),
            "sync-cold": ([*base, "sync", str(lock), "--yes"], cold_env, None),
            "typer": ([sys.executable, "-c", "import typer"], env, None),
        }
        if pip_sync:
            noop["pip-sync"] = (
                [pip_sync, "--python-executable", python, "-q", str(lock)],
                env,
                None,
            )
        if uv:
            noop["uv"] = ([uv, "pip", "sync", "-q", "--python", python, str(lock)], env, None)
        t = measure(noop, runs)
        typer = t["typer"]
        rows += [
            ("no-op check vs import typer", t["check"], typer, "python -c 'import typer'"),
            ("no-op sync vs import typer", t["sync"], typer, "python -c 'import typer'"),
            (
                "no-op check (cold) vs import typer",
                t["check-cold"],
                typer,
                "python -c 'import typer'",
            ),
        ]
        notes.append(f"no-op check: {t['check'] / typer:.2f}x import typer (target <= 1.5x)")
        notes.append(f"no-op sync:  {t['sync'] / typer:.2f}x import typer (target <= 1.5x)")
        if pip_sync:
            ps = t["pip-sync"]
            rows += [
                ("no-op sync vs pip-sync", t["sync"], ps, "pip-sync"),
                ("no-op check vs pip-sync", t["check"], ps, "pip-sync"),
                ("no-op sync (cold) vs pip-sync", t["sync-cold"], ps, "pip-sync"),
                ("no-op check (cold) vs pip-sync", t["check-cold"], ps, "pip-sync"),
            ]
            notes.append(f"no-op sync: {ps / t['sync']:.1f}x faster than pip-sync (target >= 5x)")
            notes.append(f"no-op check: {ps / t['check']:.1f}x faster than pip-sync (target >= 5x)")
        if uv:
            rows.append(("no-op sync vs uv pip sync", t["sync"], t["uv"], "uv pip sync"))

        # -- 2. 30 changes ------------------------------------------------------------------
        changed = dict.fromkeys(names, "1.0")
        for name in names[:30]:
            changed[name] = "2.0"
        target_lock = _lock(root / "changed.txt", wheels, changed)
        only30 = _lock(root / "only30.txt", wheels, {n: "2.0" for n in names[:30]})
        # pipkit: the plan sees 30 changes and 10 unchanged: stash 30, one pip run --no-deps.
        changes: dict[str, Command] = {
            "pipkit": ([*base, "sync", str(target_lock), "--yes"], env, restore),
            "pip": (
                [python, "-m", "pip", "install", "-q", "--no-deps", "-r", str(only30)],
                env,
                restore,
            ),
        }
        if pip_sync:
            changes["pip-sync"] = (
                [pip_sync, "--python-executable", python, "-q", str(target_lock)],
                env,
                restore,
            )
        if uv:
            changes["uv"] = (
                [uv, "pip", "sync", "-q", "--python", python, str(target_lock)],
                env,
                restore,
            )
        t = measure(changes, runs)
        rows.append(
            ("sync 30 changes vs pip install", t["pipkit"], t["pip"], "pip install --no-deps -r")
        )
        notes.append(
            f"30 changes: {t['pipkit'] / t['pip']:.2f}x bare pip install --no-deps (target <= 1.1x)"
        )
        if pip_sync:
            rows.append(("sync 30 changes vs pip-sync", t["pipkit"], t["pip-sync"], "pip-sync"))
        if uv:
            rows.append(
                ("sync 30 changes vs uv pip sync", t["pipkit"], t["uv"], "uv pip sync (warm cache)")
            )

        # -- 3. check on big envs -------------------------------------------------------------
        sizes = (500, 1000) if args.quick else (500, 1000, 2000)
        growth: list[str] = []
        for count in sizes:
            big, big_lock = _fake_env(root, count)
            argv = [*pipkit, "--python", str(big), "check", str(big_lock)]
            # The venv has no pip: pip runs from this interpreter against the venv (--python).
            freeze = [
                sys.executable,
                "-m",
                "pip",
                "--python",
                str(big / "bin" / "python"),
                "freeze",
            ]
            t = measure(
                {
                    "cold": (argv, cold_env, None),
                    "cached": (argv, env, None),
                    "freeze": (freeze, env, None),
                },
                runs,
            )
            rows.append(
                (f"check {count} dists (cold) vs freeze", t["cold"], t["freeze"], "pip freeze")
            )
            rows.append((f"check {count} dists (cached)", t["cached"], t["freeze"], "pip freeze"))
            growth.append(f"{count}: {t['cold'] * 1000:.0f} ms")
        notes.append("check (cold) by env size: " + ", ".join(growth))
    finally:
        remove(root)

    print(f"\nmedian of {runs} runs after a warm-up; speed-up = other / pipkit\n")
    lines = [f"{'benchmark':<40} {'pipkit':>9} {'other':>9} {'speed-up':>9}  vs"]
    for what, ours, theirs, other in rows:
        lines.append(
            f"{what:<40} {ours * 1000:>7.1f}ms {theirs * 1000:>7.1f}ms "
            f"{theirs / ours:>8.2f}x  {other}"
        )
    print("\n".join(lines))
    print()
    for note in notes:
        print("  " + note)


if __name__ == "__main__":
    main()

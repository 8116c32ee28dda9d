"""Bench issue 10's daily paths in one run, side by side: pipkit (pip), pipkit (uv), bare pip /
pip-tools, and uv.

    python bench/bench_engines.py [--runs N] [--offline]

Paths (warm caches; each command once untimed first, then N interleaved runs in a shuffled
order each round; the median is shown):

1. no-op ``check`` / ``sync --yes`` (cached) on a 40-package venv: vs a no-op ``uv pip sync``
   (target <= 2x) and ``pip-sync``.
2. ``freeze`` / ``list``: vs ``uv pip freeze`` / ``uv pip list`` (target <= 2.5x), pip's.
3. a sync of 30 changes from a local wheelhouse (the venv restored before each run,
   untimed): pipkit via uv vs ``uv pip sync`` (target <= 5x), pipkit via pip vs bare
   ``pip install --no-deps -r`` of the 30 pins (target <= 1.1x), ``pip-sync``.
4. a hashed lock into an empty venv, and a ``pylock.toml`` into an empty venv: **registry**
   (PyPI: a real lock of a few popular projects, made once with ``uv pip compile``; skipped
   with ``--offline``) and **local** (the wheelhouse, file URLs); pipkit via uv vs
   ``uv pip sync`` (target <= 1.5x), pylock via pip vs ``pip install -r pylock.toml`` with
   pip >= 26.1 (target <= 1.5x), pip-sync.
5. a lock of a few inputs (local wheelhouse): ``pipkit lock --resolver uv`` vs
   ``uv pip compile --generate-hashes`` (target <= 1.5x), ``pipkit lock`` vs ``pip-compile``.

pipkit (uv) runs ``pipkit --installer uv ...`` when ``pipkit --help`` shows that option,
else its column says "not available yet". Never asserts: prints the table, the ratios against
the issue's targets, and the load average (``os.getloadavg()``) before and after.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import build_env, clean_env, pipkit_argv, remove, workdir

# A command: argv, environment, untimed setup run before each timed run (or None).
Command = tuple[list[str], dict[str, str], list[str] | None]
SLOW = 90.0  # seconds: a command slower than this in its warm-up is timed once, not N times
REGISTRY_INPUTS = ["requests", "rich", "click", "flask", "httpx", "pydantic", "jinja2"]
LOCK_INPUTS = 6  # the wheelhouse packages the lock bench names


def _env() -> dict[str, str]:
    env = clean_env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # with .pyc files, as a user runs them
    base = Path(os.environ.get("BENCH_TMP", "/tmp"))
    env["PIPKIT_CACHE_DIR"] = str(base / "pipkit-bench-engines-cache")
    env["UV_CACHE_DIR"] = str(base / "pipkit-bench-engines-uv")  # warm after the first run
    return env


def _run(argv: list[str], env: dict[str, str], timeout: float | None = None) -> float:
    start = time.perf_counter()
    try:
        done = subprocess.run(
            argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return math.inf
    if done.returncode != 0:
        return math.nan  # a failed command has no time worth comparing: shown as "failed"
    return time.perf_counter() - start


def measure(commands: dict[str, Command], runs: int) -> dict[str, float]:
    """Median wall time of each command: interleaved, shuffled each round, one warm-up."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    slow: set[str] = set()
    order = list(commands)
    shuffle = random.Random(10).shuffle
    for round_ in range(runs + 1):
        shuffle(order)
        for name in order:
            if name in slow:
                continue
            argv, env, setup = commands[name]
            if setup:
                subprocess.run(setup, check=True, env=env, capture_output=True)
            took = _run(argv, env, timeout=SLOW * 3)
            if math.isnan(took):  # failed: said once, never timed
                times[name] = [took]
                slow.add(name)
            elif round_:
                times[name].append(took)
            elif took > SLOW:  # the warm-up is its one measurement
                times[name].append(took)
                slow.add(name)
    return {name: statistics.median(values) for name, values in times.items()}


def _tool(name: str) -> str | None:
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else shutil.which(name)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _wheel_of(wheels: Path, name: str, version: str) -> Path:
    return next(wheels.glob(f"{name}-{version}-*.whl"))


def _hashed_lock(path: Path, wheels: Path, pins: dict[str, str]) -> Path:
    lines = ["--no-index", f"--find-links {wheels}"]
    for name, version in sorted(pins.items()):
        digest = _sha256(_wheel_of(wheels, name, version))
        lines.append(f"{name}=={version} --hash=sha256:{digest}")
    path.write_text("\n".join(lines) + "\n")
    return path


def _plain_lock(path: Path, wheels: Path, pins: dict[str, str]) -> Path:
    lines = [
        "--no-index",
        f"--find-links {wheels}",
        *(f"{n}=={v}" for n, v in sorted(pins.items())),
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _pylock(path: Path, wheels: Path, pins: dict[str, str]) -> Path:
    parts = ['lock-version = "1.0"', 'created-by = "bench"', ""]
    for name, version in sorted(pins.items()):
        wheel = _wheel_of(wheels, name, version)
        parts += [
            "[[packages]]",
            f'name = "{name}"',
            f'version = "{version}"',
            "wheels = [",
            f'  {{ name = "{wheel.name}", url = "{wheel.as_uri()}", '
            f'hashes = {{ sha256 = "{_sha256(wheel)}" }} }},',
            "]",
            "",
        ]
    path.write_text("\n".join(parts))
    return path


def _has_installer_option(pipkit: list[str], env: dict[str, str]) -> bool:
    result = subprocess.run([*pipkit, "--help"], env=env, capture_output=True, text=True)
    return "--installer" in result.stdout


class Report:
    """The table rows and the target lines, printed at the end."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, dict[str, float | None]]] = []
        self.targets: list[str] = []

    def row(self, what: str, **cells: float | None) -> None:
        self.rows.append((what, cells))

    def target(self, what: str, ours: float | None, theirs: float | None, limit: float) -> None:
        if ours is None or theirs is None:
            self.targets.append(f"{what}: not measured (not available yet)")
            return
        if math.isnan(ours) or math.isnan(theirs):
            self.targets.append(f"{what}: not measured (a command failed)")
            return
        ratio = ours / theirs
        verdict = "met" if ratio <= limit else "MISSED"
        self.targets.append(f"{what}: {ratio:.2f}x (target <= {limit}x) {verdict}")

    def print(self) -> None:
        columns = ["pipkit (pip)", "pipkit (uv)", "pip / pip-tools", "uv"]
        keys = ["pk_pip", "pk_uv", "pip", "uv"]
        print(f"\n{'path':<44}" + "".join(f"{c:>17}" for c in columns))
        for what, cells in self.rows:
            line = f"{what:<44}"
            for key in keys:
                value = cells.get(key, "-")
                if value is None:
                    text = "n/a yet"
                elif value == "-":
                    text = "-"
                elif isinstance(value, float) and math.isnan(value):
                    text = "failed"
                elif isinstance(value, float) and math.isinf(value):
                    text = f">{SLOW * 3:.0f} s"
                else:
                    assert isinstance(value, float)
                    text = f"{value * 1000:.0f} ms" if value < 10 else f"{value:.1f} s"
                line += f"{text:>17}"
            print(line)
        print()
        for line in self.targets:
            print("  " + line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per command (median)")
    parser.add_argument("--offline", action="store_true", help="skip the registry (PyPI) paths")
    args = parser.parse_args()
    runs = args.runs
    env = _env()
    pipkit = pipkit_argv()
    uv = _tool("uv")
    pip_sync = _tool("pip-sync")
    pip_compile = _tool("pip-compile")
    if uv is None:
        sys.exit("bench_engines: uv is needed (pip install uv)")
    with_uv = _has_installer_option(pipkit, env)
    load_before = os.getloadavg()
    report = Report()
    root = workdir()
    try:
        print("building a 40-package venv and its wheelhouse ...", file=sys.stderr)
        venv, wheels = build_env(root, 40)
        python = str(venv / "bin" / "python")
        names = sorted(p.name.split("-")[0] for p in wheels.glob("*-1.0-*.whl"))
        pins = dict.fromkeys(names, "1.0")
        lock = _plain_lock(root / "requirements.txt", wheels, pins)
        pristine = root / "pristine"
        subprocess.run(["cp", "-a", str(venv), str(pristine)], check=True)
        restore = ["sh", "-c", f"rm -rf '{venv}' && cp -a '{pristine}' '{venv}'"]
        # An empty venv with a pip that reads pylock.toml (>= 26.1): this interpreter's pip.
        empty_pristine = root / "empty-pristine"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(empty_pristine)])
        import pip  # the bench interpreter's own pip, copied in: no index needed

        site = next(empty_pristine.glob("lib/python*/site-packages"))
        source = Path(pip.__file__).parent
        shutil.copytree(source, site / "pip")
        for info in source.parent.glob("pip-*.dist-info"):
            shutil.copytree(info, site / info.name)
        empty = root / "empty"
        empty_python = str(empty / "bin" / "python")
        reset_empty = ["sh", "-c", f"rm -rf '{empty}' && cp -a '{empty_pristine}' '{empty}'"]

        def pk(installer: str, *words: str, target: str = str(venv)) -> list[str] | None:
            if installer == "uv" and not with_uv:
                return None
            engine = ["--installer", "uv"] if installer == "uv" else []
            return [*pipkit, *engine, "--python", target, *words]

        def add(commands: dict[str, Command], name: str, argv: list[str] | None, setup=None):  # type: ignore[no-untyped-def]
            if argv is not None:
                commands[name] = (argv, env, setup)

        def get(t: dict[str, float], name: str) -> float | None:
            return t.get(name)

        # -- 1 + 2: no-op check/sync, freeze, list ------------------------------------------------
        print("no-op check/sync, freeze, list ...", file=sys.stderr)
        quick: dict[str, Command] = {}
        for installer in ("pip", "uv"):
            add(quick, f"check-{installer}", pk(installer, "check", str(lock)))
            add(quick, f"sync-{installer}", pk(installer, "sync", str(lock), "--yes"))
            add(quick, f"freeze-{installer}", pk(installer, "freeze"))
            add(quick, f"list-{installer}", pk(installer, "list"))
        add(quick, "uv-sync", [uv, "pip", "sync", "-q", "--python", python, str(lock)])
        add(quick, "uv-freeze", [uv, "pip", "freeze", "--python", python])
        add(quick, "uv-list", [uv, "pip", "list", "--python", python])
        add(quick, "startup", [sys.executable, "-c", "pass"])
        add(quick, "pip-freeze", [python, "-m", "pip", "freeze"])
        add(quick, "pip-list", [python, "-m", "pip", "list"])
        if pip_sync:
            add(quick, "pip-sync", [pip_sync, "--python-executable", python, "-q", str(lock)])
        t = measure(quick, runs)
        report.row("no-op check (cached)", pk_pip=t["check-pip"], pk_uv=get(t, "check-uv"),
                   uv=t["uv-sync"])  # fmt: skip
        report.row("no-op sync (cached)", pk_pip=t["sync-pip"], pk_uv=get(t, "sync-uv"),
                   pip=get(t, "pip-sync"), uv=t["uv-sync"])  # fmt: skip
        report.row("freeze, 40 packages", pk_pip=t["freeze-pip"], pk_uv=get(t, "freeze-uv"),
                   pip=t["pip-freeze"], uv=t["uv-freeze"])  # fmt: skip
        report.row("list, 40 packages", pk_pip=t["list-pip"], pk_uv=get(t, "list-uv"),
                   pip=t["pip-list"], uv=t["uv-list"])  # fmt: skip
        report.row("python -c pass (pipkit's start-up floor)", pk_pip=t["startup"])
        report.target("no-op check vs no-op uv pip sync", t["check-pip"], t["uv-sync"], 2)
        report.target("no-op sync vs no-op uv pip sync", t["sync-pip"], t["uv-sync"], 2)
        report.target("freeze vs uv pip freeze", t["freeze-pip"], t["uv-freeze"], 2.5)
        report.target("list vs uv pip list", t["list-pip"], t["uv-list"], 2.5)

        # -- 3: 30 changes ----------------------------------------------------------------------
        print("sync of 30 changes ...", file=sys.stderr)
        changed = {n: ("2.0" if i < 30 else "1.0") for i, n in enumerate(names)}
        target_lock = _plain_lock(root / "changed.txt", wheels, changed)
        only30 = _plain_lock(root / "only30.txt", wheels, {n: "2.0" for n in names[:30]})
        changes: dict[str, Command] = {}
        add(changes, "pk-pip", pk("pip", "sync", str(target_lock), "--yes"), restore)
        add(changes, "pk-uv", pk("uv", "sync", str(target_lock), "--yes"), restore)
        add(changes, "pip", [python, "-m", "pip", "install", "-q", "--no-deps", "-r",
                             str(only30)], restore)  # fmt: skip
        add(changes, "uv", [uv, "pip", "sync", "-q", "--python", python, str(target_lock)],
            restore)  # fmt: skip
        if pip_sync:
            add(changes, "pip-sync", [pip_sync, "--python-executable", python, "-q",
                                      str(target_lock)], restore)  # fmt: skip
        t = measure(changes, runs)
        report.row("sync 30 changes (pip: bare pip install)", pk_pip=t["pk-pip"],
                   pk_uv=get(t, "pk-uv"), pip=t["pip"], uv=t["uv"])  # fmt: skip
        if pip_sync:
            report.row("  (pip-sync)", pip=t["pip-sync"])
        report.target("30 changes via uv vs uv pip sync", get(t, "pk-uv"), t["uv"], 5)
        report.target("30 changes via pip vs pip install --no-deps -r", t["pk-pip"], t["pip"], 1.1)

        # -- 4: hashed lock and pylock into an empty venv -----------------------------------------
        sets: list[tuple[str, Path, Path]] = []
        local = {n: "1.0" for n in names}
        sets.append(
            (
                "local",
                _hashed_lock(root / "hashed-local.txt", wheels, local),
                _pylock(root / "pylock.toml", wheels, local),
            )
        )
        if not args.offline:
            print("locking from the registry (PyPI) once ...", file=sys.stderr)
            reg_in = root / "registry.in"
            reg_in.write_text("\n".join(REGISTRY_INPUTS) + "\n")
            reg_lock, reg_pylock = root / "registry.txt", root / "registry" / "pylock.toml"
            reg_pylock.parent.mkdir()
            base = [uv, "pip", "compile", "-q", "--no-config", "--python", empty_python,
                    "--generate-hashes", str(reg_in)]  # fmt: skip
            subprocess.run(reset_empty, check=True)
            made = subprocess.run([*base, "-o", str(reg_lock)], env=env, capture_output=True)
            made2 = subprocess.run(
                [*base, "--format", "pylock.toml", "-o", str(reg_pylock)],
                env=env,
                capture_output=True,
            )
            if made.returncode == 0 and made2.returncode == 0:
                sets.append(("registry", reg_lock, reg_pylock))
            else:
                report.targets.append("registry paths skipped: uv pip compile failed (offline?)")
        for kind, hashed, pylock in sets:
            print(f"{kind}: hashed lock and pylock into an empty venv ...", file=sys.stderr)
            label = "registry (PyPI)" if kind == "registry" else "local wheelhouse"
            count = sum(1 for line in hashed.read_text().splitlines() if "==" in line)
            into: dict[str, Command] = {}
            for lock_file, tag in ((hashed, "req"), (pylock, "pylock")):
                for installer in ("pip", "uv"):
                    argv = pk(installer, "sync", str(lock_file), "--yes", target=str(empty))
                    add(into, f"pk-{installer}-{tag}", argv, reset_empty)
                add(into, f"uv-{tag}", [uv, "pip", "sync", "-q", "--python", empty_python,
                                        str(lock_file)], reset_empty)  # fmt: skip
            add(into, "pip-req", [empty_python, "-m", "pip", "install", "-q", "--no-deps",
                                  "--require-hashes", "-r", str(hashed)], reset_empty)  # fmt: skip
            add(into, "pip-pylock", [empty_python, "-m", "pip", "install", "-q", "-r",
                                     str(pylock)], reset_empty)  # fmt: skip
            if pip_sync:
                add(into, "pip-sync", [pip_sync, "--python-executable", empty_python, "-q",
                                       str(hashed)], reset_empty)  # fmt: skip
            t = measure(into, runs)
            report.row(f"hashed lock, {count} pkgs, {label}", pk_pip=t["pk-pip-req"],
                       pk_uv=get(t, "pk-uv-req"), pip=t["pip-req"], uv=t["uv-req"])  # fmt: skip
            if pip_sync:
                report.row("  (pip-sync)", pip=t["pip-sync"])
            report.row(f"pylock.toml, {label}", pk_pip=t["pk-pip-pylock"],
                       pk_uv=get(t, "pk-uv-pylock"), pip=t["pip-pylock"],
                       uv=t["uv-pylock"])  # fmt: skip
            report.target(f"{label}: lock via uv vs uv pip sync", get(t, "pk-uv-req"),
                          t["uv-req"], 1.5)  # fmt: skip
            report.target(f"{label}: pylock via uv vs uv pip sync", get(t, "pk-uv-pylock"),
                          t["uv-pylock"], 1.5)  # fmt: skip
            report.target(f"{label}: pylock via pip vs pip install -r pylock.toml",
                          t["pk-pip-pylock"], t["pip-pylock"], 1.5)  # fmt: skip

        # -- 5: lock of a few inputs ---------------------------------------------------------------
        print("lock of a few inputs ...", file=sys.stderr)
        project = root / "project"
        project.mkdir()
        inputs = project / "requirements.in"
        chosen = [n for i, n in enumerate(names) if i % 4 == 0][:LOCK_INPUTS]
        inputs.write_text(f"--no-index\n--find-links {wheels}\n" + "\n".join(chosen) + "\n")
        out_pk, out_uv, out_pc = (
            project / "requirements.txt",
            project / "uv.txt",
            project / "pc.txt",
        )
        clear = ["rm", "-f", str(out_pk), str(out_uv), str(out_pc)]
        locks: dict[str, Command] = {}
        add(locks, "pk-uv", [*pipkit, "--python", python, "lock", str(inputs), "-o",
                             str(out_pk), "--resolver", "uv"], clear)  # fmt: skip
        add(locks, "pk-pip", [*pipkit, "--python", python, "lock", str(inputs), "-o",
                              str(out_pk)], clear)  # fmt: skip
        add(locks, "uv", [uv, "pip", "compile", "-q", "--python", python, "--generate-hashes",
                          str(inputs), "-o", str(out_uv)], clear)  # fmt: skip
        if pip_compile:
            add(locks, "pip-compile", [pip_compile, "-q", "--generate-hashes", "--allow-unsafe",
                                       str(inputs), "-o", str(out_pc)], clear)  # fmt: skip
        t = measure(locks, runs)
        report.row(f"lock, {len(chosen)} inputs (resolver)", pk_pip=t["pk-pip"],
                   pk_uv=t["pk-uv"], pip=get(t, "pip-compile"), uv=t["uv"])  # fmt: skip
        report.target("lock --resolver uv vs uv pip compile --generate-hashes", t["pk-uv"],
                      t["uv"], 1.5)  # fmt: skip
    finally:
        remove(root)
    load_after = os.getloadavg()
    print(f"\nmedian of {runs} runs after a warm-up, interleaved; uv {_version([uv])}")
    print("pipkit (uv): " + ("--installer uv" if with_uv else "not available yet (no --installer)"))
    report.print()
    print(
        "\nload average before: "
        + " ".join(f"{x:.2f}" for x in load_before)
        + ", after: "
        + " ".join(f"{x:.2f}" for x in load_after)
    )


def _version(argv: list[str]) -> str:
    result = subprocess.run([*argv, "--version"], capture_output=True, text=True)
    return result.stdout.strip().split(" ")[1] if result.returncode == 0 else "?"


if __name__ == "__main__":
    main()

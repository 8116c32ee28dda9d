"""``pipkit sync``: the env becomes exactly the lock; refusals; no-op starts no process.

Also holds the helpers the check and transaction tests share: a module wheelhouse, a base
venv (alpha 1.0, beta 1.0, gamma 1.0 installed) copied per test, the venv's exact file state
and its dist-info folders.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import copy_venv, site_packages, venv_python
from tests.wheelmaker import make_wheel

# -- shared helpers -----------------------------------------------------------------------------


def clean_environ(**extra: str) -> dict[str, str]:
    """os.environ without pip's machine configuration (for set-up outside the fixtures)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.pop("VIRTUAL_ENV", None)
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    env.update(extra)
    return env


def pip(venv: Path, *args: str) -> None:
    subprocess.run(
        [venv_python(venv), "-m", "pip", "-q", *args],
        check=True,
        env=clean_environ(),
        stdout=subprocess.DEVNULL,
    )


def file_state(venv: Path) -> dict[str, str]:
    """Every file under the venv (its pipkit state folder aside) with its content's digest."""
    state: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(venv):
        if Path(dirpath) == venv:
            dirnames[:] = [d for d in dirnames if d != "pipkit"]
        for name in filenames + [d for d in dirnames if os.path.islink(Path(dirpath, d))]:
            path = Path(dirpath, name)
            rel = str(path.relative_to(venv))
            if path.is_symlink():
                state[rel] = "link:" + os.readlink(path)
            else:
                state[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


def dist_infos(venv: Path) -> dict[str, list[str]]:
    """name -> versions of the *.dist-info folders (two entries = a stray duplicate)."""
    found: dict[str, list[str]] = {}
    for info in site_packages(venv).glob("*.dist-info"):
        name, _, version = info.name[: -len(".dist-info")].partition("-")
        found.setdefault(name.lower(), []).append(version)
    return {k: sorted(v) for k, v in sorted(found.items())}


def imported_version(venv: Path, module: str) -> str:
    result = subprocess.run(
        [venv_python(venv), "-c", f"import {module}; print({module}.__version__)"],
        capture_output=True,
        text=True,
        env=clean_environ(),
    )
    return result.stdout.strip() if result.returncode == 0 else "ImportError"


def block(venv: Path) -> None:
    """A plain file where the ``aablocked`` wheel's package folder goes: installing it fails
    (pip and uv alike) after the other wheels of the same run are in."""
    (site_packages(venv) / "aablocked").write_text("in the way\n")


def write_lock(path: Path, wheels: Path, *lines: str) -> Path:
    path.write_text(f"--no-index\n--find-links {wheels}\n" + "".join(f"{x}\n" for x in lines))
    return path


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120):  # type: ignore[no-untyped-def]
    """pipkit as a subprocess (where signals, or exact exit codes of the process, matter)."""
    return subprocess.run(
        [sys.executable, "-m", "pipkit", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def sha256_of(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def truncated_wheel(folder: Path, name: str, version: str) -> Path:
    whole = make_wheel(folder / "whole", name, version)
    cut = folder / whole.name
    cut.write_bytes(whole.read_bytes()[: len(whole.read_bytes()) // 2])
    return cut


def huge_wheel(folder: Path, name: str, version: str, count: int = 2500) -> Path:
    """A wheel with many modules: pip takes a few seconds to install (and compile) it."""
    files = {f"{name}_pkg/m{i}.py": f"X{i} = {i}\n" * 20 for i in range(count)}
    files[f"{name}_pkg/__init__.py"] = ""
    return make_wheel(folder, name, version, files=files)


def _session_folder(factory: pytest.TempPathFactory, name: str) -> tuple[Path, bool]:
    """A folder shared by this session's test modules: (path, already built)."""
    folder = factory.getbasetemp() / name
    return folder, (folder / ".done").exists()


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder, done = _session_folder(tmp_path_factory, "sync-wheels")
    if done:
        return folder
    folder.mkdir(exist_ok=True)
    for version in ("1.0", "2.0"):
        # A data file in a package folder, a plain script and an entry-point script in bin/.
        files = {
            "alpha_data/info.txt": f"alpha {version}\n",
            f"alpha-{version}.data/scripts/alpha-tool": f"#!python\nprint('alpha {version}')\n",
            f"alpha-{version}.dist-info/entry_points.txt": "[console_scripts]\nalpha-cli = a:x\n",
        }
        make_wheel(folder, "alpha", version, files=files)
        make_wheel(folder, "beta", version, requires=["alpha>=1.0"])
    make_wheel(folder, "gamma", "1.0", requires=["beta"])
    make_wheel(folder, "gamma", "2.0", requires=["beta"])
    make_wheel(folder, "needy", "1.0", requires=["zeta>=1"])
    make_wheel(folder, "wheel", "0.42")
    make_wheel(folder, "pip", "99.0", module="fakepip")  # pip replacing itself, then failing
    make_wheel(folder, "Odd.Name_pkg", "1.0", module="odd_name_pkg")
    # pip installs --no-deps wheels in reverse name order: "aa..." come last, after the others.
    make_wheel(folder, "aabroken", "1.0", files={"../../../../escape.txt": "x"})
    # Fails under both engines once the others are in: its package folder is blocked by a
    # plain file (see ``block``).
    make_wheel(folder, "aablocked", "1.0", files={"aablocked/__init__.py": "X = 1\n"})
    truncated_wheel(folder, "aacut", "1.0")
    huge_wheel(folder, "aahuge", "1.0")
    (folder / ".done").touch()
    return folder


@pytest.fixture(scope="module")
def base_venv(template_venv: Path, wheels: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder, done = _session_folder(tmp_path_factory, "sync-base")
    venv = folder / "venv"
    if done:
        return venv
    folder.mkdir(exist_ok=True)
    copy_venv(template_venv, venv)
    pip(venv, "install", "--no-index", "--find-links", str(wheels), "gamma==1.0", "beta==1.0")
    pip(venv, "install", "--no-index", "--find-links", str(wheels), "alpha==1.0", "wheel")
    (folder / ".done").touch()
    return venv


@pytest.fixture
def env(base_venv: Path, tmp_path: Path) -> Path:
    """A copy of the base venv: alpha 1.0, beta 1.0, gamma 1.0, wheel 0.42, pip, setuptools."""
    dest = tmp_path / "venv"
    subprocess.run(["cp", "-a", str(base_venv), str(dest)], check=True)  # 3x copytree's speed
    cfg = dest / "pyvenv.cfg"
    cfg.write_text(cfg.read_text().replace(str(base_venv), str(dest)))
    return dest


# -- sync ---------------------------------------------------------------------------------------


def test_sync_reaches_the_lock_exactly(run_pipkit, env, wheels, tmp_path):  # type: ignore[no-untyped-def]
    lock = write_lock(
        tmp_path / "requirements.txt", wheels, "alpha==2.0", "beta==2.0", "Odd.Name_pkg==1.0"
    )
    before = dist_infos(env)
    assert before["gamma"] == ["1.0"] and "pip" in before and "setuptools" in before

    result = run_pipkit("--python", str(env), "sync", str(lock), "--yes")
    assert result.exit_code == 0, result.output
    after = dist_infos(env)
    assert after["alpha"] == ["2.0"] and after["beta"] == ["2.0"]
    assert after["odd_name_pkg"] == ["1.0"]
    assert "gamma" not in after  # extra: removed
    for protected in ("pip", "setuptools", "wheel"):  # never removed, though not locked
        assert after[protected] == before[protected]
    assert imported_version(env, "alpha") == "2.0"
    assert imported_version(env, "gamma") == "ImportError"
    assert not (site_packages(env) / "gamma.py").exists()
    assert (site_packages(env) / "alpha_data" / "info.txt").read_text() == "alpha 2.0\n"
    assert "alpha 2.0" in (env / "bin" / "alpha-tool").read_text()
    assert (env / "bin" / "alpha-cli").exists()
    # No stash, journal or temp file left behind; the env now checks clean.
    assert not (env / "pipkit" / "transaction").exists()
    check = run_pipkit("--python", str(env), "check", str(lock))
    assert check.exit_code == 0, check.output


def test_dry_run_lists_the_plan_and_changes_nothing(run_pipkit, env, wheels, tmp_path):  # type: ignore[no-untyped-def]
    lock = write_lock(
        tmp_path / "requirements.txt", wheels, "alpha==2.0", "beta==1.0", "needy==1.0"
    )
    before = file_state(env)
    result = run_pipkit("--python", str(env), "sync", str(lock), "--dry-run")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "+ needy 1.0" in out
    assert "~ alpha 1.0 -> 2.0" in out
    assert "- gamma 1.0" in out
    assert "  kept (not in the lock): pip " in out
    assert ", setuptools " in out and ", wheel " in out
    assert file_state(env) == before

    as_json = run_pipkit("--python", str(env), "sync", str(lock), "--dry-run", "--json")
    import json

    data = json.loads(as_json.stdout)
    assert data["dry_run"] is True and data["applied"] is False
    assert [c["name"] for c in data["change"]] == ["alpha"]
    assert [r["name"] for r in data["remove"]] == ["gamma"]
    assert {p["name"] for p in data["protected"]} >= {"pip", "setuptools", "wheel"}
    assert file_state(env) == before


def test_keep_spares_a_package(run_pipkit, env, wheels, tmp_path):  # type: ignore[no-untyped-def]
    lock = write_lock(tmp_path / "requirements.txt", wheels, "alpha==1.0", "beta==1.0")
    result = run_pipkit("--python", str(env), "sync", str(lock), "--yes", "--keep", "Gamma")
    assert result.exit_code == 0, result.output
    assert dist_infos(env)["gamma"] == ["1.0"]


def test_missing_empty_and_unreadable_locks_are_refused(
    run_pipkit, env, wheels, tmp_path, monkeypatch
):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    before = file_state(env)
    none = run_pipkit("--python", str(env), "sync", "--yes")
    assert none.exit_code == 2
    assert "no lock file found" in none.stderr
    gone = run_pipkit("--python", str(env), "sync", "nope.txt", "--yes")
    assert gone.exit_code == 2 and "nope.txt: no such lock file" in gone.stderr

    empty = tmp_path / "requirements.txt"
    empty.write_text("# nothing here\n")
    refused = run_pipkit("--python", str(env), "sync", "--yes")
    assert refused.exit_code == 2
    assert "--allow-empty" in refused.stderr and "Traceback" not in refused.output
    bad = tmp_path / "bad.txt"
    bad.write_text("alpha==1.0\nthis is not a requirement ===\n")
    broken = run_pipkit("--python", str(env), "sync", str(bad), "--yes")
    assert broken.exit_code == 2 and "bad.txt:2" in broken.stderr
    # Bad input is one line: the target line is said only before a command's own output.
    (line,) = broken.stderr.splitlines()
    assert line.startswith("pipkit: error: ") and "bad.txt:2" in line
    assert file_state(env) == before

    # --allow-empty means it: everything but the protected packages goes.
    allowed = run_pipkit("--python", str(env), "sync", "--yes", "--allow-empty")
    assert allowed.exit_code == 0, allowed.output
    assert set(dist_infos(env)) == {"pip", "setuptools", "wheel"}


def test_lint_problems_are_refused(run_pipkit, env, wheels, tmp_path):  # type: ignore[no-untyped-def]
    lock = write_lock(tmp_path / "requirements.txt", wheels, "alpha>=1.0", "beta==1.0")
    before = file_state(env)
    result = run_pipkit("--python", str(env), "sync", str(lock), "--yes")
    assert result.exit_code == 2
    assert "requirements.txt:3: unpinned" in result.stderr
    assert file_state(env) == before


def test_incomplete_lock_is_refused_naming_the_chain(run_pipkit, env, wheels, tmp_path):  # type: ignore[no-untyped-def]
    lock = write_lock(
        tmp_path / "requirements.txt", wheels, "alpha==2.0", "beta==1.0", "gamma==1.0", "needy==1.0"
    )
    before = file_state(env)
    result = run_pipkit("--python", str(env), "sync", str(lock), "--yes")
    assert result.exit_code == 1
    assert "the lock is incomplete" in result.stderr
    assert "needy 1.0 -> zeta>=1 (missing)" in result.stderr
    assert file_state(env) == before
    assert imported_version(env, "alpha") == "1.0"


def test_noop_sync_and_check_start_no_process(run_pipkit, env, wheels, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    from pipkit.env import proc

    lock = write_lock(
        tmp_path / "requirements.txt", wheels, "alpha==1.0", "beta==1.0", "gamma==1.0"
    )
    first = run_pipkit("--python", str(env), "check", str(lock))  # probes (and caches) once
    assert first.exit_code == 0, first.output

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a process was started: {args}")

    monkeypatch.setattr(proc, "pip", refuse)
    monkeypatch.setattr(proc, "run", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)
    result = run_pipkit("--python", str(env), "sync", str(lock), "--yes")
    assert result.exit_code == 0, result.output
    assert "already matches" in result.stderr
    assert run_pipkit("--python", str(env), "check", str(lock)).exit_code == 0
    assert not (env / "pipkit" / "transaction").exists()


def test_sync_json_and_hashes(run_pipkit, env, wheels, tmp_path):  # type: ignore[no-untyped-def]
    import json

    alpha = wheels / "alpha-2.0-py3-none-any.whl"
    beta = wheels / "beta-1.0-py3-none-any.whl"
    gamma = wheels / "gamma-1.0-py3-none-any.whl"
    lock = write_lock(
        tmp_path / "requirements.txt",
        wheels,
        f"alpha==2.0 --hash={sha256_of(alpha)}",
        f"beta==1.0 --hash={sha256_of(beta)}",
        f"gamma==1.0 --hash={sha256_of(gamma)}",
    )
    result = run_pipkit("--python", str(env), "sync", str(lock), "--yes", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["applied"] is True
    assert data["change"] == [
        {"name": "alpha", "installed": "1.0", "locked": "2.0", "reason": "version"}
    ]
    assert dist_infos(env)["alpha"] == ["2.0"]


def test_zip_helpers_make_what_they_say(wheels):  # type: ignore[no-untyped-def]
    # The failure tests rely on these: a cut wheel is not a zip, the huge one is large.
    with pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(wheels / "aacut-1.0-py3-none-any.whl")
    with zipfile.ZipFile(wheels / "aahuge-1.0-py3-none-any.whl") as archive:
        assert len(archive.namelist()) > 2000


def test_without_yes_the_plan_is_shown_and_a_no_changes_nothing(
    run_pipkit, env, wheels, tmp_path, terminal
):  # type: ignore[no-untyped-def]
    lock = write_lock(tmp_path / "requirements.txt", wheels, "alpha==2.0", "beta==1.0")
    before = file_state(env)
    result = run_pipkit("--python", str(env), "sync", str(lock), input="n\n")
    assert result.exit_code == 1
    assert "~ alpha 1.0 -> 2.0" in result.stderr
    assert "- gamma 1.0" in result.stderr
    assert "  kept (not in the lock): pip " in result.stderr
    assert "Apply these changes?" in result.stderr
    assert file_state(env) == before


def test_cached_noop_answers_before_typer_and_the_same(env, wheels, tmp_path):  # type: ignore[no-untyped-def]
    lock = write_lock(
        tmp_path / "requirements.txt", wheels, "alpha==1.0", "beta==1.0", "gamma==1.0"
    )
    (tmp_path / "pylock.toml").write_text("")  # a second default lock: check names its choice
    py = ["--python", str(env)]
    forms = [
        ["check", str(lock)],
        ["check"],
        ["check", "--json"],
        ["sync", "--yes"],
        ["sync", "-y", "--json"],
    ]
    full = [run_cli(*py, *form, cwd=tmp_path, env={"PIPKIT_NO_CACHE": "1"}) for form in forms]
    # The lock and the venv lie in the working folder: named relative to it.
    assert full[0].stdout == full[1].stdout == "requirements.txt vs venv: in sync\n"
    assert full[1].stderr == (
        "pipkit: note: requirements.txt and pylock.toml are both here: comparing "
        "requirements.txt (name the lock to choose)\n"
    )
    assert full[3].stderr.startswith(f"target: {env}\n")
    for form in forms:  # fills the cache
        assert run_cli(*py, *form, cwd=tmp_path).returncode == 0
    # With typer's command tree made unusable, a cached no-op still answers, identically.
    stub = (
        "import sys, typer.main\n"
        "def broken(*a, **k): sys.exit(99)\n"
        "typer.main.get_command = broken\n"
        "from pipkit.fastpath import main\n"
        "sys.argv = ['pipkit', *sys.argv[1:]]\n"
        "main()\n"
    )
    for form, expected in zip(forms, full, strict=True):
        fast = subprocess.run(
            [sys.executable, "-c", stub, *py, *form],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert fast.returncode == 0, (form, fast.stderr)
        assert (fast.stdout, fast.stderr) == (expected.stdout, expected.stderr), form
    # Anything else (here: --dry-run) goes through typer.
    other = subprocess.run(
        [sys.executable, "-c", stub, *py, "sync", "--dry-run"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert other.returncode == 99

"""``pipkit check``: drift as JSON and exit codes, markers, editables, lint, notes."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import fake_editable, site_packages
from tests.test_sync import base_venv, env, wheels, write_lock

__all__ = ["base_venv", "env", "wheels"]  # fixtures, imported for pytest


def _check(run_pipkit, venv: Path, *args: str):  # type: ignore[no-untyped-def]
    return run_pipkit("--python", str(venv), "check", *args)


def test_in_sync_exits_0(run_pipkit, env, wheels, tmp_path):  # type: ignore[no-untyped-def]
    lock = write_lock(
        tmp_path / "requirements.txt", wheels, "alpha==1.0", "beta==1.0", "gamma==1.0"
    )
    result = _check(run_pipkit, env, str(lock))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{lock} vs {env}: in sync\n"
    data = json.loads(_check(run_pipkit, env, str(lock), "--json").stdout)
    assert data == {
        "in_sync": True,
        "missing": [],
        "extra": [],
        "changed": [],
        "conflicts": [],
        "warnings": [],
    }


def test_drift_json_and_exit_1(run_pipkit, env, wheels, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    # Default lock: requirements.txt in the working directory.
    monkeypatch.chdir(tmp_path)
    write_lock(
        tmp_path / "requirements.txt", wheels, "Alpha==2.0", "beta==1.0", "Odd.Name_pkg==1.0"
    )
    result = _check(run_pipkit, env, "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["in_sync"] is False
    assert data["missing"] == [{"name": "odd-name-pkg", "version": "1.0"}]
    assert data["extra"] == [{"name": "gamma", "version": "1.0"}]
    assert data["changed"] == [{"name": "alpha", "installed": "1.0", "locked": "2.0"}]
    assert data["conflicts"] == []
    text = _check(run_pipkit, env)
    assert text.exit_code == 1
    assert "missing   odd-name-pkg 1.0" in text.stdout
    assert "extra     gamma 1.0" in text.stdout
    assert "changed   alpha 1.0 (locked: 2.0)" in text.stdout
    # What was compared, and the next step.
    assert env == tmp_path / "venv"  # inside the working folder: named as the user would
    assert text.stdout.endswith(
        "requirements.txt vs venv: 3 differences\nrun: pipkit sync requirements.txt\n"
    )


def test_pylock_is_the_fallback_default(run_pipkit, env, wheels, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    import hashlib

    monkeypatch.chdir(tmp_path)
    text = 'lock-version = "1.0"\ncreated-by = "test"\n'
    for name in ("alpha", "beta", "gamma"):
        wheel = wheels / f"{name}-1.0-py3-none-any.whl"
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        text += (
            f'[[packages]]\nname = "{name}"\nversion = "1.0"\n'
            f'wheels = [{{name = "{wheel.name}", path = "{wheel}", '
            f'hashes = {{sha256 = "{digest}"}}}}]\n'
        )
    (tmp_path / "pylock.toml").write_text(text)
    result = _check(run_pipkit, env)
    assert result.exit_code == 0, result.output
    # No lock named and no requirements.txt here: pylock.toml is the one compared.
    assert (result.stdout, result.stderr) == ("pylock.toml vs venv: in sync\n", "")


def test_conflicts_inside_the_env(run_pipkit, env, wheels, tmp_path):  # type: ignore[no-untyped-def]
    # alpha removed behind pipkit's back: beta's requirement is broken (pip check's rule).
    for path in site_packages(env).glob("alpha*"):
        path.rename(tmp_path / path.name)
    lock = write_lock(tmp_path / "requirements.txt", wheels, "beta==1.0", "gamma==1.0")
    result = _check(run_pipkit, env, str(lock), "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["missing"] == [] and data["extra"] == []
    assert data["conflicts"] == [
        {
            "name": "beta",
            "version": "1.0",
            "requires": "alpha>=1.0",
            "problem": "missing",
            "installed": None,
        }
    ]


def test_entries_whose_markers_do_not_apply_are_left_out(run_pipkit, env, wheels, tmp_path):  # type: ignore[no-untyped-def]
    lock = write_lock(
        tmp_path / "requirements.txt",
        wheels,
        "alpha==1.0",
        "beta==1.0",
        "gamma==1.0",
        'needy==1.0 ; sys_platform == "win32"',
        'alpha==9.9 ; python_version < "3"',
    )
    result = _check(run_pipkit, env, str(lock), "--json")
    assert result.exit_code == 0, result.output
    # needy (win32 only) is not missing, and alpha 9.9 (Python 2 only) is no change.
    assert json.loads(result.stdout) == {
        "in_sync": True,
        "missing": [],
        "extra": [],
        "changed": [],
        "conflicts": [],
        "warnings": [],
    }


def test_editable_matched_by_direct_url(run_pipkit, env, wheels, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text("[project]\nname = 'edpkg'\nversion = '0.5'\n")
    other = tmp_path / "other"
    other.mkdir()
    (other / "pyproject.toml").write_text("[project]\nname = 'edpkg'\nversion = '0.5'\n")
    fake_editable(site_packages(env), "edpkg", "0.5", project.as_uri())
    base = ["alpha==1.0", "beta==1.0", "gamma==1.0"]
    same = write_lock(tmp_path / "same.txt", wheels, *base, "-e ./proj")
    assert _check(run_pipkit, env, str(same)).exit_code == 0
    moved = write_lock(tmp_path / "moved.txt", wheels, *base, "-e ./other")
    result = _check(run_pipkit, env, str(moved), "--json")
    assert result.exit_code == 1
    (changed,) = json.loads(result.stdout)["changed"]
    assert changed["name"] == "edpkg" and "editable" in changed["installed"]


def test_lint_is_warned_not_refused(run_pipkit, env, wheels, tmp_path):  # type: ignore[no-untyped-def]
    lock = write_lock(
        tmp_path / "requirements.txt",
        wheels,
        "alpha>=1.0",
        "beta==1.0 --hash=sha256:" + "0" * 64,
        "gamma==1.0",
    )
    result = _check(run_pipkit, env, str(lock))
    assert result.exit_code == 0, result.output  # the env does match
    assert "requirements.txt:3: unpinned" in result.stderr
    assert "requirements.txt:5: hashes" in result.stderr
    data = json.loads(_check(run_pipkit, env, str(lock), "--json").stdout)
    assert any("unpinned" in w for w in data["warnings"])


def test_header_for_another_python_and_platform(run_pipkit, env, wheels, tmp_path):  # type: ignore[no-untyped-def]
    lock = tmp_path / "requirements.txt"
    lock.write_text(
        "# This file is autogenerated by pipkit lock. To update, run:\n#\n"
        "# pipkit: python=3.8 platform=win32\n"
        f"--no-index\n--find-links {wheels}\nalpha==1.0\nbeta==1.0\ngamma==1.0\n"
    )
    result = _check(run_pipkit, env, str(lock))
    assert result.exit_code == 0
    assert "was made for Python 3.8" in result.stderr
    assert "was made for platform win32" in result.stderr
    # Said first, before anything else.
    assert result.stderr.startswith("pipkit: note:")


def test_pending_journal_is_reported(run_pipkit, env, wheels, tmp_path):  # type: ignore[no-untyped-def]
    journal = env / "pipkit" / "transaction" / "journal.json"
    journal.parent.mkdir(parents=True)
    journal.write_text(json.dumps({"command": "pipkit sync", "phase": "installing"}))
    lock = write_lock(
        tmp_path / "requirements.txt", wheels, "alpha==1.0", "beta==1.0", "gamma==1.0"
    )
    result = _check(run_pipkit, env, str(lock))
    assert "pipkit recover" in result.stderr and "pending" in result.stderr
    refused = run_pipkit("--python", str(env), "uninstall", "gamma", "--yes")
    assert refused.exit_code == 1 and "pipkit recover" in refused.stderr


def test_bad_input_exits_2_with_one_line(run_pipkit, env, tmp_path):  # type: ignore[no-untyped-def]
    lock = tmp_path / "requirements.txt"
    lock.write_text("alpha==1.0\n--no-such-option\n")
    result = _check(run_pipkit, env, str(lock))
    assert result.exit_code == 2
    assert "requirements.txt:2" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    missing = _check(run_pipkit, env, str(tmp_path / "nope.txt"))
    assert missing.exit_code == 2 and "no such lock file" in missing.stderr


def test_cached_no_op_answer_follows_the_env_and_the_lock(run_pipkit, env, wheels, tmp_path):  # type: ignore[no-untyped-def]
    lock = write_lock(
        tmp_path / "requirements.txt", wheels, "alpha==1.0", "beta==1.0", "gamma==1.0"
    )
    assert _check(run_pipkit, env, str(lock)).exit_code == 0  # full check, answer cached
    assert _check(run_pipkit, env, str(lock)).exit_code == 0  # from the cache
    # Changed behind pipkit's back: the cached answer no longer holds.
    for path in site_packages(env).glob("gamma*"):
        path.rename(tmp_path / path.name)
    result = _check(run_pipkit, env, str(lock), "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["missing"] == [{"name": "gamma", "version": "1.0"}]
    for path in tmp_path.glob("gamma*"):
        path.rename(site_packages(env) / path.name)
    assert _check(run_pipkit, env, str(lock)).exit_code == 0
    # So does an edited lock.
    write_lock(lock, wheels, "alpha==2.0", "beta==1.0", "gamma==1.0")
    assert _check(run_pipkit, env, str(lock)).exit_code == 1


def test_double_pin_is_a_warning_in_check_and_a_refusal_in_sync(
    run_pipkit, venv, wheelhouse, tmp_path
):  # type: ignore[no-untyped-def]
    from tests.conftest import pip_install

    pip_install(venv, "alpha==1.0", wheelhouse=wheelhouse)
    lock = tmp_path / "requirements.txt"
    lock.write_text("alpha==1.0\nalpha==2.0\n")
    result = run_pipkit("--python", str(venv), "check", str(lock), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["in_sync"] is True
    assert any("alpha" in w and "2.0" in w for w in report["warnings"]), report
    result = run_pipkit("--python", str(venv), "sync", str(lock), "--yes")
    assert result.exit_code == 2


def test_check_names_a_stale_lock_even_when_cached(venv, wheelhouse, tmp_path):  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    from tests.conftest import pip_install

    pip_install(venv, "alpha==1.0", wheelhouse=wheelhouse)
    (tmp_path / "requirements.in").write_text("alpha\n")
    (tmp_path / "requirements.txt").write_text("alpha==1.0\n    # via -r requirements.in\n")

    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pipkit", "--python", str(venv), "check"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
        )

    for _ in range(2):  # the second answer comes from the no-op cache
        first = check()
        assert first.returncode == 0, first.stderr
        assert "stale" not in first.stderr
    (tmp_path / "requirements.in").write_text("alpha>=2\n")
    stale = check()
    assert stale.returncode == 0  # in sync with the lock; the lock is what is out of date
    assert "stale lock" in stale.stderr and "alpha" in stale.stderr

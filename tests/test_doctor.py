"""``pipkit doctor``: a fresh venv is healthy; one broken case per finding, each with its fix."""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pipkit.env.target import resolve_target
from pipkit.ops.doctor import doctor
from tests.conftest import copy_venv, pip_install, site_packages, venv_python
from tests.wheelmaker import make_wheel


@pytest.fixture(scope="module")
def sick_template(template_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv with a few small packages, a console script among them, all healthy."""
    folder = tmp_path_factory.mktemp("doctor")
    wheels = folder / "wheels"
    tool = {"tool-1.0.dist-info/entry_points.txt": "[console_scripts]\ntool-cli = tool:main\n"}
    paths = [
        make_wheel(wheels, "tool", "1.0", files=tool),
        make_wheel(wheels, "Mixed_Case", "1.0", requires=["tool>=1"]),
        make_wheel(wheels, "old", "2.0"),
    ]
    venv = copy_venv(template_venv, folder / "venv")
    pip_install(venv, "--no-deps", *map(str, paths))
    return venv


@pytest.fixture
def sick(sick_template: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "venv"
    subprocess.run(["cp", "-a", str(sick_template), str(dest)], check=True)
    cfg = dest / "pyvenv.cfg"
    cfg.write_text(cfg.read_text().replace(str(sick_template), str(dest)))
    return dest


def _doctor(run_pipkit, venv: Path) -> tuple[int, dict[str, Any]]:  # type: ignore[no-untyped-def]
    result = run_pipkit("--python", str(venv), "doctor", "--json")
    data: dict[str, Any] = json.loads(result.stdout)
    return result.exit_code, data


def _kinds(items: list[dict[str, Any]]) -> list[str]:
    return [item["kind"] for item in items]


def test_a_fresh_venv_is_healthy(run_pipkit, venv) -> None:  # type: ignore[no-untyped-def]
    # pip and setuptools, whose distutils-precedence.pth runs code: a well-known one.
    assert (site_packages(venv) / "distutils-precedence.pth").exists()
    result = run_pipkit("--python", str(venv), "doctor")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"No problems found in {venv}.\n"
    code, data = _doctor(run_pipkit, venv)
    assert code == 0
    assert data == {"prefix": str(venv), "healthy": True, "problems": [], "notes": []}


def test_conflicts_are_pip_checks_lines(run_pipkit, sick, tmp_path) -> None:  # type: ignore[no-untyped-def]
    wheels = tmp_path / "more"
    app = make_wheel(wheels, "app", "1.0", requires=["Gone_Pkg>=2", "old<1", "tool>=1"])
    pip_install(sick, "--no-deps", str(app))
    shutil.rmtree(next(site_packages(sick).glob("tool-1.0.dist-info")))
    pip_check = subprocess.run(
        [venv_python(sick), "-m", "pip", "check"], capture_output=True, text=True
    )
    assert pip_check.returncode == 1
    code, data = _doctor(run_pipkit, sick)
    assert code == 1
    conflicts = [p for p in data["problems"] if p["kind"] == "conflict"]
    # The same lines (pip lists projects in the order it finds them on disk).
    assert sorted(p["message"] for p in conflicts) == sorted(pip_check.stdout.splitlines())
    assert len(conflicts) == 4
    assert {p["fix"] for p in conflicts} == {
        "pipkit install 'Gone_Pkg>=2'",
        "pipkit install 'old<1'",
        "pipkit install 'tool>=1'",
    }
    text = run_pipkit("--python", str(sick), "doctor")
    assert text.exit_code == 1
    assert "problem  app 1.0 has requirement old<1, but you have old 2.0.\n" in text.stdout
    assert "         fix: pipkit install 'old<1'\n" in text.stdout


def test_two_metadata_folders_for_one_project(run_pipkit, sick) -> None:  # type: ignore[no-untyped-def]
    site = site_packages(sick)
    stale = site / "old-1.0.dist-info"
    stale.mkdir()
    (stale / "METADATA").write_text("Metadata-Version: 2.1\nName: old\nVersion: 1.0\n\n")
    (stale / "RECORD").write_text("")
    code, data = _doctor(run_pipkit, sick)
    assert code == 1
    assert _kinds(data["problems"]) == ["duplicate"]
    problem = data["problems"][0]
    assert problem["subject"] == "old"
    assert problem["message"] == (
        f"old has 2 metadata folders in {site}: old-1.0.dist-info, old-2.0.dist-info"
    )
    assert "pip install --force-reinstall --no-deps old==VERSION" in problem["fix"]


def test_a_dist_info_without_record(run_pipkit, sick, sick_template) -> None:  # type: ignore[no-untyped-def]
    info = next(site_packages(sick).glob("old-2.0.dist-info"))
    (info / "RECORD").unlink()
    code, data = _doctor(run_pipkit, sick)
    assert code == 1
    assert data["problems"] == [
        {
            "kind": "no-record",
            "severity": "problem",
            "subject": "old",
            "message": f"old 2.0 has no RECORD in {info}: pip cannot uninstall or upgrade it",
            "fix": "pip install --ignore-installed --no-deps old==2.0",
        }
    ]
    # And pip agrees that it cannot uninstall it.
    refused = subprocess.run(
        [venv_python(sick), "-m", "pip", "uninstall", "-y", "old"], capture_output=True, text=True
    )
    assert refused.returncode != 0 and "RECORD" in refused.stderr
    # The fix, run as given (offline from the same wheels), repairs it: pip can uninstall it.
    fix = data["problems"][0]["fix"].split()
    wheels = str(sick_template.parent / "wheels")
    subprocess.run(
        [venv_python(sick), "-m", *fix, "-q", "--no-index", "--find-links", wheels], check=True
    )
    code, after = _doctor(run_pipkit, sick)
    assert (code, after["problems"]) == (0, [])
    subprocess.run([venv_python(sick), "-m", "pip", "uninstall", "-y", "-q", "old"], check=True)


def test_a_console_script_whose_file_is_gone(run_pipkit, sick) -> None:  # type: ignore[no-untyped-def]
    script = sick / "bin" / "tool-cli"
    assert script.exists()  # pip made it from entry_points.txt
    code, data = _doctor(run_pipkit, sick)
    assert code == 0, data
    script.unlink()
    code, data = _doctor(run_pipkit, sick)
    assert code == 1
    assert _kinds(data["problems"]) == ["missing-script"]
    assert data["problems"][0]["message"] == (
        f"tool 1.0 declares the console script tool-cli, but {sick / 'bin'}/tool-cli is gone"
    )
    assert data["problems"][0]["fix"] == "pip install --force-reinstall --no-deps tool==1.0"


def test_a_pending_journal(run_pipkit, sick) -> None:  # type: ignore[no-untyped-def]
    txn = sick / "pipkit" / "transaction"
    txn.mkdir(parents=True)
    (txn / "journal.json").write_text(json.dumps({"command": "pipkit sync", "phase": "installing"}))
    code, data = _doctor(run_pipkit, sick)
    assert code == 1
    assert _kinds(data["problems"]) == ["pending"]
    assert "pending (pipkit sync, stopped while installing)" in data["problems"][0]["message"]
    assert data["problems"][0]["fix"] == "pipkit recover"


def test_pth_files_that_run_code_are_notes(run_pipkit, sick) -> None:  # type: ignore[no-untyped-def]
    site = site_packages(sick)
    (site / "paths.pth").write_text(f"{site}/extra\n")  # a path entry only: fine
    (site / "__editable___proj_1_0_finder.pth").write_text("import __editable___proj_finder\n")
    (site / "sneaky.pth").write_text("# hello\nimport os; os.environ.setdefault('X', '1')\n")
    result = run_pipkit("--python", str(sick), "doctor")
    assert result.exit_code == 0, result.output
    code, data = _doctor(run_pipkit, sick)
    assert code == 0 and data["problems"] == []
    assert [n["subject"] for n in data["notes"]] == [str(site / "sneaky.pth")]
    assert data["notes"][0]["message"] == (
        f"{site / 'sneaky.pth'} runs code at every interpreter start "
        "(1 line(s): import os; os.environ.setdefault('X', '1'))"
    )
    assert result.stdout.endswith(f"No problems found in {sick} (1 note).\n")


def test_shadowed_by_pythonpath(run_pipkit, sick, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    other = tmp_path / "elsewhere"
    info = other / "old-9.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: old\nVersion: 9.0\n\n")
    monkeypatch.setenv("PYTHONPATH", str(other))
    code, data = _doctor(run_pipkit, sick)
    assert code == 0
    assert data["notes"][0]["kind"] == "shadowed"
    assert data["notes"][0]["message"] == (
        f"old 9.0 from PYTHONPATH ({other}) shadows the target's old 2.0"
    )


def test_shadowed_by_the_user_site(sick, tmp_path) -> None:  # type: ignore[no-untyped-def]
    user = tmp_path / "user-site"
    info = user / "tool-0.5.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tool\nVersion: 0.5\n\n")
    target = resolve_target(str(sick))
    target = dataclasses.replace(
        target, user_site=str(user), sys_path=(str(user), *target.sys_path)
    )
    result = doctor(target, environ={})
    assert [(f.kind, f.subject) for f in result.notes] == [("shadowed", "tool")]
    assert "tool 0.5 from the user site" in result.notes[0].message


def test_externally_managed_is_a_note(sick) -> None:  # type: ignore[no-untyped-def]
    target = dataclasses.replace(resolve_target(str(sick)), externally_managed=True)
    result = doctor(target, environ={})
    assert result.healthy
    assert [f.kind for f in result.notes] == ["externally-managed"]
    assert result.notes[0].fix == "work in a venv: python -m venv .venv"


def test_an_old_or_missing_pip_is_a_note(run_pipkit, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import sys

    bare = tmp_path / "bare"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    code, data = _doctor(run_pipkit, bare)
    assert code == 0
    assert [(n["kind"], n["message"]) for n in data["notes"]] == [
        (
            "old-pip",
            "pip is not installed: pipkit install, sync and rollback run the target's pip",
        )
    ]
    info = site_packages(bare) / "pip-20.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pip\nVersion: 20.0\n\n")
    (info / "RECORD").write_text("")
    code, data = _doctor(run_pipkit, bare)
    assert code == 0
    assert data["notes"][0]["message"] == "pip 20.0 is older than pipkit needs (pip >= 23.1)"
    assert data["notes"][0]["fix"] == "python -m pip install -U pip"

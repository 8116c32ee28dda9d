"""``pipkit convert``: requirements lock <-> pylock.toml without resolving."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.pylock import Pylock

from pipkit.core.reqfile import read_requirements
from tests.wheelmaker import make_wheel


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    wheels = tmp_path / "project" / "wheels"
    wheels.mkdir(parents=True)
    make_wheel(wheels, "apple", "1.0")
    make_wheel(wheels, "apple", "2.0")
    make_wheel(wheels, "banana", "1.5", requires=["apple"])
    return tmp_path / "project"


def _lock(project: Path, *lines: str) -> Path:
    path = project / "requirements.txt"
    path.write_text("--find-links wheels\n" + "\n".join(lines) + "\n")
    return path


def _pins(path: Path) -> dict[str, tuple[str | None, tuple[str, ...]]]:
    lock = read_requirements(path)
    return {e.name: (e.pinned_version, tuple(sorted(e.hashes))) for e in lock.entries}


def test_round_trip_keeps_pins_and_hashes(
    project: Path, run_pipkit: Any, template_venv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    apple = _sha256(project / "wheels" / "apple-2.0-py3-none-any.whl")
    banana = _sha256(project / "wheels" / "banana-1.5-py3-none-any.whl")
    _lock(
        project,
        f"apple==2.0 --hash=sha256:{apple}",
        f"banana==1.5 ; python_version >= '3' --hash=sha256:{banana}",
    )
    py = ["--python", str(template_venv)]
    result = run_pipkit(*py, "convert", "requirements.txt", "-o", "pylock.toml")
    assert result.exit_code == 0, result.output
    assert "Wrote pylock.toml (pylock.toml, 2 packages) from requirements.txt." in result.output
    data = tomllib.loads((project / "pylock.toml").read_text())
    pylock = Pylock.from_dict(data)  # packaging's validation
    by_name = {p.name: p for p in pylock.packages}
    assert str(by_name["apple"].version) == "2.0"
    assert [w.filename for w in by_name["apple"].wheels or ()] == ["apple-2.0-py3-none-any.whl"]
    assert dict((by_name["apple"].wheels or ())[0].hashes) == {"sha256": apple}
    assert str(by_name["banana"].marker) == 'python_version >= "3"'

    result = run_pipkit(*py, "convert", "pylock.toml", "-o", "back.txt", "--json")
    assert result.exit_code == 0, result.output
    assert '"format": "requirements"' in result.output
    assert _pins(project / "back.txt") == _pins(project / "requirements.txt")
    assert _pins(project / "back.txt")["banana"] == ("1.5", (f"sha256:{banana}",))


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("apple>=1.0", "apple: not pinned (>=1.0): a lock pins every package with =="),
        ("apple==2.0", "apple: ==2.0 has no --hash: a pylock.toml names each file by its hash"),
        ("apple==2.0 --hash=sha256:" + "0" * 64, "matches no file of apple==2.0"),
        (
            "pkg @ git+https://example.invalid/pkg.git@main",
            "a VCS reference without a full commit id has no pylock.toml form",
        ),
    ],
)
def test_a_line_pylock_cannot_say_is_refused_with_its_place(
    project: Path,
    run_pipkit: Any,
    template_venv: Path,
    monkeypatch: pytest.MonkeyPatch,
    line: str,
    reason: str,
) -> None:
    monkeypatch.chdir(project)
    _lock(project, line)
    result = run_pipkit(
        "--python", str(template_venv), "convert", "requirements.txt", "-o", "pylock.toml"
    )
    assert result.exit_code == 2
    assert result.output.startswith("pipkit: error: requirements.txt:2: ")
    assert reason in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (project / "pylock.toml").exists()  # nothing written


def test_a_lock_file_marker_has_no_requirements_form(
    project: Path, run_pipkit: Any, template_venv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    wheel = project / "wheels" / "apple-1.0-py3-none-any.whl"
    (project / "pylock.toml").write_text(
        'lock-version = "1.0"\ncreated-by = "test"\ndependency-groups = ["dev"]\n\n'
        '[[packages]]\nname = "apple"\nversion = "1.0"\n'
        "marker = \"'dev' in dependency_groups\"\n"
        f'wheels = [{{name = "{wheel.name}", path = "wheels/{wheel.name}", '
        f'hashes = {{sha256 = "{_sha256(wheel)}"}}}}]\n'
    )
    result = run_pipkit("--python", str(template_venv), "convert", "pylock.toml", "-o", "r.txt")
    assert result.exit_code == 2
    assert result.output.startswith("pipkit: error: pylock.toml:packages[0]: apple: marker ")
    assert "has no requirements.txt form" in result.output
    assert not (project / "r.txt").exists()


def test_same_format_on_both_sides_is_bad_usage(
    project: Path, run_pipkit: Any, template_venv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    _lock(project, "apple==2.0")
    result = run_pipkit(
        "--python", str(template_venv), "convert", "requirements.txt", "-o", "x.txt"
    )
    assert result.exit_code == 2
    assert "name the other format (pylock.toml)" in result.output

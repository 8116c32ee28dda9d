"""``pipkit outdated``: a lock's pins against a loopback Simple API index that counts requests.

The index (tests/loopback.SimpleIndex) serves wheels made by tests/wheelmaker.py as PEP 691
JSON, with Requires-Python and yanked files where a case needs them. The oracle for "latest"
is the target's own ``pip list --outdated --format json`` on a venv with the same pins.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import pip_install, venv_python
from tests.loopback import SimpleIndex
from tests.wheelmaker import make_wheel

PINS = {
    "apple": "1.0",  # 1.5 and 2.0 on the index; the input says <2
    "banana": "1.0",  # 1.1, and 3.0 that only Python >= 4 may install
    "cherry": "1.0",  # 1.2 is yanked: up to date
    "date": "1.0",  # 2.0b1 only: a pre-release
    "elder": "1.0",  # nothing newer
    "fig": "1.0a1",  # a pre-release pin: 1.0a2 counts without --pre
    "grape": "1.0",  # 2.0, but hub 1.0 (pinned too) requires grape<2
    "hub": "1.0",
}


@pytest.fixture
def index(tmp_path: Path) -> Iterator[SimpleIndex]:
    wheels = tmp_path / "wheels"
    for name, versions in {
        "apple": ["1.0", "1.5", "2.0"],
        "banana": ["1.0", "1.1", "3.0"],
        "cherry": ["1.0", "1.2"],
        "date": ["1.0", "2.0b1"],
        "elder": ["1.0"],
        "fig": ["1.0a1", "1.0a2"],
        "grape": ["1.0", "2.0"],
    }.items():
        for version in versions:
            make_wheel(wheels, name, version)
    make_wheel(wheels, "hub", "1.0", requires=["grape<2"])
    attributes: dict[str, dict[str, object]] = {
        "banana-3.0-py3-none-any.whl": {"requires-python": ">=4"},
        "cherry-1.2-py3-none-any.whl": {"yanked": "broken build"},
    }
    with SimpleIndex(wheels, attributes) as server:
        yield server


@pytest.fixture
def project(
    tmp_path: Path, venv: Path, index: SimpleIndex, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A folder with requirements.in and its lock; the venv has the lock's pins installed."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "requirements.in").write_text("apple>=1,<2\nbanana\ncherry\ndate\nelder\nfig\nhub\n")
    (folder / "requirements.txt").write_text(
        "".join(f"{name}=={version}\n" for name, version in PINS.items())
    )
    pip_install(venv, *(f"{n}=={v}" for n, v in PINS.items()), wheelhouse=index.folder)
    monkeypatch.setenv("PIP_INDEX_URL", index.url)
    monkeypatch.chdir(folder)
    return folder


def _json(result) -> dict[str, object]:  # type: ignore[no-untyped-def]
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


def _latest(data: dict[str, object]) -> dict[str, str]:
    rows = data["outdated"]
    assert isinstance(rows, list)
    return {row["name"]: row["latest"] for row in rows}


def _pip_outdated(venv: Path, *args: str) -> dict[str, str]:
    """The oracle: the target's pip list --outdated, for the projects the lock pins."""
    result = subprocess.run(
        [venv_python(venv), "-m", "pip", "list", "--outdated", "--format", "json", *args],
        capture_output=True,
        text=True,
        check=True,
        env=os.environ,
    )
    return {
        row["name"]: row["latest_version"]
        for row in json.loads(result.stdout)
        if row["name"] in PINS
    }


def test_table_exit_1_and_one_request_per_project(run_pipkit, venv, project, index):  # type: ignore[no-untyped-def]
    result = run_pipkit("--python", str(venv), "outdated")
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines() == [
        "Package Locked Latest Bump  Allowed",
        "------- ------ ------ ----- -------",
        "apple   1.0    2.0    major no",
        "banana  1.0    1.1    minor yes",
        "fig     1.0a1  1.0a2  other yes",
        "grape   1.0    2.0    major no",
    ]
    assert "apple 2.0: not allowed by requirements.in:1: apple<2,>=1" in result.stderr
    assert "grape 2.0: not allowed by hub 1.0 requires grape<2" in result.stderr
    assert "4 of 8 pins of requirements.txt have newer releases" in result.stderr
    # Exactly one request per project, and nothing else (no file downloads).
    assert index.requests == {f"/simple/{name}/": 1 for name in PINS}


def test_json_and_latest_agree_with_pip_list_outdated(run_pipkit, venv, project, index):  # type: ignore[no-untyped-def]
    result = run_pipkit("--python", str(venv), "outdated", "--json")
    assert result.exit_code == 1, result.output
    data = _json(result)
    assert data["lock"] == "requirements.txt"
    assert data["inputs"] == "requirements.in"
    assert data["checked"] == 8
    assert data["not_found"] == [] and data["skipped"] == []
    rows = {row["name"]: row for row in data["outdated"]}  # type: ignore[union-attr]
    assert rows["apple"] == {
        "name": "apple",
        "package_name": "apple",
        "locked": "1.0",
        "latest": "2.0",
        "bump": "major",
        "latest_filetype": "wheel",
        "allowed": "no",
        "blocked_by": "requirements.in:1: apple<2,>=1",
    }
    assert rows["banana"]["allowed"] == "yes" and rows["banana"]["blocked_by"] is None
    # Requires-Python keeps banana 3.0 out, the yank keeps cherry 1.2 out, date's 2.0b1 is a
    # pre-release: pip agrees on every one (fig's pre-release pin is pipkit's own rule).
    ours = _latest(data)
    assert {n: v for n, v in ours.items() if n != "fig"} == _pip_outdated(venv)
    assert ours["banana"] == "1.1" and "cherry" not in ours and "date" not in ours


def test_pre_counts_pre_releases_as_pip_list_pre(run_pipkit, venv, project, index):  # type: ignore[no-untyped-def]
    result = run_pipkit("--python", str(venv), "outdated", "--pre", "--json")
    assert result.exit_code == 1, result.output
    ours = _latest(_json(result))
    assert ours["date"] == "2.0b1"
    assert ours == _pip_outdated(venv, "--pre")


def test_up_to_date_exit_0(run_pipkit, venv, project, index):  # type: ignore[no-untyped-def]
    (project / "requirements.txt").write_text("cherry==1.0\nelder==1.0\n")
    result = run_pipkit("--python", str(venv), "outdated")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "All 2 pins of requirements.txt are up to date." in result.stderr
    assert index.requests == {"/simple/cherry/": 1, "/simple/elder/": 1}


def test_no_inputs_and_a_named_pylock_free_lock(run_pipkit, venv, project, index):  # type: ignore[no-untyped-def]
    (project / "requirements.in").unlink()
    (project / "other.txt").write_text("apple==1.5\n")
    result = run_pipkit("--python", str(venv), "outdated", "other.txt", "--json")
    assert result.exit_code == 1, result.output
    data = _json(result)
    assert data["lock"] == "other.txt" and data["inputs"] is None
    assert [(r["name"], r["latest"], r["allowed"]) for r in data["outdated"]] == [  # type: ignore[union-attr]
        ("apple", "2.0", "no inputs")
    ]


def test_bad_input_is_one_line_exit_2(run_pipkit, venv, project, index):  # type: ignore[no-untyped-def]
    result = run_pipkit("--python", str(venv), "outdated", "nope.txt")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == "pipkit: error: nope.txt: no such lock file"
    (project / "requirements.txt").unlink()
    result = run_pipkit("--python", str(venv), "outdated")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1].startswith("pipkit: error: no lock file found in ")
    assert index.requests == {}


def test_progress_callback_sees_every_lookup(venv, project, index):  # type: ignore[no-untyped-def]
    from pipkit.env.target import resolve_target
    from pipkit.ops.outdated import outdated

    calls: list[tuple[int, int]] = []
    result = outdated(
        resolve_target(str(venv)), progress=lambda done, total: calls.append((done, total))
    )
    assert calls == [(done, 8) for done in range(1, 9)]
    assert [row.name for row in result.rows] == ["apple", "banana", "fig", "grape"]

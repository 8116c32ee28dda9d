"""pipkit.search: a name looked up on file:// indexes and find-links built in tmp_path."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from pipkit.env.pipconfig import PipConfig
from pipkit.errors import OperationError
from pipkit.ops.search import find_project, search, similar_installed
from tests.core.helpers import dist

INSTALLED = [
    dist("Requests", "2.31.0"),
    dist("requests-toolbelt", "1.0.0"),
    dist("pytest", "8.0.0"),
    dist("pytest-cov", "5.0.0"),
    dist("reqeusts", "0.1"),  # a typo-squat-looking name: a close match
    dist("six", "1.16.0"),
]


def build_index(root: Path, projects: dict[str, list[tuple[str, bool]]]) -> str:
    """A file:// PEP 503 index: {project: [(filename, yanked)]}; returns its URL."""
    simple = root / "simple"
    for project, files in projects.items():
        page = simple / project
        page.mkdir(parents=True)
        anchors = "\n".join(
            f'<a href="/files/{f}"{" data-yanked" if yanked else ""}>{f}</a>' for f, yanked in files
        )
        (page / "index.html").write_text(f"<html><body>{anchors}</body></html>", "utf-8")
    return simple.as_uri()


@pytest.fixture
def index_url(tmp_path: Path) -> str:
    return build_index(
        tmp_path / "index",
        {
            "requests": [
                ("requests-2.31.0-py3-none-any.whl", False),
                ("requests-2.32.0.tar.gz", True),
                ("requests-2.30.0.tar.gz", False),
                ("requests-3.0.0a1-py3-none-any.whl", False),
            ],
            "only-pre": [("only_pre-1.0b1.tar.gz", False), ("only_pre-1.0b2.tar.gz", False)],
        },
    )


def cfg(*indexes: str, find_links: tuple[str, ...] = ()) -> PipConfig:
    first, *extras = indexes
    return PipConfig(index_url=first, extra_index_urls=tuple(extras), find_links=find_links)


def test_search_found_with_installed_and_similar(index_url: str) -> None:
    result = search("REQUESTS", cfg(index_url), INSTALLED)
    assert result.found and result.name == "requests"
    assert [(v.version, v.yanked) for v in result.versions] == [
        ("3.0.0a1", False),
        ("2.32.0", True),
        ("2.31.0", False),
        ("2.30.0", False),
    ]
    assert result.latest == "2.31.0"
    assert result.installed == "2.31.0"
    assert [s.name for s in result.similar_installed] == ["reqeusts", "requests-toolbelt"]
    assert result.to_json() == {
        "name": "requests",
        "found": True,
        "versions": [
            {"version": "3.0.0a1", "yanked": False},
            {"version": "2.32.0", "yanked": True},
            {"version": "2.31.0", "yanked": False},
            {"version": "2.30.0", "yanked": False},
        ],
        "latest": "2.31.0",
        "installed": "2.31.0",
        "similar_installed": [
            {"name": "reqeusts", "version": "0.1"},
            {"name": "requests-toolbelt", "version": "1.0.0"},
        ],
        "indexes": [index_url],
        "unreachable": [],
    }


def test_only_prereleases_and_not_installed(index_url: str) -> None:
    result = search("only_pre", cfg(index_url), INSTALLED)
    assert result.latest == "1.0b2"
    assert result.installed is None
    assert result.similar_installed == ()


def test_not_found_raises_with_indexes_and_similar(index_url: str, tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    config = cfg(index_url, find_links=(str(wheels),))
    with pytest.raises(OperationError) as info:
        search("pytest-xdist", config, INSTALLED)
    assert info.value.exit_code == 1
    assert str(info.value) == (
        f"pytest-xdist: not found on {index_url}, {wheels}; similar installed: pytest, pytest-cov"
    )
    # find_project reports the same without raising, for --json.
    result = find_project("pytest-xdist", config, INSTALLED)
    assert not result.found and result.versions == () and result.latest is None
    assert result.to_json()["found"] is False
    assert result.to_json()["indexes"] == [index_url, str(wheels)]


def test_found_on_find_links_only(index_url: str, tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "six-1.17.0-py2.py3-none-any.whl").write_bytes(b"")
    result = search("six", cfg(index_url, find_links=(str(wheels),)), INSTALLED)
    assert [v.version for v in result.versions] == ["1.17.0"]
    assert result.installed == "1.16.0"


def test_unreachable_index_is_an_operation_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/simple"
    with pytest.raises(OperationError, match=r"could not reach .*127\.0\.0\.1.*connection refused"):
        search("requests", cfg(url), INSTALLED)


def test_partly_unreachable_is_reported(index_url: str, tmp_path: Path) -> None:
    missing = (tmp_path / "gone").as_uri()
    result = search("requests", cfg(index_url, missing), INSTALLED)
    assert result.found
    assert result.to_json()["unreachable"] == [{"index": missing, "reason": "no such directory"}]
    with pytest.raises(OperationError, match=r"not found on .*; could not reach .*gone"):
        search("nope", cfg(index_url, missing), INSTALLED)


def test_similar_installed_rules() -> None:
    names = [s.name for s in similar_installed("pytest", INSTALLED)]
    assert names == ["pytest-cov"]  # never the project itself
    assert [s.name for s in similar_installed("Requests_Toolbelt", INSTALLED)] == ["Requests"]
    assert similar_installed("xyz", INSTALLED) == ()
    # "req" is in both; substring matches come alphabetically, and the limit holds.
    assert [s.name for s in similar_installed("req", INSTALLED)] == [
        "reqeusts",
        "Requests",
        "requests-toolbelt",
    ]
    assert len(similar_installed("req", INSTALLED, limit=1)) == 1


# -- the command line ---------------------------------------------------------------------------


def test_cli_search(run_pipkit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import json
    import sys

    import typer

    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for filename in ("typer-99.0-py3-none-any.whl", "typer-98.0.tar.gz"):
        (wheels / filename).write_bytes(b"")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))

    result = run_pipkit("--python", sys.executable, "search", "Typer", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["name"] == "typer" and data["found"] is True
    assert data["versions"] == [
        {"version": "99.0", "yanked": False},
        {"version": "98.0", "yanked": False},
    ]
    assert data["latest"] == "99.0"
    assert data["installed"] == typer.__version__
    assert data["indexes"] == [str(wheels)]

    result = run_pipkit("--python", sys.executable, "search", "typer")
    assert result.exit_code == 0
    assert "latest:    99.0" in result.stdout and f"installed: {typer.__version__}" in result.stdout

    result = run_pipkit("--python", sys.executable, "search", "typerr")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "typerr: not found on" in result.stderr and "similar installed: typer" in result.stderr

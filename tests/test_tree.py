"""``pipkit tree`` and ``pipkit why``: the same edges as pipdeptree, chains shortest first."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import copy_venv, pip_install, venv_python
from tests.wheelmaker import make_wheel

PIPDEPTREE = shutil.which("pipdeptree", path=str(Path(sys.executable).parent))


def _wheels(folder: Path) -> list[Path]:
    return [
        # Extras asked by a parent (lib[fast]), one that asks for another (fast -> slow),
        # a marker that fails on this target, a missing and a conflicting requirement, two
        # lines for one project, a specifier written out of order.
        make_wheel(
            folder,
            "app",
            "1.0",
            requires=[
                "Lib[Fast] (<9 , >=1.0)",
                "winonly ; sys_platform == 'win32'",
                "gone>=2",
                "old<1",
                "cyca",
                "base>=1",
                "base<3 ; python_version > '3'",
            ],
        ),
        make_wheel(
            folder,
            "lib",
            "1.5",
            extras=["fast", "slow", "never"],
            requires=[
                "speedy ; extra == 'fast'",
                "lib[slow] ; extra == 'fast'",
                "slowy>=1 ; extra == 'slow'",
                "nothere ; extra == 'fast'",  # only an extra brings it, not installed: no edge
                "neverdep ; extra == 'never'",
                "base",
            ],
        ),
        make_wheel(folder, "speedy", "1.0", requires=["base>=1"]),
        make_wheel(folder, "slowy", "1.0"),
        make_wheel(folder, "neverdep", "1.0"),
        make_wheel(folder, "base", "1.0"),
        make_wheel(folder, "old", "2.0"),
        make_wheel(folder, "winonly", "1.0"),
        make_wheel(folder, "cyca", "1.0", requires=["cycb"]),
        make_wheel(folder, "cycb", "1.0", requires=["cyca"]),
        # A cycle nothing outside requires: pipdeptree's tree leaves it out, pipkit shows it.
        make_wheel(folder, "solo1", "1.0", requires=["solo2"]),
        make_wheel(folder, "solo2", "1.0", requires=["solo1"]),
        make_wheel(folder, "Mixed_Case.Name", "1.0", requires=["base"]),
    ]


@pytest.fixture(scope="module")
def graph_env(template_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tree")
    venv = copy_venv(template_venv, folder / "venv")
    pip_install(venv, "--no-deps", *map(str, _wheels(folder / "wheels")))
    return venv


def _tree_json(run_pipkit, venv: Path, *args: str) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    result = run_pipkit("--python", str(venv), "tree", "--json", *args)
    assert result.exit_code in (0, 1), result.output
    data: list[dict[str, Any]] = json.loads(result.stdout)
    return data


Edge = tuple[str, str, str, str, str | None]


def _pipkit_edges(roots: list[dict[str, Any]]) -> set[Edge]:
    """Every edge of pipkit's nested tree; each package's children agree wherever it is
    expanded."""
    children: dict[str, list[Edge]] = {}

    def walk(node: dict[str, Any]) -> None:
        if node.get("cycle") or node["installed_version"] is None:
            return
        assert not node["truncated"]
        mine = sorted(
            (
                node["name"],
                child["name"],
                child["required_version"],
                child["installed_version"] or "?",
                child["extra"],
            )
            for child in node["dependencies"]
        )
        assert children.setdefault(node["name"], mine) == mine, node["name"]
        for child in node["dependencies"]:
            walk(child)

    for root in roots:
        walk(root)
    return {edge for edges in children.values() for edge in edges}


def _pipdeptree_edges(venv: Path) -> tuple[set[Edge], set[str]]:
    assert PIPDEPTREE, "pipdeptree is a test dependency (the test extra)"
    out = subprocess.run(
        [PIPDEPTREE, "--python", venv_python(venv), "--json", "-w", "silence"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    packages = json.loads(out)
    edges = {
        (
            item["package"]["key"],
            dep["key"],
            dep["required_version"],
            dep["installed_version"],
            dep.get("extra"),
        )
        for item in packages
        for dep in item["dependencies"]
    }
    return edges, {item["package"]["key"] for item in packages}


def test_edges_are_pipdeptrees(run_pipkit, graph_env) -> None:  # type: ignore[no-untyped-def]
    roots = _tree_json(run_pipkit, graph_env)
    theirs, packages = _pipdeptree_edges(graph_env)
    assert _pipkit_edges(roots) == theirs
    # The cases the env was built for are really in the graph.
    assert ("app", "lib", ">=1.0,<9", "1.5", None) in theirs
    assert ("lib", "slowy", ">=1", "1.0", "slow") in theirs
    assert ("app", "gone", ">=2", "?", None) in theirs
    assert not any(edge[1] in ("winonly", "nothere", "neverdep") for edge in theirs)
    # Every installed package is in pipkit's tree, the rootless cycle too.
    shown: set[str] = set()
    todo = list(roots)
    while todo:
        node = todo.pop()
        if node["installed_version"] is not None:
            shown.add(node["name"])
        todo += node["dependencies"]
    assert shown == packages
    assert [r["name"] for r in roots] == [
        "app",
        "mixed-case-name",
        "neverdep",
        "pip",
        *(["setuptools"] if "setuptools" in packages else []),
        "winonly",
        "solo1",
    ]


def test_edges_of_a_fresh_venv(run_pipkit, venv) -> None:  # type: ignore[no-untyped-def]
    theirs, packages = _pipdeptree_edges(venv)
    roots = _tree_json(run_pipkit, venv)
    assert _pipkit_edges(roots) == theirs
    assert {r["name"] for r in roots} == packages


def test_text_marks_cycles_missing_and_conflicts(run_pipkit, graph_env) -> None:  # type: ignore[no-untyped-def]
    result = run_pipkit("--python", str(graph_env), "tree", "app")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "app==1.0",
        "├── base [required: >=1, installed: 1.0]",
        "├── base [required: <3, installed: 1.0]",
        "├── cyca [required: Any, installed: 1.0]",
        "│   └── cycb [required: Any, installed: 1.0]",
        "│       └── cyca [required: Any, installed: 1.0] (cycle)",
        "├── gone [required: >=2, installed: ?] MISSING",
        "├── lib [required: >=1.0,<9, installed: 1.5]",
        "│   ├── base [required: Any, installed: 1.0]",
        "│   ├── lib [required: Any, installed: 1.5, extra: fast] (cycle)",
        "│   ├── slowy [required: >=1, installed: 1.0, extra: slow]",
        "│   └── speedy [required: Any, installed: 1.0, extra: fast]",
        "│       └── base [required: >=1, installed: 1.0]",
        "└── old [required: <1, installed: 2.0] CONFLICT",
    ]
    assert "pipkit: app requires gone>=2 (not installed)" in result.stderr
    assert "pipkit: app requires old<1 (2.0 installed)" in result.stderr


def test_depth_reverse_and_bad_names(run_pipkit, graph_env) -> None:  # type: ignore[no-untyped-def]
    result = run_pipkit("--python", str(graph_env), "tree", "lib", "--depth", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == (
        "└── speedy [required: Any, installed: 1.0, extra: fast] ..."
    )
    reverse = run_pipkit("--python", str(graph_env), "tree", "--reverse", "speedy")
    assert reverse.exit_code == 0, reverse.output
    assert reverse.stdout.splitlines() == [
        "speedy==1.0",
        "└── lib==1.5 [requires: speedy, extra: fast]",
        "    ├── app==1.0 [requires: lib>=1.0,<9]",
        "    └── lib==1.5 [requires: lib, extra: fast] (cycle)",
    ]
    # A missing project is a valid start going up: who wants it.
    gone = _tree_json(run_pipkit, graph_env, "--reverse", "gone")
    assert gone[0]["installed_version"] is None
    assert [(c["name"], c["status"]) for c in gone[0]["required_by"]] == [("app", "missing")]
    bad = run_pipkit("--python", str(graph_env), "tree", "nosuch")
    assert bad.exit_code == 2
    assert bad.stderr == "pipkit: error: nosuch: not installed in the target\n"


# -- why --------------------------------------------------------------------------------------


def test_why_lists_every_chain_shortest_first(run_pipkit, graph_env, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)  # no lock here: chains start at the top-level packages
    result = run_pipkit("--python", str(graph_env), "why", "base")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "base 1.0 is required through 5 chain(s) from the top-level packages:",
        "  app -> base>=1 (1.0)",
        "  app -> base<3 (1.0)",
        "  mixed-case-name -> base (1.0)",
        "  app -> lib>=1.0,<9 (1.5) -> base (1.0)",
        "  app -> lib>=1.0,<9 (1.5) -> speedy (1.0) (extra fast) -> base>=1 (1.0)",
    ]
    data = json.loads(run_pipkit("--python", str(graph_env), "why", "speedy", "--json").stdout)
    assert data["installed_version"] == "1.0" and data["top_level"] is False
    assert [[link["name"] for link in chain] for chain in data["chains"]] == [["lib", "speedy"]]
    assert data["chains"][0][1]["extra"] == "fast"


def test_why_top_level_missing_and_lock_only(run_pipkit, graph_env, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    top = run_pipkit("--python", str(graph_env), "why", "App")
    assert top.exit_code == 0
    assert top.stdout == "app 1.0 is top-level: nothing installed requires it\n"
    missing = run_pipkit("--python", str(graph_env), "why", "gone")
    assert missing.exit_code == 1
    assert missing.stderr == "pipkit: gone is not installed\n"
    # A requirements.txt here that is no lock is not read unless asked for.
    (tmp_path / "requirements.txt").write_text("app==1.0 --bogus\n")
    assert run_pipkit("--python", str(graph_env), "why", "app").exit_code == 0
    asked = run_pipkit("--python", str(graph_env), "why", "app", "--lock", "requirements.txt")
    assert asked.exit_code == 2
    assert asked.stderr.startswith("pipkit: error: ") and "requirements.txt:1" in asked.stderr
    (tmp_path / "requirements.txt").write_text("app==1.0\ngone==2.0\n")
    (tmp_path / "requirements.in").write_text("app\n")
    only = run_pipkit("--python", str(graph_env), "why", "gone")
    assert only.exit_code == 1
    assert "gone is only in the lock" in only.stderr and "requirements.txt:2" in only.stderr
    # With a lock found, chains start at its inputs: here app alone.
    via = run_pipkit("--python", str(graph_env), "why", "base", "--json")
    data = json.loads(via.stdout)
    assert data["roots_from"].endswith("requirements.in")
    assert {chain[0]["required_by"] for chain in data["chains"]} == {"app"}
    root = run_pipkit("--python", str(graph_env), "why", "app")
    assert root.stdout.startswith("app 1.0 is a lock input (")


# -- why for a package only the lock has (issue 14) ------------------------------------------


def test_why_lock_only_gives_the_chains_of_the_locks_via_lines(
    run_pipkit, venv, tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """A real pip-compile lock (its `# via` lines), nothing of it installed in the target."""
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "top", "1.0", requires=["mid", "leaf"])
    make_wheel(wheels, "mid", "1.0", requires=["leaf"])
    make_wheel(wheels, "leaf", "1.0")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    (project / "requirements.in").write_text("top\n")
    assert run_pipkit("--python", str(venv), "lock").exit_code == 0
    result = run_pipkit("--python", str(venv), "why", "leaf")
    assert result.exit_code == 1  # not installed, as before
    assert result.stderr.startswith(
        "pipkit: leaf is only in the lock (requirements.txt:"
    ) and result.stderr.endswith("it is not installed; `pipkit sync` installs it\n")
    assert result.stdout.splitlines() == [
        "leaf 1.0 is pinned through 2 chain(s) in requirements.txt:",
        "  requirements.in -> top -> leaf",
        "  requirements.in -> top -> mid -> leaf",
    ]
    data = json.loads(run_pipkit("--python", str(venv), "why", "mid", "--json").stdout)
    assert data["installed_version"] is None and data["locked_version"] == "1.0"
    assert data["lock_graph"] is True
    assert data["lock_chains"] == [["requirements.in", "top", "mid"]]


def test_why_lock_only_says_when_the_lock_has_no_graph(
    run_pipkit, venv, tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "requirements.txt").write_text("top==1.0\nleaf==1.0\n")  # no `# via` lines
    result = run_pipkit("--python", str(venv), "why", "leaf")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "pipkit: leaf is only in the lock (requirements.txt:2): it is not installed; "
        "`pipkit sync` installs it",
        "pipkit: requirements.txt carries no dependency graph (no `# via`): no chain to show",
    ]
    data = json.loads(run_pipkit("--python", str(venv), "why", "leaf", "--json").stdout)
    assert data["lock_graph"] is False and data["lock_chains"] == []


def test_why_lock_only_reads_a_pylocks_dependencies(
    run_pipkit, venv, tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """PEP 751 packages may list their dependencies: the chain starts at the lock's top."""
    monkeypatch.chdir(tmp_path)
    wheel = (
        'wheels = [{{url = "https://example.invalid/{0}-1.0-py3-none-any.whl", '
        'hashes = {{sha256 = "{1}"}}}}]\n'
    )
    (tmp_path / "pylock.toml").write_text(
        'lock-version = "1.0"\ncreated-by = "hand"\n\n'
        '[[packages]]\nname = "top"\nversion = "1.0"\ndependencies = [{name = "mid"}]\n'
        + wheel.format("top", "aa")
        + '\n[[packages]]\nname = "mid"\nversion = "1.0"\n'
        + wheel.format("mid", "bb")
    )
    result = run_pipkit("--python", str(venv), "why", "mid")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "mid 1.0 is pinned through 1 chain(s) in pylock.toml:",
        "  pylock.toml -> top -> mid",
    ]
    (tmp_path / "pylock.toml").write_text(
        (tmp_path / "pylock.toml").read_text().replace('dependencies = [{name = "mid"}]\n', "")
    )
    bare = run_pipkit("--python", str(venv), "why", "mid")
    assert bare.stderr.splitlines()[-1] == (
        "pipkit: pylock.toml carries no dependency graph (no package lists its dependencies): "
        "no chain to show"
    )

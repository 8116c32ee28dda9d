"""pipkit.core.health: pip-check conflicts, lint, missing dependencies, environment fit."""

from __future__ import annotations

import dataclasses

import pytest
from packaging.markers import Marker

from pipkit.core.health import (
    Conflict,
    MissingDependency,
    conflicts,
    environment_problems,
    lint,
    missing_dependencies,
)
from pipkit.core.model import InstalledDist, Lock, LockEntry, LockHeader, LockOptions
from tests.core.helpers import LINUX_311, WINDOWS_312, dist, entry

# --- conflicts (pip check) -------------------------------------------------------------------

CONFLICT_CASES: list[tuple[str, list[InstalledDist], list[tuple[str, str, str, str | None]]]] = [
    ("satisfied", [dist("app", "1", requires=("lib>=1",)), dist("lib", "1.0")], []),
    (
        "missing",
        [dist("app", "1", requires=("lib>=1",))],
        [("app", "lib>=1", "missing", None)],
    ),
    (
        "version",
        [dist("app", "1", requires=("lib>=2",)), dist("lib", "1.0")],
        [("app", "lib>=2", "version", "1.0")],
    ),
    (
        "prereleases allowed, as pip check allows them",
        [dist("app", "1", requires=("lib>=1",)), dist("lib", "2.0rc1")],
        [],
    ),
    (
        "marker not for this target",
        [dist("app", "1", requires=('winlib ; sys_platform == "win32"',))],
        [],
    ),
    (
        "marker for this target",
        [dist("app", "1", requires=('posixlib ; os_name == "posix"',))],
        [("app", 'posixlib ; os_name == "posix"', "missing", None)],
    ),
    (
        "extras are not followed by pip check",
        [dist("app", "1", requires=('docs-tool ; extra == "docs"',))],
        [],
    ),
    (
        "names are normalized",
        [dist("app", "1", requires=("Lib.Name_X==1.0",)), dist("lib-name-x", "1.0")],
        [],
    ),
    ("broken metadata is skipped", [dist("app", "1", requires=("not a requirement!!",))], []),
    (
        "non PEP 440 installed version",
        [dist("app", "1", requires=("lib>=1",)), dist("lib", "weird")],
        [("app", "lib>=1", "version", "weird")],
    ),
]


@pytest.mark.parametrize(
    ("installed", "expected"),
    [case[1:] for case in CONFLICT_CASES],
    ids=[case[0] for case in CONFLICT_CASES],
)
def test_conflicts(
    installed: list[InstalledDist], expected: list[tuple[str, str, str, str | None]]
) -> None:
    found = conflicts(installed, LINUX_311)
    assert [(c.name, c.requires, c.problem, c.installed) for c in found] == expected


def test_conflict_json_and_text() -> None:
    missing = Conflict("app", "1.0", "lib>=1", "missing")  # type: ignore[arg-type]
    wrong = Conflict("app", "1.0", "lib>=2", "version", "1.5")  # type: ignore[arg-type]
    assert missing.to_json() == {
        "name": "app",
        "version": "1.0",
        "requires": "lib>=1",
        "problem": "missing",
        "installed": None,
    }
    assert str(missing) == "app 1.0 requires lib, which is not installed."
    assert str(wrong) == "app 1.0 has requirement lib>=2, but you have lib 1.5."


def test_conflicts_depend_on_the_target() -> None:
    installed = [dist("app", "1", requires=('winlib ; sys_platform == "win32"',))]
    assert conflicts(installed, LINUX_311) == []
    assert [c.problem for c in conflicts(installed, WINDOWS_312)] == ["missing"]


# --- missing_dependencies --------------------------------------------------------------------


def test_missing_dependency_chains() -> None:
    dists = [
        dist("App", "1.0", requires=("mid>=1", "direct-missing")),
        dist("mid", "2.0", requires=("lib>=2", "pdf[render]")),
        dist("lib", "1.0"),
        dist("pdf", "3.0", requires=('renderer>=1 ; extra == "render"', 'unused ; extra == "x"')),
        dist("other-root", "1.0", requires=('winonly ; sys_platform == "win32"',)),
    ]
    found = missing_dependencies(dists, LINUX_311)
    assert [str(m) for m in found] == [
        "App 1.0 -> direct-missing (missing)",
        "App 1.0 -> mid 2.0 -> lib>=2 (have 1.0)",
        "App 1.0 -> mid 2.0 -> pdf 3.0 -> renderer>=1 (missing)",
    ]
    assert found[1] == MissingDependency(("App 1.0", "mid 2.0"), "lib>=2", "version", "1.0")


def test_missing_dependencies_with_root_extras_and_cycles() -> None:
    dists = [
        dist("a", "1", requires=("b",)),
        dist("b", "1", requires=("a", 'c ; extra == "full"')),
    ]
    assert missing_dependencies(dists, LINUX_311) == []
    found = missing_dependencies(dists, LINUX_311, extras={"B": ["Full"]})
    assert [str(m) for m in found] == ["b 1 -> c (missing)"]


def test_nothing_missing() -> None:
    dists = [dist("a", "1", requires=("b[x]>=1",)), dist("b", "1", requires=('c ; extra == "x"',))]
    assert [str(m) for m in missing_dependencies(dists, LINUX_311)] == ["a 1 -> b 1 -> c (missing)"]
    assert missing_dependencies([*dists, dist("c", "1")], LINUX_311) == []


# --- lint ----------------------------------------------------------------------------------------


def lock_of(*entries: LockEntry, require_hashes: bool = False) -> Lock:
    return Lock(
        path="lock.txt",
        format="requirements",
        entries=entries,
        options=LockOptions(require_hashes=require_hashes),
    )


def codes(lock: Lock) -> list[tuple[str, str]]:
    return [(issue.source, issue.code) for issue in lint(lock)]


def test_lint_clean() -> None:
    lock = lock_of(
        entry("a==1.0", "l:1"),
        entry("b===weird", "l:2"),
        entry("c @ https://h/c-1.tar.gz", "l:3"),
        dataclasses.replace(entry("d", "l:4"), url="file:///src/d", editable=True),
    )
    assert lint(lock) == []


def test_lint_unpinned() -> None:
    lock = lock_of(entry("a>=1", "l:1"), entry("b", "l:2"), entry("c==1.*", "l:3"))
    issues = lint(lock)
    assert [(i.source, i.code) for i in issues] == [
        ("l:1", "unpinned"),
        ("l:2", "unpinned"),
        ("l:3", "unpinned"),
    ]
    assert "a>=1 is not pinned" in issues[0].message
    assert str(issues[1]).startswith("l:2: unpinned: b (no version) is not pinned")


def test_lint_partial_hashes() -> None:
    hashed = entry("a==1.0", "l:1", hashes=("sha256:00",))
    editable = dataclasses.replace(entry("e", "l:3"), url="file:///src/e", editable=True)
    lock = lock_of(hashed, entry("b==1.0", "l:2"), editable)
    assert codes(lock) == [("l:2", "hashes"), ("l:3", "hashes")]
    assert "cannot be installed when hashes are required" in lint(lock)[1].message
    assert codes(lock_of(entry("b==1.0", "l:2"), require_hashes=True)) == [("l:2", "hashes")]
    assert codes(lock_of(hashed)) == []


def test_lint_duplicates() -> None:
    lock = lock_of(
        entry("a==1.0", "l:1"),
        entry("A==1.0.0", "l:2"),  # the same pin: fine
        entry("a==2.0", "l:3"),
        entry('b==1.0 ; sys_platform == "linux"', "l:4"),
        entry('b==2.0 ; sys_platform == "win32"', "l:5"),  # exclusive markers: fine
        entry('c==1.0 ; sys_platform == "linux"', "l:6"),
        entry('c==2.0 ; sys_platform == "linux"', "l:7"),
        entry("d @ https://h/d-1.tar.gz", "l:8"),
        entry("d @ https://h/d-2.tar.gz", "l:9"),
    )
    issues = lint(lock)
    assert [(i.source, i.code) for i in issues] == [
        ("l:3", "duplicate"),
        ("l:7", "duplicate"),
        ("l:9", "duplicate"),
    ]
    assert issues[0].message == "a is pinned to 2.0 here and to 1.0 at l:1"


# --- environment_problems ----------------------------------------------------------------------


def test_environment_problems() -> None:
    header = LockHeader(
        requires_python=">=3.12",
        environments=('sys_platform == "win32"', 'sys_platform == "darwin"'),
    )
    lock = Lock(path="pylock.toml", format="pylock", entries=(), header=header)
    problems = environment_problems(lock, LINUX_311)
    assert len(problems) == 2
    assert "requires-python >=3.12" in problems[0]
    assert "none of the lock's environments" in problems[1]
    assert environment_problems(lock, WINDOWS_312) == []
    assert environment_problems(dataclasses.replace(lock, header=LockHeader()), LINUX_311) == []


def test_marker_on_entry_with_lock_file_context_in_lint() -> None:
    # lock-file markers (pylock) do not confuse duplicate detection
    first = dataclasses.replace(
        entry("a==1.0", "p:1"),
        marker=Marker('"dev" in dependency_groups'),
        dependency_groups=frozenset(),
    )
    second = dataclasses.replace(first, source="p:2", specifier=entry("a==2.0").specifier)
    assert codes(lock_of(first, second)) == [("p:2", "duplicate")]

"""pipkit.core.plan: diff, merge and check, table by table."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from packaging.markers import Marker

from pipkit.core.model import DirectUrl, InstalledDist, Lock, LockEntry
from pipkit.core.plan import PROTECTED, Plan, compare, diff, merge_entries, mismatch
from pipkit.errors import InputError
from tests.core.helpers import LINUX_311, dist, entry

COMMIT = "0123456789abcdef0123456789abcdef01234567"
OTHER_COMMIT = "f" * 40


def editable_entry(path: str, name: str = "proj") -> LockEntry:
    return LockEntry(
        name=name,  # type: ignore[arg-type]
        raw_name=name,
        source="lock.txt:1",
        url=Path(path).as_uri(),
        editable=True,
        line=path,
    )


def editable_dist(path: str, name: str = "proj", version: str = "0.1") -> InstalledDist:
    return dist(
        name,
        version,
        direct_url=DirectUrl(url=Path(path).as_uri(), editable=True),
        editable_location=path,
    )


# (installed, entry, expected mismatch reason or None)
MISMATCH_CASES: list[tuple[str, InstalledDist, LockEntry, str | None]] = [
    ("same version", dist("a", "1.0"), entry("a==1.0"), None),
    ("trailing zeros are equal", dist("a", "1.0.0"), entry("a==1.0"), None),
    ("epoch", dist("a", "1!2.0"), entry("a==1!2.0"), None),
    ("epoch differs", dist("a", "2.0"), entry("a==1!2.0"), "version"),
    ("local accepted by public pin", dist("a", "1.0+cpu"), entry("a==1.0"), None),
    ("local pin needs local", dist("a", "1.0"), entry("a==1.0+cpu"), "version"),
    ("other local", dist("a", "1.0+cu118"), entry("a==1.0+cpu"), "version"),
    ("arbitrary equality", dist("a", "weird-1"), entry("a===weird-1"), None),
    ("arbitrary compares strings", dist("a", "1.0.0"), entry("a===1.0"), "version"),
    ("non PEP 440 installed", dist("a", "weird-1"), entry("a==1.0"), "version"),
    ("different version", dist("a", "1.1"), entry("a==1.0"), "version"),
    ("prerelease pin", dist("a", "2.0rc1"), entry("a==2.0rc1"), None),
    ("range accepts prerelease", dist("a", "2.0rc1"), entry("a>=1"), None),
    ("unpinned", dist("a", "3.0"), entry("a"), None),
    (
        "index pin installed from a URL",
        dist("a", "1.0", direct_url=DirectUrl(url="https://x/a-1.0.tar.gz")),
        entry("a==1.0"),
        "origin",
    ),
    (
        "index pin installed editable",
        editable_dist("/src/a", "a", "1.0"),
        entry("a==1.0"),
        "origin",
    ),
    (
        "same archive URL",
        dist("a", "1.0", direct_url=DirectUrl(url="https://Files.Example/a-1.0.tar.gz")),
        entry("a @ https://files.example/a-1.0.tar.gz#sha256=00"),
        None,
    ),
    (
        "other archive URL",
        dist("a", "1.0", direct_url=DirectUrl(url="https://files.example/a-1.1.tar.gz")),
        entry("a @ https://files.example/a-1.0.tar.gz"),
        "origin",
    ),
    (
        "URL entry but installed from the index",
        dist("a", "1.0"),
        entry("a @ https://files.example/a-1.0.tar.gz"),
        "origin",
    ),
    (
        "archive hash recorded and locked",
        dist(
            "a",
            "1.0",
            direct_url=DirectUrl(url="https://f/a-1.0.tar.gz", archive_hash="sha256=" + "1" * 64),
        ),
        entry("a @ https://f/a-1.0.tar.gz", hashes=("sha256:" + "1" * 64,)),
        None,
    ),
    (
        "archive hash differs",
        dist(
            "a",
            "1.0",
            direct_url=DirectUrl(url="https://f/a-1.0.tar.gz", archive_hash="sha256=" + "1" * 64),
        ),
        entry("a @ https://f/a-1.0.tar.gz", hashes=("sha256:" + "2" * 64,)),
        "hash",
    ),
    (
        "same local wheel",
        dist("a", "1.0", direct_url=DirectUrl(url="file:///w/./a-1.0-py3-none-any.whl")),
        entry("a @ file:///w/a-1.0-py3-none-any.whl"),
        None,
    ),
    (
        "same local directory, not editable",
        dist("proj", "0.1", direct_url=DirectUrl(url="file:///src/proj")),
        entry("proj @ file:///src/proj/"),
        None,
    ),
    (
        "subdirectory differs",
        dist("a", "1.0", direct_url=DirectUrl(url="https://f/r.zip", subdirectory="one")),
        entry("a @ https://f/r.zip#subdirectory=two"),
        "origin",
    ),
    (
        "same VCS commit",
        dist(
            "a",
            "1.0",
            direct_url=DirectUrl(
                url="https://github.com/Org/Repo.git", vcs="git", commit_id=COMMIT
            ),
        ),
        entry(f"a @ git+https://github.com/org/repo@{COMMIT}"),
        None,
    ),
    (
        "other VCS commit",
        dist(
            "a",
            "1.0",
            direct_url=DirectUrl(url="https://github.com/org/repo", vcs="git", commit_id=COMMIT),
        ),
        entry(f"a @ git+https://github.com/org/repo@{OTHER_COMMIT}"),
        "commit",
    ),
    (
        "VCS branch as requested",
        dist(
            "a",
            "1.0",
            direct_url=DirectUrl(
                url="https://github.com/org/repo",
                vcs="git",
                commit_id=COMMIT,
                requested_revision="main",
            ),
        ),
        entry("a @ git+https://github.com/org/repo@main"),
        None,
    ),
    (
        "VCS other branch",
        dist(
            "a",
            "1.0",
            direct_url=DirectUrl(
                url="https://github.com/org/repo", vcs="git", requested_revision="main"
            ),
        ),
        entry("a @ git+https://github.com/org/repo@dev"),
        "commit",
    ),
    (
        "VCS other repository",
        dist("a", "1.0", direct_url=DirectUrl(url="https://github.com/fork/repo", vcs="git")),
        entry("a @ git+https://github.com/org/repo"),
        "origin",
    ),
    ("editable same path", editable_dist("/src/proj"), editable_entry("/src/proj"), None),
    (
        "editable, path spelled differently",
        editable_dist("/src/proj/"),
        editable_entry("/src/./proj"),
        None,
    ),
    ("editable other path", editable_dist("/src/other"), editable_entry("/src/proj"), "origin"),
    (
        "locked editable, installed normally",
        dist("proj", "0.1", direct_url=DirectUrl(url=Path("/src/proj").as_uri())),
        editable_entry("/src/proj"),
        "editable",
    ),
    (
        "locked normally, installed editable",
        editable_dist("/src/proj"),
        entry("proj @ file:///src/proj"),
        "editable",
    ),
    (
        "legacy egg-link editable",
        dist("proj", "0.1", editable_location="/src/proj"),
        editable_entry("/src/proj"),
        None,
    ),
    (
        "editable VCS: any editable install of it",
        editable_dist("/venv/src/proj"),
        dataclasses.replace(
            editable_entry("/x"), url="git+https://github.com/org/proj@main#egg=proj"
        ),
        None,
    ),
    (
        "direct URL with a version that moved",
        dist("a", "2.0", direct_url=DirectUrl(url="file:///src/a")),
        dataclasses.replace(entry("a @ file:///src/a"), specifier=entry("a==1.0").specifier),
        "version",
    ),
]


@pytest.mark.parametrize(
    ("installed", "lock_entry", "reason"),
    [case[1:] for case in MISMATCH_CASES],
    ids=[case[0] for case in MISMATCH_CASES],
)
def test_mismatch(installed: InstalledDist, lock_entry: LockEntry, reason: str | None) -> None:
    assert mismatch(installed, lock_entry) == reason


def names(items: tuple[object, ...]) -> list[str]:
    return [str(getattr(item, "name")) for item in items]  # noqa: B009


def test_diff_buckets() -> None:
    installed = [
        dist("same", "1.0"),
        dist("older", "1.0"),
        dist("stray", "0.1"),
        dist("pip", "24.0"),
        dist("setuptools", "69.0"),
        dist("kept-thing", "1.0"),
        dist("Wheel", "0.42"),
    ]
    entries = [entry("same==1.0"), entry("older==2.0"), entry("new==1.0"), entry("wheel==0.43")]
    plan = diff(installed, entries, keep=["Kept_Thing"])
    assert names(plan.install) == ["new"]
    assert names(plan.remove) == ["stray"]
    assert names(plan.change) == ["older", "wheel"]  # a locked protected package is changed
    assert [c.reason for c in plan.change] == ["version", "version"]
    assert names(plan.unchanged) == ["same"]
    assert names(plan.protected) == ["kept-thing", "pip", "setuptools"]
    assert not plan.is_noop


def test_noop_and_protected_constant() -> None:
    assert frozenset({"pip", "setuptools", "wheel"}) == PROTECTED
    plan = diff([dist("pip", "24"), dist("a", "1.0")], [entry("a==1.0")])
    assert plan.is_noop
    assert plan == Plan(unchanged=(dist("a", "1.0"),), protected=(dist("pip", "24"),))


def test_first_installed_copy_wins() -> None:
    plan = diff([dist("a", "1.0"), dist("a", "2.0")], [entry("a==1.0")])
    assert plan.is_noop


def test_merge_same_project() -> None:
    merged = merge_entries(
        [
            entry("a>=1", "x.txt:1"),
            entry("b==1.0", "x.txt:2"),
            entry("A[extra]==1.5", "y.txt:1", hashes=("sha256:11",)),
            entry("a", "z.txt:1", hashes=("sha256:11", "sha256:22")),
        ]
    )
    a, b = merged
    assert (a.name, a.pinned_version, a.extras) == ("a", "1.5", frozenset({"extra"}))
    assert a.hashes == ("sha256:11", "sha256:22")
    assert a.source == "x.txt:1"
    assert a.line == "a[extra]==1.5"
    assert b.name == "b"


@pytest.mark.parametrize(
    ("first", "second", "fragment"),
    [
        ("a==1.0", "a==2.0", "pinned to 2.0 here and to 1.0 at x.txt:1"),
        ("a @ https://h/a-1.tar.gz", "a @ https://h/a-2.tar.gz", "comes from"),
        ("a>=2", "a==1.0", "excluded by"),
    ],
)
def test_merge_conflicts(first: str, second: str, fragment: str) -> None:
    with pytest.raises(InputError) as info:
        merge_entries([entry(first, "x.txt:1"), entry(second, "y.txt:7")])
    assert info.value.location == "y.txt:7"
    assert fragment in info.value.message


def test_constraints_narrow_and_never_add() -> None:
    plan = diff(
        [dist("a", "1.0"), dist("b", "2.0")],
        [entry("a"), entry("b>=1")],
        constraints=[entry("a==1.0"), entry("b==1.0"), entry("c==1.0")],
    )
    assert names(plan.unchanged) == ["a"]
    assert names(plan.change) == ["b"]
    assert plan.change[0].entry.pinned_version == "1.0"
    assert plan.install == ()


# --- check -----------------------------------------------------------------------------------


def make_lock(*entries: LockEntry, constraints: tuple[LockEntry, ...] = ()) -> Lock:
    return Lock(path="lock.txt", format="requirements", entries=entries, constraints=constraints)


def test_check_in_sync() -> None:
    lock = make_lock(entry("a==1.0"), entry('winonly==1 ; sys_platform == "win32"'))
    result = compare([dist("a", "1.0.0"), dist("pip", "24")], lock, LINUX_311)
    assert result.in_sync
    assert result.to_json() == {
        "in_sync": True,
        "missing": [],
        "extra": [],
        "changed": [],
        "conflicts": [],
    }


def test_check_drift_json() -> None:
    lock = make_lock(
        entry("Zeta==1.0"),
        entry("alpha==2.0"),
        entry("Beta_Pkg==3.0"),
        entry("url-pkg @ https://h/url_pkg-1.0.tar.gz"),
        entry('skipped==1 ; python_version < "3"'),
        constraints=(entry("extra-constraint==1.0"),),
    )
    installed = [
        dist("alpha", "1.0"),
        dist("Stray.Thing", "0.5"),
        dist("url-pkg", "1.0"),
        dist("app", "1.0", requires=("alpha>=2", "missing-dep", 'never ; python_version < "3"')),
        dist("keepme", "1"),
    ]
    result = compare(installed, lock, LINUX_311, keep=["keepme"])
    assert not result.in_sync
    assert result.to_json() == {
        "in_sync": False,
        "missing": [{"name": "beta-pkg", "version": "3.0"}, {"name": "zeta", "version": "1.0"}],
        "extra": [{"name": "app", "version": "1.0"}, {"name": "stray-thing", "version": "0.5"}],
        "changed": [
            {"name": "alpha", "installed": "1.0", "locked": "2.0"},
            {"name": "url-pkg", "installed": "1.0", "locked": "from https://h/url_pkg-1.0.tar.gz"},
        ],
        "conflicts": [
            {
                "name": "app",
                "version": "1.0",
                "requires": "alpha>=2",
                "problem": "version",
                "installed": "1.0",
            },
            {
                "name": "app",
                "version": "1.0",
                "requires": "missing-dep",
                "problem": "missing",
                "installed": None,
            },
        ],
    }


def test_check_conflicts_alone_break_sync() -> None:
    lock = make_lock(entry("a==1.0"))
    result = compare([dist("a", "1.0", requires=("b",))], lock, LINUX_311)
    assert (result.missing, result.extra, result.changed) == ((), (), ())
    assert not result.in_sync


def test_check_lock_file_markers() -> None:
    dev_only = dataclasses.replace(
        entry("tool==1.0"),
        marker=Marker('"dev" in dependency_groups'),
        dependency_groups=frozenset({"dev"}),
    )
    not_selected = dataclasses.replace(dev_only, dependency_groups=frozenset())
    assert compare([dist("tool", "1.0")], make_lock(dev_only), LINUX_311).in_sync
    result = compare([dist("tool", "1.0")], make_lock(not_selected), LINUX_311)
    assert [d.name for d in result.extra] == ["tool"]

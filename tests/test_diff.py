"""``pipkit diff A B``: locks, history entries and the env, every kind of change."""

from __future__ import annotations

import json
from typing import Any

from packaging.utils import canonicalize_name

from tests.test_sync import base_venv, env, wheels, write_lock

__all__ = ["base_venv", "env", "wheels"]  # fixtures, imported for pytest

A_HASH = "sha256:" + "a" * 64
B_HASH = "sha256:" + "b" * 64


def test_two_locks_every_kind_of_change(run_pipkit, tmp_path) -> None:  # type: ignore[no-untyped-def]
    old = tmp_path / "old.txt"
    new = tmp_path / "new.txt"
    old.write_text(
        "gone==1.0\n"
        "Major==1.9\n"
        "minor==1.2.3\n"
        "patch==1.2.3\n"
        "down==2.0\n"
        "pre==1.0\n"
        "same==1.0\n"
        "same-zero==1.0\n"
        f"hashed==1.0 --hash={A_HASH}\n"
        "marked==1.0 ; python_version < '3.12'\n"
        "moved==1.0\n"
    )
    new.write_text(
        "Major==2.0\n"
        "minor==1.3\n"
        "patch==1.2.4\n"
        "down==1.5\n"
        "pre==1.0rc1\n"
        "same==1.0\n"
        "same-zero==1.0.0\n"  # one version, written two ways
        f"hashed==1.0 --hash={B_HASH}\n"
        "marked==1.0 ; python_version < '3.13'\n"
        "moved @ https://example.invalid/moved-1.0-py3-none-any.whl\n"
        "fresh==0.1\n"
    )
    result = run_pipkit("diff", str(old), str(new))
    assert result.exit_code == 1, result.output
    assert result.stdout.splitlines() == [
        "added    fresh 0.1",
        "removed  gone 1.0",
        "changed  down 2.0 -> 1.5 (major, down)",
        "changed  Major 1.9 -> 2.0 (major, up)",
        "changed  minor 1.2.3 -> 1.3 (minor, up)",
        "changed  moved 1.0 -> 1.0 from https://example.invalid/moved-1.0-py3-none-any.whl"
        " (origin)",
        "changed  patch 1.2.3 -> 1.2.4 (patch, up)",
        "changed  pre 1.0 -> 1.0rc1 (other, down)",
        "hashes   hashed 1.0: other hashes",
        'marker   marked 1.0: python_version < "3.12" -> python_version < "3.13"',
    ]
    data = json.loads(run_pipkit("diff", str(old), str(new), "--json").stdout)
    assert data["same"] is False and data["a"] == str(old)
    assert [c["kind"] for c in data["changed"]] == [
        "major",
        "major",
        "minor",
        "origin",
        "patch",
        "other",
    ]
    assert data["hashes"] == [
        {"name": "hashed", "version": "1.0", "before": [A_HASH], "after": [B_HASH]}
    ]
    same = run_pipkit("diff", str(old), str(old))
    assert same.exit_code == 0
    assert same.stdout == f"No difference between {old} and {old}.\n"


def test_bad_sides_are_exit_2(run_pipkit, env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    missing = run_pipkit("--python", str(env), "diff", str(tmp_path / "nope.txt"), "env")
    assert missing.exit_code == 2
    assert "nope.txt: no such lock file, history entry (@ID) or `env`" in missing.stderr
    bad = run_pipkit("--python", str(env), "diff", "@x", "env")
    assert bad.exit_code == 2
    assert "@x: a history entry is @ and its number" in bad.stderr


def test_lock_against_env_finds_what_check_finds(run_pipkit, env, wheels, tmp_path) -> None:  # type: ignore[no-untyped-def]
    lock = write_lock(
        tmp_path / "requirements.txt", wheels, "alpha==2.0", "beta==1.0", "Odd.Name_pkg==1.0"
    )
    check = json.loads(run_pipkit("--python", str(env), "check", str(lock), "--json").stdout)
    result = run_pipkit("--python", str(env), "diff", str(lock), "env", "--json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert {i["name"] for i in data["added"]} == {i["name"] for i in check["extra"]} == {"gamma"}
    assert {i["name"] for i in data["removed"]} == {i["name"] for i in check["missing"]}
    assert {c["name"] for c in data["changed"]} == {c["name"] for c in check["changed"]}
    assert data["changed"][0]["before"]["version"] == "2.0"
    assert data["changed"][0]["after"]["version"] == "1.0"
    assert (data["changed"][0]["kind"], data["changed"][0]["direction"]) == ("major", "down")
    # The other way round: the same differences, mirrored.
    back = json.loads(run_pipkit("--python", str(env), "diff", "env", str(lock), "--json").stdout)
    assert [i["name"] for i in back["added"]] == [i["name"] for i in data["removed"]]
    assert [i["name"] for i in back["removed"]] == [i["name"] for i in data["added"]]
    # In sync: no difference either.
    synced = write_lock(tmp_path / "synced.txt", wheels, "alpha==1.0", "beta==1.0", "gamma==1.0")
    assert run_pipkit("--python", str(env), "check", str(synced)).exit_code == 0
    none = run_pipkit("--python", str(env), "diff", str(synced), "env")
    assert none.exit_code == 0, none.output


def test_history_entries_differ_as_the_history_says(run_pipkit, env, wheels, tmp_path) -> None:  # type: ignore[no-untyped-def]
    locks = [
        write_lock(tmp_path / "one.txt", wheels, "alpha==2.0", "beta==1.0", "gamma==1.0"),
        write_lock(tmp_path / "two.txt", wheels, "alpha==2.0", "beta==2.0"),
        write_lock(tmp_path / "three.txt", wheels, "alpha==1.0", "beta==2.0", "Odd.Name_pkg==1.0"),
    ]
    for lock in locks:
        synced = run_pipkit("--python", str(env), "sync", str(lock), "--yes")
        assert synced.exit_code == 0, synced.output
    entries = json.loads(run_pipkit("--python", str(env), "history", "--json").stdout)
    assert [e["id"] for e in entries] == [1, 2, 3]

    def shown(entry_id: int) -> dict[str, Any]:
        out = run_pipkit("--python", str(env), "history", "show", str(entry_id), "--json")
        data: dict[str, Any] = json.loads(out.stdout)
        return data

    def pins(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
        return [(canonicalize_name(i["name"]), i["version"]) for i in items]

    # Consecutive entries: exactly the later entry's own diff.
    for entry_id in (2, 3):
        history = shown(entry_id)
        ours = json.loads(
            run_pipkit(
                "--python", str(env), "diff", f"@{entry_id - 1}", f"@{entry_id}", "--json"
            ).stdout
        )
        assert pins(ours["added"]) == pins(history["added"])
        assert pins(ours["removed"]) == pins(history["removed"])
        assert pins([c["before"] for c in ours["changed"]]) == pins(
            [c["before"] for c in history["changed"]]
        )
        assert pins([c["after"] for c in ours["changed"]]) == pins(
            [c["after"] for c in history["changed"]]
        )
        assert ours["changed"] or ours["added"] or ours["removed"]
    # Across entries: what lies between the two "after" sets the history keeps.
    after1 = dict(pins(shown(1)["after"]))
    after3 = dict(pins(shown(3)["after"]))
    result = run_pipkit("--python", str(env), "diff", "@1", "@3", "--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert {i["name"] for i in data["added"]} == set(after3) - set(after1) == {"odd-name-pkg"}
    assert {i["name"] for i in data["removed"]} == set(after1) - set(after3) == {"gamma"}
    assert {c["after"]["name"]: c["after"]["version"] for c in data["changed"]} == {
        n: after3[n] for n in set(after1) & set(after3) if after1[n] != after3[n]
    }
    # The last entry is the env now; a lock against an entry counts as against the env.
    assert run_pipkit("--python", str(env), "diff", "@3", "env").exit_code == 0
    assert run_pipkit("--python", str(env), "diff", str(locks[2]), "@3").exit_code == 0
    gone = run_pipkit("--python", str(env), "diff", "@9", "env")
    assert gone.exit_code == 2
    assert "no history entry 9 (entries are 1 to 3)" in gone.stderr

"""The one "did you mean" suggestion: nearest by edit distance, or none."""

from __future__ import annotations

from pipkit.core.suggest import closest, distance

COMMANDS = ["install", "uninstall", "upgrade", "list", "show", "freeze", "search", "check"]


def test_distance_counts_edits() -> None:
    assert distance("instal", "install") == 1
    assert distance("kitten", "sitting") == 3
    assert distance("", "abc") == 3


def test_one_best_match_not_a_list() -> None:
    # "instal" is 1 edit from install and 3 from uninstall: only install is offered.
    assert closest("instal", COMMANDS) == "install"
    assert closest("chek", COMMANDS) == "check"
    assert closest("--dry-rn", ["--dry-run", "--yes", "--json"]) == "--dry-run"


def test_nothing_near_enough_gives_none() -> None:
    assert closest("zzzz", COMMANDS) is None
    assert closest("x", COMMANDS) is None

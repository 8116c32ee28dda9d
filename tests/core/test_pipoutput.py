"""pip's failure output read into one fact. The texts are real pip output (pip 23.2.1 and
26.3 print these lines identically), captured from a find-links folder of test wheels."""

from __future__ import annotations

from pipkit.core.pipoutput import map_internal, nearest_versions, parse

NOT_FOUND = """\
ERROR: Could not find a version that satisfies the requirement reqeusts (from versions: none)
ERROR: No matching distribution found for reqeusts
"""

NO_VERSION = """\
ERROR: Could not find a version that satisfies the requirement alpha==9.0 (from versions: 1.0, 2.0)
ERROR: No matching distribution found for alpha==9.0
"""

MANY = """\
ERROR: Could not find a version that satisfies the requirement many==5 (from versions: 0.0, 0.1, \
0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.10, 0.11)
ERROR: No matching distribution found for many==5
"""

# pip 26.3, stdout and stderr together, as pipkit captures them.
CONFLICT = """\
Looking in links: ./wheels
INFO: pip is looking at multiple versions of beta to determine which version is compatible \
with other requirements. This could take a while.
ERROR: Cannot install -r req.txt (line 2) and alpha==1.0 because these package versions have \
conflicting dependencies.

The conflict is caused by:
    The user requested alpha==1.0
    beta 2.0 depends on alpha>=2.0

To fix this you could try to:
1. loosen the range of package versions you've specified
2. remove package versions to allow pip attempt to solve the dependency conflict

ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/en/latest/topics/\
dependency-resolution/#dealing-with-dependency-conflicts
"""

CONSTRAINT = """\
The conflict is caused by:
    beta 2.0 depends on alpha>=2.0
    The user requested (constraint) alpha==1.0

To fix this you could try to:
"""

FROM_FILE = """\
Processing ./wheels/alpha-1.0-py3-none-any.whl (from -r /venv/.pipkit/txn/requirements.txt (line 2))
ERROR: Could not find a version that satisfies the requirement beta==9 (from -r \
/venv/.pipkit/txn/requirements.txt (line 1)) (from versions: 1.0, 2.0)
"""


def test_not_found() -> None:
    failure = parse(NOT_FOUND)
    assert failure is not None
    assert (failure.kind, failure.requirement, failure.project) == (
        "not-found",
        "reqeusts",
        "reqeusts",
    )


def test_version_not_found_names_what_exists() -> None:
    failure = parse(NO_VERSION)
    assert failure is not None
    assert (failure.kind, failure.project, failure.versions) == (
        "no-version",
        "alpha",
        ("1.0", "2.0"),
    )


def test_nearest_versions_at_most_five_around_the_pin() -> None:
    failure = parse(MANY)
    assert failure is not None and len(failure.versions) == 12
    assert nearest_versions("many==5", failure.versions) == ["0.11", "0.10", "0.9", "0.8", "0.7"]
    assert nearest_versions("many==0.5.1", failure.versions) == ["0.7", "0.6", "0.5", "0.4", "0.3"]
    assert nearest_versions("many>=3", failure.versions) == ["0.11", "0.10", "0.9", "0.8", "0.7"]
    assert nearest_versions("alpha==9.0", ["1.0", "2.0"]) == ["2.0", "1.0"]


def test_conflict_names_the_two_requirements() -> None:
    failure = parse(CONFLICT)
    assert failure is not None and failure.kind == "conflict"
    assert failure.clash == ("alpha==1.0 (requested)", "alpha>=2.0 (required by beta 2.0)")
    constraint = parse(CONSTRAINT)
    assert constraint is not None
    assert constraint.clash == ("alpha>=2.0 (required by beta 2.0)", "alpha==1.0 (constraint)")


def test_invalid_requirement() -> None:
    failure = parse("ERROR: Invalid requirement: 'alpha['\n")
    assert failure is not None and (failure.kind, failure.requirement) == ("invalid", "alpha[")


def test_unknown_output_is_none() -> None:
    assert parse("ERROR: something else entirely\n") is None


def test_internal_file_mapped_to_the_users_line() -> None:
    sources = {1: "requirements.txt:7", 2: "requirements.txt:3"}
    mapped = map_internal(FROM_FILE, "txn/requirements.txt", sources)
    assert "(from requirements.txt:3)" in mapped
    assert "requirement beta==9 (from requirements.txt:7) (from versions" in mapped
    failure = parse(mapped)
    assert failure is not None and failure.origin == "requirements.txt:7"
    # A file that is not pipkit's own is left alone.
    assert map_internal("-r other.txt (line 1)", "txn/requirements.txt", sources) == (
        "-r other.txt (line 1)"
    )

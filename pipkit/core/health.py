"""Consistency checks on pipkit's own data: dependency conflicts, lock lint, incomplete locks.

* :func:`conflicts` is ``pip check`` computed from :class:`InstalledDist` records: each
  installed distribution's ``Requires-Dist`` whose marker holds for the target (with
  ``extra = ""``, as pip check evaluates only base requirements) must be installed, at a version
  its specifier accepts (pre-releases allowed, as pip check allows them).
* :func:`missing_dependencies` goes further for the sync engine, on the state the environment
  would have after a sync: it follows the extras that are actually requested (``a`` requiring
  ``b[x]`` makes ``b``'s ``extra == "x"`` requirements count) and reports each unmet one with
  the chain that pulls it in (``app 1.0 -> lib>=2 (missing)``).
* :func:`lint` finds what makes a lock not a lock: unpinned entries, partial hashes, one package
  pinned twice.
* :func:`environment_problems` says whether a lock was made for the target at all (pylock's
  ``requires-python`` and ``environments``).

Pure: no I/O at all. Imports only the standard library, ``packaging`` and pipkit.core.model.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from packaging.markers import InvalidMarker, Marker, UndefinedComparison, UndefinedEnvironmentName
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion

from pipkit.core.model import InstalledDist, Lock, LockEntry, marker_holds

__all__ = [
    "Conflict",
    "LintIssue",
    "MissingDependency",
    "conflicts",
    "environment_problems",
    "lint",
    "missing_dependencies",
]

Problem = Literal["missing", "version"]


@dataclass(frozen=True)
class Conflict:
    """One unmet requirement of an installed distribution (one line of ``pip check``)."""

    name: NormalizedName  # the distribution that has the requirement
    version: str
    requires: str  # the Requires-Dist entry, as written (marker included)
    problem: Problem
    installed: str | None = None  # the version of the required project, if installed

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "requires": self.requires,
            "problem": self.problem,
            "installed": self.installed,
        }

    def __str__(self) -> str:
        # pip check's wording: the required project by its normalized name, the requirement
        # as packaging writes it.
        required = _requirement(self.requires)
        required_name = canonicalize_name(required.name) if required is not None else self.requires
        if self.problem == "missing":
            return f"{self.name} {self.version} requires {required_name}, which is not installed."
        text = str(required) if required is not None else self.requires
        return (
            f"{self.name} {self.version} has requirement {text}, "
            f"but you have {required_name} {self.installed}."
        )


@dataclass(frozen=True)
class MissingDependency:
    """An unmet requirement in the would-be environment, with the chain that pulls it in."""

    chain: tuple[str, ...]  # ("app 1.0", "mid 2.0"): from a top-level dist to the requirer
    requirement: str  # "lib>=2" (marker left out: it held)
    problem: Problem
    installed: str | None = None

    def __str__(self) -> str:
        state = "missing" if self.problem == "missing" else f"have {self.installed}"
        return " -> ".join((*self.chain, f"{self.requirement} ({state})"))


@dataclass(frozen=True)
class LintIssue:
    """A problem with a lock itself; ``source`` is the entry's ``FILE:LINE``."""

    source: str
    code: str  # "unpinned", "hashes", "duplicate"
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.code}: {self.message}"


# --------------------------------------------------------------------------------------------
# Helpers


@functools.lru_cache(maxsize=8192)
def _requirement(text: str) -> Requirement | None:
    # Cached: the extras fixpoint and the graph walk parse the same Requires-Dist lines
    # several times. Callers only read the (mutable) Requirement, never change it.
    try:
        return Requirement(text)
    except InvalidRequirement:
        # Broken metadata is not ours to judge here: pip check skips it too (with a warning).
        return None


def _accepts(specifier: SpecifierSet, version: str) -> bool:
    try:
        return specifier.contains(version, prereleases=True)
    except (InvalidVersion, InvalidSpecifier):
        return False


def _by_name(dists: Sequence[InstalledDist]) -> dict[NormalizedName, InstalledDist]:
    # The first of two copies of one project is the one Python imports (sys.path order).
    result: dict[NormalizedName, InstalledDist] = {}
    for dist in dists:
        result.setdefault(dist.name, dist)
    return result


def _without_marker(requirement: Requirement) -> str:
    text = requirement.name
    if requirement.extras:
        text += f"[{','.join(sorted(requirement.extras))}]"
    if requirement.url:
        return f"{text} @ {requirement.url}"
    return text + str(requirement.specifier)


# --------------------------------------------------------------------------------------------
# pip check


def conflicts(installed: Sequence[InstalledDist], environment: Mapping[str, str]) -> list[Conflict]:
    """What ``pip check`` would report for *installed* on a target with marker *environment*."""
    found: list[Conflict] = []
    dists = _by_name(installed)
    for dist in dists.values():
        for text in dist.requires:
            requirement = _requirement(text)
            if requirement is None or not marker_holds(requirement.marker, environment, ()):
                continue
            target = dists.get(canonicalize_name(requirement.name))
            if target is None:
                found.append(Conflict(dist.name, dist.version, text, "missing"))
            elif not _accepts(requirement.specifier, target.version):
                found.append(Conflict(dist.name, dist.version, text, "version", target.version))
    return sorted(found, key=lambda c: (c.name, c.requires))


def _requested_extras(
    dists: Mapping[NormalizedName, InstalledDist],
    environment: Mapping[str, str],
    roots: Mapping[NormalizedName, frozenset[str]],
) -> dict[NormalizedName, set[str]]:
    """The extras each dist is asked for, to a fixpoint (extras can request more extras)."""
    extras: dict[NormalizedName, set[str]] = {name: set() for name in dists}
    for name, wanted in roots.items():
        if name in extras:
            extras[name] |= wanted
    changed = True
    while changed:
        changed = False
        for dist in dists.values():
            for text in dist.requires:
                requirement = _requirement(text)
                if requirement is None or not requirement.extras:
                    continue
                if not marker_holds(requirement.marker, environment, extras[dist.name]):
                    continue
                target = canonicalize_name(requirement.name)
                asked: set[str] = {canonicalize_name(e) for e in requirement.extras}
                if target in extras and not asked <= extras[target]:
                    extras[target] |= asked
                    changed = True
    return extras


def missing_dependencies(
    dists: Sequence[InstalledDist],
    environment: Mapping[str, str],
    *,
    extras: Mapping[str, Iterable[str]] | None = None,
) -> list[MissingDependency]:
    """Each unmet requirement among *dists* (the environment as it would be after a sync).

    *extras* maps top-level names to the extras the lock asks for (``foo[bar]==1``). Chains
    start at a dist nothing else requires (or at the requirer itself, inside a cycle).
    """
    by_name = _by_name(dists)
    roots = {
        canonicalize_name(name): frozenset(canonicalize_name(e) for e in wanted)
        for name, wanted in (extras or {}).items()
    }
    requested = _requested_extras(by_name, environment, roots)

    # The dependency graph among installed dists, and each dist's unmet requirements.
    edges: dict[NormalizedName, list[NormalizedName]] = {name: [] for name in by_name}
    unmet: list[tuple[NormalizedName, Requirement, Problem, str | None]] = []
    for dist in by_name.values():
        for text in dist.requires:
            requirement = _requirement(text)
            if requirement is None:
                continue
            if not marker_holds(requirement.marker, environment, requested[dist.name]):
                continue
            target = by_name.get(canonicalize_name(requirement.name))
            if target is None:
                unmet.append((dist.name, requirement, "missing", None))
                continue
            edges[dist.name].append(target.name)
            if not _accepts(requirement.specifier, target.version):
                unmet.append((dist.name, requirement, "version", target.version))

    # Shortest path from a top-level dist to each dist (BFS from all roots at once).
    has_parent = {child for children in edges.values() for child in children}
    top = [name for name in by_name if name not in has_parent]
    parent: dict[NormalizedName, NormalizedName | None] = {name: None for name in top}
    queue = deque(top)
    while queue:
        current = queue.popleft()
        for child in edges[current]:
            if child not in parent:
                parent[child] = current
                queue.append(child)

    def chain(name: NormalizedName) -> tuple[str, ...]:
        path: list[str] = []
        node: NormalizedName | None = name
        seen: set[NormalizedName] = set()
        while node is not None and node not in seen:
            seen.add(node)
            dist = by_name[node]
            path.append(f"{dist.raw_name} {dist.version}")
            node = parent.get(node)
        return tuple(reversed(path))

    result = [
        MissingDependency(chain(name), _without_marker(requirement), problem, have)
        for name, requirement, problem, have in unmet
    ]
    return sorted(result, key=lambda m: (m.chain, m.requirement))


# --------------------------------------------------------------------------------------------
# Lint


def lint(lock: Lock) -> list[LintIssue]:
    """What keeps *lock* from being an exact, repeatable lock.

    * ``unpinned``: an entry that is neither ``==X``/``===X`` nor a direct reference/editable;
    * ``hashes``: some entries carry ``--hash`` (or the file says ``--require-hashes``) and this
      one has none: pip then refuses the whole install; an editable can never be hashed;
    * ``duplicate``: the same project pinned to two versions or two sources, under the same
      marker (different markers are taken to be exclusive, as in a multi-platform lock).
    """
    issues: list[LintIssue] = []
    for entry in lock.entries:
        if entry.url is None and not entry.editable and entry.pinned_version is None:
            spec = str(entry.specifier) or " (no version)"
            issues.append(
                LintIssue(
                    entry.source,
                    "unpinned",
                    f"{entry.raw_name}{spec} is not pinned: a lock pins with ==VERSION",
                )
            )

    hashed = [entry for entry in lock.entries if entry.hashes]
    if hashed or lock.options.require_hashes:
        why = (
            f"{len(hashed)} other entries have --hash"
            if hashed
            else "the lock says --require-hashes"
        )
        for entry in lock.entries:
            if entry.hashes:
                continue
            if entry.editable:
                message = f"editable {entry.raw_name} cannot be installed when hashes are required"
            else:
                message = f"{entry.raw_name} has no --hash, but {why}: pip will refuse to install"
            issues.append(LintIssue(entry.source, "hashes", message))

    seen: dict[tuple[NormalizedName, str], LockEntry] = {}
    for entry in lock.entries:
        key = (entry.name, str(entry.marker) if entry.marker is not None else "")
        first = seen.setdefault(key, entry)
        if first is entry:
            continue
        first_pin, pin = first.comparable_pin, entry.comparable_pin
        if first_pin is not None and pin is not None and first_pin != pin:
            issues.append(
                LintIssue(
                    entry.source,
                    "duplicate",
                    f"{entry.raw_name} is pinned to {entry.pinned_version} here "
                    f"and to {first.pinned_version} at {first.source}",
                )
            )
        elif first.url and entry.url and first.url != entry.url:
            issues.append(
                LintIssue(
                    entry.source,
                    "duplicate",
                    f"{entry.raw_name} comes from {entry.url} here and from {first.url} "
                    f"at {first.source}",
                )
            )
    return issues


# --------------------------------------------------------------------------------------------
# Lock vs target


def environment_problems(lock: Lock, environment: Mapping[str, str]) -> list[str]:
    """Why *lock* was not made for a target with marker *environment* ([] if it may be)."""
    problems: list[str] = []
    header = lock.header
    full_version = environment.get("python_full_version")
    if header.requires_python and full_version:
        try:
            ok = SpecifierSet(header.requires_python).contains(full_version, prereleases=True)
        except (InvalidSpecifier, InvalidVersion):
            ok = True
        if not ok:
            problems.append(
                f"the target's Python {full_version} is outside the lock's "
                f"requires-python {header.requires_python}"
            )
    if header.environments:
        holds = False
        for text in header.environments:
            try:
                holds = Marker(text).evaluate(dict(environment), "requirement")
            except (InvalidMarker, UndefinedComparison, UndefinedEnvironmentName):
                holds = False
            if holds:
                break
        if not holds:
            problems.append("the target matches none of the lock's environments")
    return problems


def requirements_of(dist: InstalledDist) -> Iterator[Requirement]:
    """``dist``'s requirements that parse (pip skips the others too)."""
    for line in dist.requires:
        requirement = _requirement(line)
        if requirement is not None:
            yield requirement


def not_required(
    dists: Mapping[NormalizedName, InstalledDist], environment: Mapping[str, str]
) -> set[NormalizedName]:
    """Names no other installed package requires (pip list --not-required's rule: requirements
    that apply without extras)."""
    required = {
        canonicalize_name(req.name)
        for dist in dists.values()
        for req in requirements_of(dist)
        if marker_holds(req.marker, environment)
    }
    return {name for name in dists if name not in required}

"""The installed dependency graph: who requires whom, for ``tree`` and ``why``.

:func:`build` turns the target's :class:`InstalledDist` records into a :class:`Graph` with
pipdeptree's edges (its default ``--extras explicit`` mode), so ``pipkit tree`` and
``pipdeptree`` agree edge for edge on the same environment:

* a ``Requires-Dist`` line is an edge when its marker holds for the target
  (:func:`pipkit.core.model.marker_holds`) with no extra, or with one of the extras some
  installed package asks of this one (``app`` requiring ``lib[fast]`` makes ``lib``'s
  ``extra == "fast"`` lines count; to a fixpoint, as extras can ask for more extras);
* a line that holds with no extra and names a project that is not installed is a
  ``missing`` edge; one that only an extra brings is left out when its project is not
  installed (nothing records which extras were installed, and pipdeptree leaves it out too);
* an installed version the specifier refuses (pre-releases allowed, as ``pip check``) is a
  ``conflict``;
* each line is one edge, sorted by the required project (two lines for one project are
  two edges); ``required`` is the specifier as pipdeptree prints it (:func:`required_text`),
  or ``Any``.

:func:`tree` and :func:`reverse_tree` walk it into nested :class:`Node` trees (a cycle is shown
once: the repeated package is marked and not expanded again); :func:`chains` lists every path
from a set of roots down to one package, shortest first; :func:`lock_chains` does the same from
a lock's own graph (pip-compile's ``# via`` annotations) for a package that is not installed.

Pure: no I/O. Imports only the standard library, ``packaging`` and pipkit.core.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

from pipkit.core.health import _accepts, _requirement
from pipkit.core.model import InstalledDist, marker_holds

__all__ = ["Edge", "Graph", "Node", "build", "chains", "lock_chains", "reverse_tree", "tree"]

Status = Literal["ok", "missing", "conflict"]
ANY = "Any"

# The specifier part of a PEP 508 line: after the name and extras, before a marker or URL.
_SPEC_RE = re.compile(r"^\s*[A-Za-z0-9][A-Za-z0-9._-]*\s*(?:\[[^\]]*\])?\s*\(?(?P<spec>[^;@)]*)")


def required_text(line: str, requirement: Requirement) -> str:
    """The specifier as pipdeptree prints it, or ``Any``.

    Its clauses sorted by version (``1.*`` counts as ``1``), clauses of one version kept in
    the order written, no spaces: ``lib (<9 , >=1.0)`` is ``>=1.0,<9``.
    """
    if requirement.url or not requirement.specifier:
        return ANY
    match = _SPEC_RE.match(line)
    clauses = [c for c in re.sub(r"\s+", "", match.group("spec")).split(",") if c] if match else []
    from packaging.specifiers import InvalidSpecifier, Specifier, SpecifierSet
    from packaging.version import InvalidVersion, Version

    try:
        if not clauses or SpecifierSet(",".join(clauses)) != requirement.specifier:
            clauses = [str(s) for s in requirement.specifier]
        keys = [Version(Specifier(c).version.removesuffix(".*")) for c in clauses]
    except (InvalidSpecifier, InvalidVersion):
        return ",".join(clauses)  # an arbitrary (===) version: as written
    order = sorted(range(len(clauses)), key=lambda i: keys[i])
    return ",".join(clauses[i] for i in order)


@dataclass(frozen=True)
class Edge:
    """One requirement of an installed package, as it stands in the target."""

    parent: NormalizedName
    child: NormalizedName
    child_name: str  # as the installed child spells it (the normalized name when missing)
    required: str  # the specifier as written, or "Any"
    requirement: str  # the Requires-Dist line
    extra: str | None  # the extra of the parent that brings it, None for a base requirement
    installed: str | None  # the child's installed version, None when missing
    status: Status


@dataclass(frozen=True)
class Graph:
    """Installed packages and their edges (each parent's sorted by child name)."""

    dists: Mapping[NormalizedName, InstalledDist]
    edges: Mapping[NormalizedName, tuple[Edge, ...]]
    extras: Mapping[NormalizedName, frozenset[str]] = field(default_factory=dict)

    def parents(self, name: NormalizedName) -> list[Edge]:
        """The edges into ``name`` (who requires it), sorted by parent name."""
        found = [e for edges in self.edges.values() for e in edges if e.child == name]
        return sorted(found, key=lambda e: e.parent)

    def top_level(self) -> list[NormalizedName]:
        """Installed packages no other installed package requires, by name."""
        required = {e.child for edges in self.edges.values() for e in edges}
        return sorted(name for name in self.dists if name not in required)

    def roots(self) -> list[NormalizedName]:
        """The top-level packages, then one package of each cycle nothing outside requires
        (its smallest name), so every installed package is under some root."""
        roots = self.top_level()
        seen = _reachable(self, roots)
        for name in sorted(self.dists):
            if name not in seen:
                roots.append(name)
                seen |= _reachable(self, [name])
        return roots

    @property
    def problems(self) -> list[Edge]:
        return [e for edges in self.edges.values() for e in edges if e.status != "ok"]


def _reachable(graph: Graph, start: Iterable[NormalizedName]) -> set[NormalizedName]:
    seen: set[NormalizedName] = set()
    todo = list(start)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo += [e.child for e in graph.edges.get(name, ()) if e.status != "missing"]
    return seen


def _requested_extras(
    dists: Mapping[NormalizedName, InstalledDist], environment: Mapping[str, str]
) -> dict[NormalizedName, set[str]]:
    """The extras each installed package is asked for by the others, to a fixpoint."""
    extras: dict[NormalizedName, set[str]] = {name: set() for name in dists}
    changed = True
    while changed:
        changed = False
        for dist in dists.values():
            for line in dist.requires:
                requirement = _requirement(line)
                if requirement is None or not requirement.extras:
                    continue
                target = canonicalize_name(requirement.name)
                if target not in extras:
                    continue
                if not marker_holds(requirement.marker, environment, sorted(extras[dist.name])):
                    continue
                asked = {canonicalize_name(e) for e in requirement.extras}
                if not asked <= extras[target]:
                    extras[target] |= asked
                    changed = True
    return extras


def _extra_of(
    requirement: Requirement, environment: Mapping[str, str], extras: Iterable[str]
) -> tuple[bool, str | None]:
    """Whether the line applies, and the extra that makes it (None: it holds without)."""
    if marker_holds(requirement.marker, environment):
        return True, None
    for extra in sorted(extras):
        if marker_holds(requirement.marker, environment, (extra,)):
            return True, extra
    return False, None


def build(installed: Sequence[InstalledDist], environment: Mapping[str, str]) -> Graph:
    """The dependency graph of *installed* for a target with marker *environment*."""
    dists: dict[NormalizedName, InstalledDist] = {}
    for dist in installed:
        dists.setdefault(dist.name, dist)  # the first copy on sys.path is the one imported
    extras = _requested_extras(dists, environment)
    edges: dict[NormalizedName, tuple[Edge, ...]] = {}
    for name, dist in dists.items():
        found: list[Edge] = []
        for line in dist.requires:
            requirement = _requirement(line)
            if requirement is None:
                continue  # broken metadata: pip check and pipdeptree skip it too
            applies, extra = _extra_of(requirement, environment, extras[name])
            if not applies:
                continue
            child_name = canonicalize_name(requirement.name)
            child = dists.get(child_name)
            if child is None and extra is not None:
                continue
            status: Status = "ok"
            if child is None:
                status = "missing"
            elif not _accepts(requirement.specifier, child.version):
                status = "conflict"
            found.append(
                Edge(
                    parent=name,
                    child=child_name,
                    child_name=child.raw_name if child is not None else child_name,
                    required=required_text(line, requirement),
                    requirement=line,
                    extra=extra,
                    installed=child.version if child is not None else None,
                    status=status,
                )
            )
        edges[name] = tuple(sorted(found, key=lambda e: e.child))
    return Graph(dists, edges, {n: frozenset(e) for n, e in extras.items()})


# --------------------------------------------------------------------------------------------
# Trees


@dataclass(frozen=True)
class Node:
    """A package in a tree; ``edge`` is how its parent requires it (None for a root).

    In a reverse tree the children are the packages that require this one, and each child's
    ``edge`` is that requirement (its ``parent`` is the child).
    """

    name: NormalizedName
    package_name: str
    version: str | None  # None: not installed
    edge: Edge | None = None
    children: tuple[Node, ...] = ()
    cycle: bool = False  # already on the path above: not expanded again
    truncated: bool = False  # has children, cut by --depth

    def to_json(self, *, reverse: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "package_name": self.package_name,
            "installed_version": self.version,
        }
        if self.edge is not None:
            data.update(
                {
                    "required_version": self.edge.required,
                    "requirement": self.edge.requirement,
                    "extra": self.edge.extra,
                    "status": self.edge.status,
                    "cycle": self.cycle,
                }
            )
        data["truncated"] = self.truncated
        key = "required_by" if reverse else "dependencies"
        data[key] = [child.to_json(reverse=reverse) for child in self.children]
        return data


def _limit(depth: int | None, level: int) -> bool:
    return depth is not None and level >= depth


def tree(graph: Graph, roots: Sequence[NormalizedName], *, depth: int | None = None) -> list[Node]:
    """Each root with what it requires, recursively; a package already on the path is
    marked ``cycle`` and not expanded; below ``depth`` levels children are cut."""

    def expand(name: NormalizedName, edge: Edge | None, path: frozenset[str], level: int) -> Node:
        dist = graph.dists.get(name)
        package_name = dist.raw_name if dist is not None else name
        version = dist.version if dist is not None else None
        if name in path:
            return Node(name, package_name, version, edge, cycle=True)
        below = graph.edges.get(name, ()) if dist is not None else ()
        if _limit(depth, level):
            return Node(name, package_name, version, edge, truncated=bool(below))
        inner = path | {name}
        children = tuple(expand(e.child, e, inner, level + 1) for e in below)
        return Node(name, package_name, version, edge, children)

    return [expand(root, None, frozenset(), 0) for root in roots]


def leaves(graph: Graph) -> list[NormalizedName]:
    """What a reverse tree starts from: packages that require nothing installed (and the
    missing projects something requires), by name."""
    missing = {e.child for e in graph.problems if e.status == "missing"}
    bottom = [
        name
        for name in graph.dists
        if not any(e.status != "missing" for e in graph.edges.get(name, ()))
    ]
    return sorted({*bottom, *missing})


def reverse_tree(
    graph: Graph, roots: Sequence[NormalizedName], *, depth: int | None = None
) -> list[Node]:
    """Each root with the packages that require it, recursively (cycles shown once)."""
    parents: dict[NormalizedName, list[Edge]] = {}
    for edges in graph.edges.values():
        for edge in edges:
            parents.setdefault(edge.child, []).append(edge)

    def expand(name: NormalizedName, edge: Edge | None, path: frozenset[str], level: int) -> Node:
        dist = graph.dists.get(name)
        package_name = dist.raw_name if dist is not None else name
        version = dist.version if dist is not None else None
        if name in path:
            return Node(name, package_name, version, edge, cycle=True)
        above = sorted(parents.get(name, ()), key=lambda e: e.parent)
        if _limit(depth, level):
            return Node(name, package_name, version, edge, truncated=bool(above))
        inner = path | {name}
        children = tuple(expand(e.parent, e, inner, level + 1) for e in above)
        return Node(name, package_name, version, edge, children)

    return [expand(root, None, frozenset(), 0) for root in roots]


# --------------------------------------------------------------------------------------------
# Chains (why)


def chains(
    graph: Graph, roots: Iterable[NormalizedName], target: NormalizedName, *, limit: int = 1000
) -> tuple[list[tuple[Edge, ...]], bool]:
    """Every path (no package twice) from one of *roots* down to *target*, shortest first
    (then by names); at most *limit* of them, and whether more were left out."""
    found: list[tuple[Edge, ...]] = []
    more = False
    # Only packages that lead to the target are worth walking into.
    leads: set[NormalizedName] = {target}
    todo = [target]
    while todo:
        name = todo.pop()
        for edge in graph.parents(name):
            if edge.parent not in leads:
                leads.add(edge.parent)
                todo.append(edge.parent)

    def walk(name: NormalizedName, path: list[Edge], seen: set[NormalizedName]) -> None:
        nonlocal more
        for edge in graph.edges.get(name, ()):
            if edge.child in seen:
                continue
            if edge.child == target:
                if len(found) >= limit:
                    more = True
                    return
                found.append((*path, edge))
                continue
            if edge.status == "missing" or edge.child not in leads:
                continue
            seen.add(edge.child)
            walk(edge.child, [*path, edge], seen)
            seen.discard(edge.child)
            if more:
                return

    for root in sorted(set(roots)):
        if root != target and root in graph.dists:
            walk(root, [], {root})
    found.sort(key=lambda path: (len(path), [(e.parent, e.child) for e in path]))
    return found, more


# --------------------------------------------------------------------------------------------
# Chains from a lock's own graph (why, for a package only the lock has)


def lock_chains(
    via: Mapping[NormalizedName, Sequence[str]], target: NormalizedName, *, limit: int = 100
) -> tuple[list[tuple[str, ...]], bool]:
    """Every chain a lock's ``# via`` annotations give from an input down to *target*: the
    input first (``requirements.in`` for ``-r requirements.in``, ``proj (pyproject.toml)`` as
    written), then package names, *target* last; shortest first (then by names), at most
    *limit*, and whether more were left out. ``-c FILE`` only constrains: no chain starts
    there. A package named twice on a path (a cycle) ends that path."""
    found: list[tuple[str, ...]] = []
    more = False

    def up(name: NormalizedName, path: list[str], seen: set[NormalizedName]) -> None:
        nonlocal more
        for item in via.get(name, ()):
            if more:
                return
            if item.startswith("-c"):
                continue
            if item.startswith("-r") or " (" in item:
                if len(found) >= limit:
                    more = True
                    return
                root = item[2:].strip() if item.startswith("-r") else item
                found.append((root, *reversed(path)))
                continue
            parent = canonicalize_name(item.split("[", 1)[0].strip())
            if parent in seen:
                continue
            up(parent, [*path, parent], seen | {parent})

    up(target, [target], {target})
    found.sort(key=lambda chain: (len(chain), chain))
    return found, more

"""``pipkit tree`` and ``pipkit why``: the installed dependency graph, down and up.

* :func:`tree` walks the target's graph (:mod:`pipkit.core.graph`, pipdeptree's edges) from
  the top-level packages, or from the packages named, down to what they require; with
  ``reverse`` from each package up to what requires it.
* :func:`why` lists every chain from a root down to one package, shortest first: the roots
  are the lock's inputs when a lock is given or found (``requirements.txt`` / ``pylock.toml``
  here, its ``requirements.in`` / ``pyproject.toml``), else the top-level packages. For a
  package only the lock has, the chains come from the lock's own graph (pip-compile's
  ``# via`` lines, or a pylock's package ``dependencies``), or it says the lock has none.

Never prints. Imports pipkit.core, pipkit.env and pipkit.errors.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import NormalizedName, canonicalize_name

from pipkit.core.graph import Edge, Graph, Node, build, chains, leaves, reverse_tree
from pipkit.core.graph import tree as down
from pipkit.env.dists import iter_distributions
from pipkit.env.target import Target
from pipkit.errors import UsageError

__all__ = ["TreeResult", "WhyResult", "graph_of", "tree", "why"]


def graph_of(target: Target) -> Graph:
    """The target's dependency graph, now."""
    return build(list(iter_distributions(target.sys_path)), target.marker_env)


def _names(graph: Graph, packages: Sequence[str], *, reverse: bool) -> list[NormalizedName]:
    wanted: list[NormalizedName] = []
    missing = {e.child for e in graph.problems if e.status == "missing"}
    for package in packages:
        name = canonicalize_name(package.split("[", 1)[0].strip())
        if name not in graph.dists and not (reverse and name in missing):
            raise UsageError(f"{package}: not installed in the target")
        if name not in wanted:
            wanted.append(name)
    return wanted


@dataclass(frozen=True)
class TreeResult:
    """``pipkit tree``'s answer: the trees, and the unmet requirements they show."""

    roots: tuple[Node, ...]
    reverse: bool
    problems: tuple[Edge, ...]  # the missing or conflicting requirements the trees show

    def to_json(self) -> list[dict[str, Any]]:
        return [root.to_json(reverse=self.reverse) for root in self.roots]


def _unmet(nodes: Sequence[Node]) -> tuple[Edge, ...]:
    """The missing or conflicting requirements the trees show, each once, in graph order."""
    found: dict[Edge, None] = {}
    todo = list(nodes)
    while todo:
        node = todo.pop()
        if node.edge is not None and node.edge.status != "ok":
            found[node.edge] = None
        todo += node.children
    return tuple(sorted(found, key=lambda e: (e.parent, e.child, e.requirement)))


def tree(
    target: Target,
    packages: Sequence[str] = (),
    *,
    reverse: bool = False,
    depth: int | None = None,
) -> TreeResult:
    """The dependency tree of *packages* (default: every top-level package, then one package
    of each cycle nothing else requires), or with ``reverse`` what requires them (default:
    from every package that requires nothing, and every missing one)."""
    if depth is not None and depth < 0:
        raise UsageError(f"--depth {depth}: must be 0 or more")
    graph = graph_of(target)
    roots = _names(graph, packages, reverse=reverse)
    if reverse:
        nodes = reverse_tree(graph, roots or leaves(graph), depth=depth)
    else:
        nodes = down(graph, roots or graph.roots(), depth=depth)
    return TreeResult(tuple(nodes), reverse, _unmet(nodes))


# -- why --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WhyResult:
    """``pipkit why PKG``: the chains that pull PKG in, and what is known about it."""

    name: NormalizedName
    package_name: str
    installed: str | None  # its installed version, None when not installed
    chains: tuple[tuple[Edge, ...], ...]
    roots_from: str  # "top-level packages", or the lock inputs read ("requirements.in")
    top_level: bool  # installed, and nothing installed requires it
    is_root: bool  # one of the roots itself (a lock input)
    in_lock: str | None = None  # where the lock pins it ("requirements.txt:3")
    lock: str | None = None  # the lock read, if any
    more: bool = False  # chains were left out (too many)
    # Only the lock has it: its pin, and the chains the lock's own graph gives (input first,
    # names down to PKG); lock_graph False when the lock carries no graph, None: not asked.
    locked_version: str | None = None
    lock_chains: tuple[tuple[str, ...], ...] = ()
    lock_graph: bool | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "package_name": self.package_name,
            "installed_version": self.installed,
            "top_level": self.top_level,
            "is_root": self.is_root,
            "roots_from": self.roots_from,
            "lock": self.lock,
            "in_lock": self.in_lock,
            "chains": [
                [
                    {
                        "name": edge.child,
                        "package_name": edge.child_name,
                        "required_by": edge.parent,
                        "required_version": edge.required,
                        "extra": edge.extra,
                        "installed_version": edge.installed,
                        "status": edge.status,
                    }
                    for edge in chain
                ]
                for chain in self.chains
            ],
            "truncated": self.more,
            "locked_version": self.locked_version,
            "lock_graph": self.lock_graph,
            "lock_chains": [list(chain) for chain in self.lock_chains],
        }


def _lock_roots(lock_path: Path) -> tuple[list[NormalizedName], str] | None:
    """The names the lock's inputs ask for, and which inputs; None when none are found."""
    from pipkit.core.inputs import find_inputs, read_inputs, spec_from_header
    from pipkit.core.lockfile import read_lock

    lock = read_lock(lock_path)
    spec = spec_from_header(lock.header.command, lock_path)
    paths = [p for p in (spec.inputs if spec else ()) if os.path.isfile(p)]
    if not paths:
        found = find_inputs(lock_path.parent)
        if found is None:
            return None
        paths = [str(found)]
    inputs = read_inputs(paths, extras=spec.extras or () if spec else ())
    return sorted(inputs.names), ", ".join(paths)


def _lock_via(
    lock_path: Path, roots: tuple[list[NormalizedName], str] | None
) -> dict[NormalizedName, tuple[str, ...]] | None:
    """The lock's own graph, in ``# via`` form (child -> why: parent names, ``-r INPUT``);
    None when the lock carries none. A requirements lock has pip-compile's annotations; a
    pylock.toml may list each package's ``dependencies`` (PEP 751), its roots then being the
    lock's inputs when found, else the packages nothing in it depends on."""
    from pipkit.core.lockfile import is_pylock

    if not is_pylock(lock_path):
        from pipkit.core.reqfile import read_via

        return read_via(lock_path) or None
    import tomllib

    try:
        data = tomllib.loads(lock_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    packages = [p for p in data.get("packages", ()) if isinstance(p, dict) and "name" in p]
    if not any("dependencies" in p for p in packages):
        return None
    via: dict[NormalizedName, list[str]] = {}
    for package in packages:
        for dep in package.get("dependencies") or ():
            if isinstance(dep, dict) and isinstance(dep.get("name"), str):
                via.setdefault(canonicalize_name(dep["name"]), []).append(str(package["name"]))
    names = [canonicalize_name(str(p["name"])) for p in packages]
    if roots is not None:
        top, label = roots
    else:
        top, label = [n for n in names if n not in via], lock_path.name
    for name in top:
        via.setdefault(name, []).append(f"-r {label}")
    return {name: tuple(items) for name, items in via.items()}


def why(
    target: Target, package: str, *, lock: str | None = None, cwd: str | None = None
) -> WhyResult:
    """Why *package* is installed: every chain down to it from the lock's inputs (the lock
    named, else ``requirements.txt`` / ``pylock.toml`` here when there is one, and its
    inputs can be found), else from the top-level packages."""
    from pipkit.core.lockfile import default_lock_path

    name = canonicalize_name(package.split("[", 1)[0].strip())
    if not name:
        raise UsageError(f"{package!r}: not a package name")
    graph = graph_of(target)
    here = cwd or os.getcwd()
    lock_path: Path | None = None
    if lock is not None:
        lock_path = Path(lock) if os.path.isabs(lock) else Path(here) / lock
        if not lock_path.is_file():
            raise UsageError(f"{lock}: no such lock file")
    else:
        try:
            lock_path = default_lock_path(here)
        except UsageError:
            lock_path = None
    roots: list[NormalizedName] = graph.roots()
    roots_from = "top-level packages"
    in_lock: str | None = None
    locked: str | None = None
    lock_via: dict[NormalizedName, tuple[str, ...]] | None = None
    if lock_path is not None:
        from pipkit.core.lockfile import read_lock
        from pipkit.errors import PipkitError

        try:
            read = read_lock(lock_path, cwd=str(lock_path.parent))
            entry = next((e for e in read.entries if e.name == name), None)
            in_lock = entry.source if entry is not None else None
            locked = entry.pinned_version if entry is not None else None
            found = _lock_roots(lock_path)
            if entry is not None and name not in graph.dists:
                lock_via = _lock_via(lock_path, found) or {}
        except PipkitError:
            if lock is not None:
                raise  # the lock asked for must be readable
            found, lock_path = None, None  # one found here that is not a lock: ignore it
        if found is not None:
            roots, roots_from = found
    dist = graph.dists.get(name)
    found_chains, more = chains(graph, roots, name) if dist is not None else ([], False)
    from_lock: list[tuple[str, ...]] = []
    if lock_via:
        from pipkit.core.graph import lock_chains

        from_lock, more = lock_chains(lock_via, name)
    return WhyResult(
        name=name,
        package_name=dist.raw_name if dist is not None else package,
        installed=dist.version if dist is not None else None,
        chains=tuple(found_chains),
        roots_from=roots_from,
        top_level=dist is not None and name in graph.top_level(),
        is_root=name in roots,
        in_lock=in_lock,
        lock=str(lock_path) if lock_path is not None else None,
        more=more,
        locked_version=locked,
        lock_chains=tuple(from_lock),
        lock_graph=None if lock_via is None else bool(lock_via),
    )

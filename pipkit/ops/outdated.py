"""``pipkit outdated [LOCK]``: the pins of a lock that have newer releases, and whether the
lock's inputs let ``pipkit lock -P NAME`` take them.

* **The lock** is the one named, else the one ``check`` takes (``requirements.txt``, else
  ``pylock.toml``: :data:`pipkit.core.defaults.DEFAULT_LOCK_NAMES`). Only index pins whose
  marker holds for the target are asked about; direct URLs, editables and unpinned lines
  are listed as skipped.
* **Latest** is :func:`pipkit.env.index.latest_releases`, the rule ``pip list --outdated``
  already uses: pip's configuration for the target plus the lock's own index options (as
  ``lock`` resolves), one request per project per source in a bounded pool, files whose
  Requires-Python excludes the target's Python and yanked files are no candidates. A
  pre-release counts only with ``pre``, or when the pin is itself a pre-release (its
  specifier ``==1.0b1`` admits pre-releases, as pip reads it).
* **Allowed** says whether the newer version fits what the lock was made from: the inputs the
  lock's header names (else ``requirements.in`` / ``pyproject.toml`` beside it), their
  constraints, and the requirements of the other pins as installed in the target (``lock -P``
  keeps them where they are). ``no inputs`` when none are found: nothing to judge by.

Never prints: progress goes to the ``progress(done, total)`` callback. Imports pipkit.core,
pipkit.env, pipkit.ops and pipkit.errors.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import NormalizedName

from pipkit.core.model import LockEntry
from pipkit.env.target import Target
from pipkit.errors import UsageError

__all__ = ["OutdatedResult", "OutdatedRow", "outdated"]

YES, NO, NO_INPUTS = "yes", "no", "no inputs"


@dataclass(frozen=True)
class OutdatedRow:
    """One pin with a newer release."""

    name: NormalizedName
    package_name: str  # as the lock spells it
    locked: str
    latest: str
    bump: str  # "major", "minor", "patch" or "other" (core.lockdiff.bump)
    filetype: str  # "wheel" or "sdist": what pip would take for the latest
    allowed: str  # "yes", "no" or "no inputs"
    blocked_by: str | None = None  # when not allowed: the requirement that refuses it

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "package_name": self.package_name,
            "locked": self.locked,
            "latest": self.latest,
            "bump": self.bump,
            "latest_filetype": self.filetype,
            "allowed": self.allowed,
            "blocked_by": self.blocked_by,
        }


@dataclass(frozen=True)
class OutdatedResult:
    """``pipkit outdated``'s answer."""

    lock: str
    inputs: str | None  # the inputs judged against ("requirements.in"), None when none
    checked: int  # how many pins were looked up
    rows: tuple[OutdatedRow, ...]
    not_found: tuple[str, ...] = ()  # pins no configured source lists
    skipped: tuple[str, ...] = ()  # lines that pin no index release (URL, editable, unpinned)

    def to_json(self) -> dict[str, Any]:
        return {
            "lock": self.lock,
            "inputs": self.inputs,
            "checked": self.checked,
            "outdated": [row.to_json() for row in self.rows],
            "not_found": list(self.not_found),
            "skipped": list(self.skipped),
        }


def _lock_path(lock: str | None, here: str) -> Path:
    from pipkit.core.lockfile import default_lock_path

    if lock is None:
        return default_lock_path(here)
    path = Path(lock) if os.path.isabs(lock) else Path(here) / lock
    if not path.is_file():
        raise UsageError(f"{lock}: no such lock file")
    return path


def _inputs_of(lock_path: Path, header_command: str | None) -> tuple[list[LockEntry], str] | None:
    """The input requirements and constraints the lock was made from, and their names."""
    from pipkit.core.inputs import find_inputs, read_inputs, spec_from_header

    spec = spec_from_header(header_command, lock_path)
    paths = [p for p in (spec.inputs if spec else ()) if os.path.isfile(p)]
    if not paths:
        found = find_inputs(lock_path.parent)
        if found is None:
            return None
        paths = [str(found)]
    # As the user names them (relative to the working directory): the messages quote them.
    paths = [os.path.relpath(p) if os.path.isabs(p) else p for p in paths]
    inputs = read_inputs(
        paths,
        extras=(spec.extras or ()) if spec else (),
        all_extras=bool(spec.all_extras) if spec else False,
    )
    return [*inputs.requirements, *inputs.constraints], ", ".join(paths)


def _blocker(
    name: NormalizedName,
    latest: str,
    inputs: Sequence[LockEntry],
    dependents: Sequence[tuple[str, str]],
    environment: dict[str, str],
) -> str | None:
    """What refuses ``latest`` for ``name``: an input line, or an installed pin's requirement."""
    from packaging.requirements import InvalidRequirement, Requirement

    for entry in inputs:
        if entry.name != name or not entry.applies(environment) or entry.url:
            continue
        if not entry.specifier.contains(latest, prereleases=True):
            return f"{entry.source}: {entry.raw_name}{entry.specifier}"
    for parent, line in dependents:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if not requirement.specifier.contains(latest, prereleases=True):
            return f"{parent} requires {requirement.name}{requirement.specifier}"
    return None


def outdated(
    target: Target,
    lock: str | None = None,
    *,
    pre: bool = False,
    cwd: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> OutdatedResult:
    """Each pin of the lock with a newer release the target can install (see the module)."""
    from packaging.version import InvalidVersion, Version

    from pipkit.core.lockdiff import bump
    from pipkit.core.lockfile import read_lock
    from pipkit.env.index import latest_releases
    from pipkit.ops.lock import _index_config
    from pipkit.ops.tree import graph_of

    here = cwd or os.getcwd()
    lock_path = _lock_path(lock, here)
    read = read_lock(lock_path, cwd=str(lock_path.parent))
    environment = target.marker_env
    pins: dict[NormalizedName, LockEntry] = {}
    skipped: list[str] = []
    for entry in read.applicable(environment):
        if entry.url or entry.editable or entry.pinned_version is None:
            skipped.append(entry.raw_name)
        else:
            pins.setdefault(entry.name, entry)
    shown = os.path.relpath(lock_path, here) if lock is None else lock
    if not pins:
        return OutdatedResult(shown, None, 0, (), skipped=tuple(skipped))

    def prereleases(name: str) -> bool:
        if pre:
            return True
        try:
            return Version(pins[NormalizedName(name)].pinned_version or "").is_prerelease
        except InvalidVersion:
            return False

    names = sorted(pins)
    latest = latest_releases(
        names,
        _index_config(target, read.options),
        python_version=environment.get("python_full_version"),
        prereleases=prereleases,
        progress=progress,
    )
    found_inputs = _inputs_of(lock_path, read.header.command)
    inputs, inputs_from = found_inputs if found_inputs is not None else ([], None)
    graph = graph_of(target) if found_inputs is not None else None
    rows: list[OutdatedRow] = []
    not_found: list[str] = []
    for name in names:
        entry = pins[name]
        locked = entry.pinned_version or ""
        answer = latest.get(name)
        if answer is None:
            not_found.append(entry.raw_name)
            continue
        newest, filetype = answer
        try:
            if newest <= Version(locked):
                continue
        except InvalidVersion:
            continue
        allowed, blocked_by = NO_INPUTS, None
        if graph is not None:
            # lock -P NAME keeps the other pins: their requirements (read from the target,
            # when it has them at the locked version) bound NAME too.
            dependents = [
                (f"{edge.parent} {graph.dists[edge.parent].version}", edge.requirement)
                for edge in graph.parents(name)
                if edge.parent in pins
                and _same(graph.dists[edge.parent].version, pins[edge.parent])
            ]
            blocked_by = _blocker(name, str(newest), inputs, dependents, environment)
            allowed = NO if blocked_by else YES
        rows.append(
            OutdatedRow(
                name=name,
                package_name=entry.raw_name,
                locked=locked,
                latest=str(newest),
                bump=bump(locked, str(newest))[0],
                filetype=filetype,
                allowed=allowed,
                blocked_by=blocked_by,
            )
        )
    return OutdatedResult(
        lock=shown,
        inputs=inputs_from,
        checked=len(names),
        rows=tuple(rows),
        not_found=tuple(not_found),
        skipped=tuple(skipped),
    )


def _same(installed: str, entry: LockEntry) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(installed) == entry.comparable_pin
    except InvalidVersion:
        return installed == entry.pinned_version

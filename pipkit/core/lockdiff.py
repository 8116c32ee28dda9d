"""How two package sets differ, for ``pipkit diff``: locks, history snapshots, the env.

Each side becomes a mapping of :class:`Item` by normalized name (:func:`from_lock`,
:func:`from_snapshot`); :func:`compare` says what was added, removed, changed (version or
origin; a version change is tagged ``major``/``minor``/``patch``/``other`` by :func:`bump`),
and, for a package whose version and origin stayed, whether its hashes or its marker
changed. A lock against the environment is :func:`from_check`: exactly what ``pipkit check``
found (:func:`pipkit.core.plan.compare`), in the same shape.

Pure: no I/O. Imports only the standard library, ``packaging`` and pipkit.core.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from packaging.utils import NormalizedName
from packaging.version import InvalidVersion, Version

from pipkit.core.model import InstalledDist, Lock, LockEntry
from pipkit.core.plan import CheckResult
from pipkit.core.snapshot import Snapshot, origin_of

__all__ = ["Changed", "Item", "LockDiff", "bump", "compare", "from_check", "from_lock"]

Kind = Literal["major", "minor", "patch", "other", "origin"]


@dataclass(frozen=True)
class Item:
    """One package on one side of a diff."""

    name: NormalizedName
    raw_name: str
    version: str | None  # None: a lock entry that pins no version (a URL, an editable)
    origin: str | None = None  # a direct URL or editable path; None: from an index
    editable: bool = False
    hashes: frozenset[str] = frozenset()
    marker: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "version": self.version}
        if self.origin is not None:
            data["origin"] = self.origin
        if self.editable:
            data["editable"] = True
        if self.marker is not None:
            data["marker"] = self.marker
        return data

    def describe(self) -> str:
        text = self.version or "(no version)"
        if self.origin:
            text += f" {'editable ' if self.editable else ''}from {self.origin}"
        return text


def from_lock(
    lock: Lock, environment: Mapping[str, str] | None = None
) -> dict[NormalizedName, Item]:
    """A lock's entries (only those that apply, when *environment* is given); the first entry
    of a project wins (a multi-platform lock pins one project once per marker)."""
    items: dict[NormalizedName, Item] = {}
    entries: Iterable[LockEntry] = (
        lock.entries if environment is None else lock.applicable(dict(environment))
    )
    for entry in entries:
        items.setdefault(
            entry.name,
            Item(
                name=entry.name,
                raw_name=entry.raw_name,
                version=entry.pinned_version,
                origin=entry.url,
                editable=entry.editable,
                hashes=frozenset(entry.hashes),
                marker=str(entry.marker) if entry.marker is not None else None,
            ),
        )
    return items


def from_snapshot(snap: Snapshot) -> dict[NormalizedName, Item]:
    """An installed set as the history keeps it."""
    return {
        name: Item(
            name=name, raw_name=p.name, version=p.version, origin=p.origin, editable=p.editable
        )
        for name, p in snap.items()
    }


def _installed_item(dist: InstalledDist) -> Item:
    return Item(
        name=dist.name,
        raw_name=dist.raw_name,
        version=dist.version,
        origin=origin_of(dist),
        editable=dist.editable,
    )


def _entry_item(entry: LockEntry) -> Item:
    return Item(
        name=entry.name,
        raw_name=entry.raw_name,
        version=entry.pinned_version,
        origin=entry.url,
        editable=entry.editable,
        hashes=frozenset(entry.hashes),
        marker=str(entry.marker) if entry.marker is not None else None,
    )


def _parse(text: str | None) -> Version | None:
    try:
        return Version(text) if text is not None else None
    except InvalidVersion:
        return None


def bump(before: str | None, after: str | None) -> tuple[Kind, str | None]:
    """How big a version change is (``major``: the first release number changed, ``minor``:
    the second, ``patch``: a later one, ``other``: only a pre/post/dev/local part, the epoch,
    or a version that does not parse) and its direction (``up``/``down``, None unknown)."""
    old, new = _parse(before), _parse(after)
    if old is None or new is None:
        return "other", None
    direction = "up" if new > old else "down" if new < old else None
    if old.epoch != new.epoch:
        return "other", direction
    width = max(len(old.release), len(new.release), 3)
    a = old.release + (0,) * (width - len(old.release))
    b = new.release + (0,) * (width - len(new.release))
    for index, (x, y) in enumerate(zip(a, b, strict=True)):
        if x != y:
            return ("major", "minor", "patch")[min(index, 2)], direction
    return "other", direction


@dataclass(frozen=True)
class Changed:
    """A package on both sides, at another version or from another origin."""

    before: Item
    after: Item
    kind: Kind
    direction: str | None  # "up", "down", None

    @property
    def name(self) -> NormalizedName:
        return self.after.name

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "before": self.before.to_json(),
            "after": self.after.to_json(),
            "kind": self.kind,
            "direction": self.direction,
        }


@dataclass(frozen=True)
class LockDiff:
    """What changed from side A to side B; each tuple sorted by name."""

    added: tuple[Item, ...] = ()
    removed: tuple[Item, ...] = ()
    changed: tuple[Changed, ...] = ()
    hashes: tuple[tuple[Item, Item], ...] = ()  # same version and origin, other hashes
    markers: tuple[tuple[Item, Item], ...] = ()  # same version and origin, another marker

    @property
    def same(self) -> bool:
        return not (self.added or self.removed or self.changed or self.hashes or self.markers)

    def to_json(self) -> dict[str, Any]:
        return {
            "same": self.same,
            "added": [item.to_json() for item in self.added],
            "removed": [item.to_json() for item in self.removed],
            "changed": [change.to_json() for change in self.changed],
            "hashes": [
                {
                    "name": b.name,
                    "version": b.version,
                    "before": sorted(a.hashes),
                    "after": sorted(b.hashes),
                }
                for a, b in self.hashes
            ],
            "markers": [
                {"name": b.name, "version": b.version, "before": a.marker, "after": b.marker}
                for a, b in self.markers
            ],
        }


def _change(before: Item, after: Item) -> Changed | None:
    if (before.origin, before.editable) != (after.origin, after.editable):
        return Changed(before, after, "origin", bump(before.version, after.version)[1])
    if before.version == after.version:
        return None
    old, new = _parse(before.version), _parse(after.version)
    if old is not None and new is not None and old == new:
        return None  # 1.0 and 1.0.0 are one version
    kind, direction = bump(before.version, after.version)
    return Changed(before, after, kind, direction)


def compare(
    a: Mapping[NormalizedName, Item],
    b: Mapping[NormalizedName, Item],
    *,
    unlisted: Iterable[str] = (),
    both_locks: bool = False,
) -> LockDiff:
    """What changed from *a* to *b*. Names in *unlisted* are left out where only one side
    has them (what ``check`` never calls extra: pip, and pipkit's own closure); markers are
    compared when *both_locks* (an installed set has none)."""
    skip = set(unlisted)
    added = tuple(b[n] for n in sorted(b) if n not in a and n not in skip)
    removed = tuple(a[n] for n in sorted(a) if n not in b and n not in skip)
    changed: list[Changed] = []
    hashes: list[tuple[Item, Item]] = []
    markers: list[tuple[Item, Item]] = []
    for name in sorted(set(a) & set(b)):
        before, after = a[name], b[name]
        change = _change(before, after)
        if change is not None:
            changed.append(change)
            continue
        # An installed set records no hashes: only two locks can differ so.
        if before.hashes and after.hashes and before.hashes != after.hashes:
            hashes.append((before, after))
        if both_locks and before.marker != after.marker:
            markers.append((before, after))
    return LockDiff(added, removed, tuple(changed), tuple(hashes), tuple(markers))


def from_check(result: CheckResult, *, lock_first: bool) -> LockDiff:
    """``pipkit check``'s findings as a diff: from the lock to the env (``lock_first``), or
    from the env to the lock."""
    missing = tuple(_entry_item(e) for e in sorted(result.missing, key=lambda e: e.name))
    extra = tuple(_installed_item(d) for d in sorted(result.extra, key=lambda d: d.name))
    changed: list[Changed] = []
    for item in sorted(result.changed, key=lambda c: c.name):
        locked, have = _entry_item(item.entry), _installed_item(item.installed)
        before, after = (locked, have) if lock_first else (have, locked)
        if item.reason == "version":
            kind, direction = bump(before.version, after.version)
        else:
            kind, direction = "origin", bump(before.version, after.version)[1]
        changed.append(Changed(before, after, kind, direction))
    if lock_first:
        return LockDiff(added=extra, removed=missing, changed=tuple(changed))
    return LockDiff(added=missing, removed=extra, changed=tuple(changed))

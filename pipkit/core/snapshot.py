"""Snapshots: an environment's installed set as the history keeps it, and how two sets differ.

A :data:`Snapshot` maps each normalized name to a :class:`Pkg` (name as spelled, version, and
the origin of editables and direct-URL installs); :func:`diff` says what was added, removed and
changed between two. Pure value types, JSON in and out; the ledger
(:mod:`pipkit.env.ledger`) stores them, rollback and ``diff`` compare them.
Imports the standard library, ``packaging`` and pipkit.core.model only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import NormalizedName, canonicalize_name

from pipkit.core.model import InstalledDist


@dataclass(frozen=True)
class Pkg:
    """One installed distribution as the history records it."""

    name: str  # as its metadata spells it
    version: str
    origin: str | None = None  # URL of a direct-URL or editable install (pip's form)
    editable: bool = False

    @property
    def key(self) -> NormalizedName:
        return canonicalize_name(self.name)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "version": self.version}
        if self.origin is not None:
            data["origin"] = self.origin
        if self.editable:
            data["editable"] = True
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Pkg:
        return cls(
            name=str(data["name"]),
            version=str(data["version"]),
            origin=data.get("origin"),
            editable=bool(data.get("editable", False)),
        )

    def describe(self) -> str:
        """``1.0``, ``1.0 from URL``, ``1.0 editable PATH``."""
        if self.editable:
            return f"{self.version} editable {self.origin or ''}".rstrip()
        if self.origin:
            return f"{self.version} from {self.origin}"
        return self.version

    @property
    def pin(self) -> str:
        return f"{self.name}=={self.version}"


Snapshot = dict[NormalizedName, Pkg]


def origin_of(dist: InstalledDist) -> str | None:
    """The URL pip would be handed to reinstall ``dist`` from where it came from."""
    direct = dist.direct_url
    if direct is None:
        if dist.editable_location:  # legacy egg-link editable: its project folder
            return Path(dist.editable_location).as_uri()
        return None
    if direct.vcs and not direct.editable:
        url = f"{direct.vcs}+{direct.url}@{direct.commit_id or direct.requested_revision or ''}"
    else:
        url = direct.url
    if direct.subdirectory:
        url += f"#subdirectory={direct.subdirectory}"
    return url


def snapshot_of(dists: Mapping[NormalizedName, InstalledDist]) -> Snapshot:
    """The history's view of an installed set."""
    return {
        name: Pkg(
            name=dist.raw_name,
            version=dist.version,
            origin=origin_of(dist),
            editable=dist.editable or bool(dist.direct_url and dist.direct_url.editable),
        )
        for name, dist in sorted(dists.items())
    }


def dump(snap: Snapshot) -> str:
    return json.dumps([snap[name].to_json() for name in sorted(snap)], separators=(",", ":"))


def load(text: str | None) -> Snapshot | None:
    if text is None:
        return None
    pkgs = (Pkg.from_json(item) for item in json.loads(text))
    return {p.key: p for p in pkgs}


@dataclass(frozen=True)
class Diff:
    """How one installed set became another."""

    added: tuple[Pkg, ...] = ()
    removed: tuple[Pkg, ...] = ()
    changed: tuple[tuple[Pkg, Pkg], ...] = ()  # (before, after)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def to_json(self) -> dict[str, Any]:
        return {
            "added": [p.to_json() for p in self.added],
            "removed": [p.to_json() for p in self.removed],
            "changed": [{"before": a.to_json(), "after": b.to_json()} for a, b in self.changed],
        }


def diff(before: Snapshot, after: Snapshot) -> Diff:
    """What was added, removed and changed (version, origin or editable-ness) between two sets."""
    added = tuple(after[n] for n in sorted(after) if n not in before)
    removed = tuple(before[n] for n in sorted(before) if n not in after)
    changed = tuple(
        (before[n], after[n])
        for n in sorted(before)
        if n in after
        and (before[n].version, before[n].origin, before[n].editable)
        != (after[n].version, after[n].origin, after[n].editable)
    )
    return Diff(added, removed, changed)

"""``pipkit search NAME``: look a project up on the indexes pip is configured to use.

PyPI's search API is long gone (XML-RPC ``search`` is disabled) and private indexes rarely
have one, so this looks up one *name* through the Simple API every index serves
(:mod:`pipkit.env.index`): its versions, newest first, with yanked ones marked; the version
installed in the target, if any; and installed packages with similar names, which is where a
mistyped or half-remembered name usually lives. Name normalization (PEP 503) already makes
``Foo_Bar``, ``foo.bar`` and ``foo-bar`` the same project; other spellings are not guessed
at the index, because each guess would be one more request to it.

:func:`search_target` is the ``search`` command's one call. Never prints (rendering is
``pipkit.render``'s job), never runs subprocesses, never imports pip. Imports pipkit.env,
pipkit.core and pipkit.errors.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from packaging.utils import canonicalize_name

from pipkit.core.model import InstalledDist
from pipkit.env.index import SourceError, project_versions, unreachable_message
from pipkit.env.pipconfig import PipConfig
from pipkit.errors import OperationError

if TYPE_CHECKING:
    from pipkit.env.target import Target

# How many similar installed names to offer: enough to spot the one meant, few enough to read.
SIMILAR_LIMIT = 8
# difflib ratio above which two normalized names count as similar (difflib's own default).
SIMILAR_CUTOFF = 0.6
# A substring shorter than this ("py", "a") matches too much to mean anything.
MIN_SUBSTRING = 3


@dataclass(frozen=True)
class VersionEntry:
    """One version an index lists."""

    version: str
    yanked: bool
    yanked_reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "yanked": self.yanked}


@dataclass(frozen=True)
class SimilarDist:
    """An installed distribution whose name resembles the one looked up."""

    name: str  # as its metadata spells it
    version: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version}


@dataclass(frozen=True)
class SearchResult:
    """What ``pipkit search`` found for one name.

    ``to_json()`` keys (stable): ``name`` (PEP 503 normalized), ``found`` (whether any index or
    find-links location has the project), ``versions`` (newest first: ``{"version",
    "yanked"}``), ``latest`` (newest non-yanked final release, else newest non-yanked
    pre-release, else null), ``installed`` (the target's version or null),
    ``similar_installed`` (``{"name", "version"}`` of installed packages with similar names),
    ``indexes`` (every location consulted, credentials redacted) and ``unreachable``
    (``{"index", "reason"}`` for those that could not be consulted).
    """

    query: str  # as the user typed it
    name: str
    found: bool
    versions: tuple[VersionEntry, ...]
    latest: str | None
    installed: str | None
    similar_installed: tuple[SimilarDist, ...]
    indexes: tuple[str, ...]
    unreachable: tuple[SourceError, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "found": self.found,
            "versions": [v.to_json() for v in self.versions],
            "latest": self.latest,
            "installed": self.installed,
            "similar_installed": [s.to_json() for s in self.similar_installed],
            "indexes": list(self.indexes),
            "unreachable": [{"index": e.location, "reason": e.reason} for e in self.unreachable],
        }

    def not_found_error(self) -> OperationError:
        """The error ``pipkit search`` exits with when no index has the project."""
        message = f"{self.query}: not found on {', '.join(self.indexes)}"
        if self.unreachable:
            message += f"; {unreachable_message(self.unreachable)}"
        if self.installed is not None:
            message += f" (installed: {self.installed}, from elsewhere)"
        if self.similar_installed:
            names = ", ".join(s.name for s in self.similar_installed)
            message += f"; similar installed: {names}"
        return OperationError(message)


def find_project(name: str, config: PipConfig, installed: Sequence[InstalledDist]) -> SearchResult:
    """Look ``name`` up; a project no index has gives ``found == False``.

    Raises :class:`OperationError` only when no index could be consulted at all.
    """
    info = project_versions(name, config)
    installed_version = next((d.version for d in installed if d.name == info.name), None)
    latest = info.latest()
    return SearchResult(
        query=name,
        name=info.name,
        found=info.found,
        versions=tuple(
            VersionEntry(str(v.version), v.yanked, v.yanked_reason) for v in info.versions
        ),
        latest=str(latest) if latest is not None else None,
        installed=installed_version,
        similar_installed=similar_installed(name, installed),
        indexes=info.sources,
        unreachable=info.errors,
    )


def search_target(target: Target, name: str) -> SearchResult:
    """``pipkit search NAME`` for ``target``: pip's configuration as the target's pip reads it
    (pip.conf files, ``PIP_*``), and the target's installed packages."""
    import os

    from pipkit.env.dists import installed
    from pipkit.env.pipconfig import load_pip_config

    config = load_pip_config("install", site_prefix=target.prefix, environ=os.environ)
    return find_project(name, config, list(installed(target.sys_path).values()))


def search(name: str, config: PipConfig, installed: Sequence[InstalledDist]) -> SearchResult:
    """:func:`find_project`, raising :class:`OperationError` when no index has the project."""
    result = find_project(name, config, installed)
    if not result.found:
        raise result.not_found_error()
    return result


def similar_installed(
    name: str, installed: Sequence[InstalledDist], *, limit: int = SIMILAR_LIMIT
) -> tuple[SimilarDist, ...]:
    """Installed distributions named like ``name`` (not ``name`` itself), most similar first.

    Close matches (difflib, on normalized names) come first, then names that contain the
    query or are contained in it (``pytest`` -> ``pytest-cov``; ``flask-login`` -> ``flask``).
    """
    wanted = canonicalize_name(name)
    by_name: dict[str, InstalledDist] = {d.name: d for d in installed if d.name != wanted}
    close = difflib.get_close_matches(wanted, list(by_name), n=limit, cutoff=SIMILAR_CUTOFF)
    substring = sorted(
        other
        for other in by_name
        if (len(wanted) >= MIN_SUBSTRING and wanted in other)
        or (len(other) >= MIN_SUBSTRING and other in wanted)
    )
    names = list(dict.fromkeys([*close, *substring]))[:limit]
    return tuple(SimilarDist(by_name[n].raw_name, by_name[n].version) for n in names)

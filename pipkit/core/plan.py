"""What it takes to bring an environment in line with its lock: a pure :func:`diff`, and
:func:`check`, the same comparison reported as drift.

When an installed distribution satisfies a lock entry (:func:`mismatch`), decided the way uv's
``uv sync`` decides it (a *stateless* sync: the lock says where each package comes from):

* An index entry (no URL) needs the installed version to satisfy its specifier, compared by
  ``packaging`` (``==1.0`` accepts ``1.0.0``; ``==1.0`` accepts ``1.0+cpu`` as PEP 440 and pip
  do, ``==1.0+cpu`` needs exactly that; ``===`` compares the string) *and* an installed copy
  that did not come from a direct URL or an editable: ``foo==1.0`` installed from a git checkout
  is a different origin, so it is changed.
* A direct URL entry needs the installed ``direct_url.json`` to agree: same kind (editable or
  not), same local path for ``file:`` URLs (compared as normalized paths), same canonical URL
  for archives (scheme/host case, credentials and fragments ignored; ``#subdirectory`` compared
  on its own; a recorded archive hash must be among the lock's hashes), and for VCS URLs the
  same repository and, when the lock names a full commit, the same ``commit_id`` (a branch or tag
  must equal the recorded ``requested_revision``). A version the lock also gives must match.
  pipkit cannot see whether a local directory's contents changed (that needs a build), so a
  directory at the same path is in sync.
* An editable VCS entry is satisfied by an editable install of that project: pip records an
  editable VCS install as the checkout's directory, not the repository, so there is nothing
  more to compare; the checkout is the user's working copy and is not reinstalled.

Entries for the same project that apply together are merged (specifiers intersected, extras and
hashes united), so a lock may pin in one file and constrain in another; two different pins or
two different sources are an InputError at the second one. Constraints only narrow entries of
projects the lock already has: they never add a project.

Only the first installed copy of a project is compared (the one on sys.path first).

Pure: no I/O beyond path normalization. Imports only the standard library, ``packaging`` and
pipkit.core (model, checks), pipkit.errors.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote, urlsplit, urlunsplit

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion

from pipkit.core.health import Conflict, conflicts
from pipkit.core.model import InstalledDist, Lock, LockEntry, format_extras, marker_holds
from pipkit.errors import InputError

__all__ = [
    "NEVER_UNINSTALL",
    "PROTECTED",
    "Change",
    "CheckResult",
    "Plan",
    "compare",
    "describe_entry",
    "describe_installed",
    "diff",
    "effective_entries",
    "merge_entries",
    "mismatch",
]

# Never removed by a sync, even when the lock does not list them: they are how environments
# install things. (They are still changed when the lock pins them.) Callers add pipkit itself
# and its dependencies through ``keep`` when pipkit runs inside the target.
PROTECTED: frozenset[NormalizedName] = frozenset(
    {NormalizedName("pip"), NormalizedName("setuptools"), NormalizedName("wheel")}
)
# Never removed by `pipkit uninstall` without --force: removing pip strands the env.
NEVER_UNINSTALL: frozenset[NormalizedName] = frozenset({NormalizedName("pip")})


def pipkit_closure(
    dists: Mapping[NormalizedName, InstalledDist], environment: Mapping[str, str]
) -> set[NormalizedName]:
    """pipkit and everything it needs, as installed in ``dists``."""
    from pipkit.core.health import requirements_of

    todo = [NormalizedName("pipkit")]
    seen: set[NormalizedName] = set()
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen or name not in dists:
            continue
        seen.add(name)
        todo += [
            canonicalize_name(req.name)
            for req in requirements_of(dists[name])
            if marker_holds(req.marker, environment)
        ]
    return seen


def protected_names(
    dists: Mapping[NormalizedName, InstalledDist],
    environment: Mapping[str, str],
    *,
    runs_pipkit: bool,
) -> set[NormalizedName]:
    """What pipkit never removes from a target without being forced: pip, and pipkit with its
    dependencies when pipkit runs inside the target (``runs_pipkit``)."""
    names = set(NEVER_UNINSTALL)
    if runs_pipkit:
        names |= pipkit_closure(dists, environment)
    return names


Reason = Literal["version", "origin", "editable", "commit", "hash"]
_COMMIT_RE = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


@dataclass(frozen=True)
class Change:
    """An installed distribution that must be replaced to match its lock entry."""

    installed: InstalledDist
    entry: LockEntry
    reason: Reason

    @property
    def name(self) -> NormalizedName:
        return self.entry.name


@dataclass(frozen=True)
class Plan:
    """The result of :func:`diff`; every tuple sorted by project name."""

    install: tuple[LockEntry, ...] = ()  # locked, not installed
    remove: tuple[InstalledDist, ...] = ()  # installed, not locked, not protected or kept
    change: tuple[Change, ...] = ()  # installed, but not as locked
    unchanged: tuple[InstalledDist, ...] = ()  # installed exactly as locked
    protected: tuple[InstalledDist, ...] = ()  # installed, not locked, protected or kept

    @property
    def is_noop(self) -> bool:
        return not (self.install or self.remove or self.change)


# --------------------------------------------------------------------------------------------
# Merging entries


def _line(entry: LockEntry) -> str:
    """The requirement text for a merged entry (its marker already held, so none)."""
    if entry.editable:
        return entry.line.split(" ; ", 1)[0]
    extras = format_extras(entry.extras)
    if entry.url:
        return f"{entry.raw_name}{extras} @ {entry.url}"
    return f"{entry.raw_name}{extras}{entry.specifier}"


def _narrowed(first: LockEntry, second: LockEntry) -> SpecifierSet:
    """Both specifiers together; a pin that the other side allows stays a plain pin.

    (``beta>=1`` constrained by ``beta==1.0`` is ``==1.0``, still pinned, not ``==1.0,>=1``.)
    """
    combined = first.specifier & second.specifier
    for side in (first, second):
        pinned = side.pinned_version
        if pinned is None:
            continue
        try:
            allowed = combined.contains(pinned, prereleases=True)
        except (InvalidVersion, InvalidSpecifier):
            allowed = False
        if not allowed:
            other = second if side is first else first
            raise InputError(
                f"{side.raw_name}=={pinned} at {side.source} is excluded by "
                f"{other.raw_name}{other.specifier} at {other.source}",
                location=second.source,
            )
        return side.specifier
    return combined


def _merge_two(first: LockEntry, second: LockEntry, *, constraint: bool) -> LockEntry:
    first_pin, second_pin = first.comparable_pin, second.comparable_pin
    if first_pin is not None and second_pin is not None and first_pin != second_pin:
        raise InputError(
            f"{second.raw_name} is pinned to {second.pinned_version} here and to "
            f"{first.pinned_version} at {first.source}",
            location=second.source,
        )
    if first.url and second.url and _source_key(first.url) != _source_key(second.url):
        raise InputError(
            f"{second.raw_name} comes from {second.url} here and from {first.url} "
            f"at {first.source}",
            location=second.source,
        )
    base = first if first.url or not second.url else second
    merged = dataclasses.replace(
        base,
        specifier=_narrowed(first, second),
        extras=first.extras if constraint else first.extras | second.extras,
        marker=None,
        url=first.url or second.url,
        editable=first.editable or second.editable,
        hashes=tuple(dict.fromkeys(first.hashes + second.hashes)),
        source=first.source,
        raw_name=first.raw_name,
    )
    return dataclasses.replace(merged, line=_line(merged))


def merge_entries(
    entries: Iterable[LockEntry],
    constraints: Iterable[LockEntry] = (),
    *,
    strict: bool = True,
) -> tuple[LockEntry, ...]:
    """One entry per project: *entries* of the same name merged, *constraints* applied.

    Pass only entries and constraints that apply to the target (``LockEntry.applies``).
    A constraint for a project no entry names is dropped: constraints never add. Two entries
    that contradict each other (different pins or sources) raise InputError; with
    ``strict=False`` the first one stands instead (``check`` reports the contradiction as a
    lint warning and still compares, where ``sync`` refuses the lock).
    """
    merged: dict[NormalizedName, LockEntry] = {}
    for entry in entries:
        previous = merged.get(entry.name)
        if previous is None:
            merged[entry.name] = entry
            continue
        try:
            merged[entry.name] = _merge_two(previous, entry, constraint=False)
        except InputError:
            if strict:
                raise
    for constraint in constraints:
        previous = merged.get(constraint.name)
        if previous is not None:
            merged[constraint.name] = _merge_two(previous, constraint, constraint=True)
    return tuple(merged.values())


def effective_entries(
    lock: Lock, environment: Mapping[str, str], *, strict: bool = True
) -> tuple[LockEntry, ...]:
    """The lock's entries for a target with marker *environment*: applicable, merged and
    narrowed by the applicable constraints (``strict`` as in :func:`merge_entries`)."""
    env = dict(environment)
    return merge_entries(
        lock.applicable(env),
        (constraint for constraint in lock.constraints if constraint.applies(env)),
        strict=strict,
    )


# --------------------------------------------------------------------------------------------
# Comparing one installed distribution with one entry


def _local_path(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost"):
        return None
    return os.path.normpath(unquote(parts.path))


def _same_path(first: str, second: str) -> bool:
    if os.path.normpath(first) == os.path.normpath(second):
        return True
    return os.path.realpath(first) == os.path.realpath(second)


def _fragment_value(url: str, key: str) -> str | None:
    match = re.search(rf"[#&]{key}=([^&]*)", url)
    return match.group(1) if match else None


def _canonical_url(url: str) -> str:
    """A URL reduced to what names the same thing: no credentials, fragment or trailing slash,
    lower-case scheme and host, no ``.git`` suffix, case-folded GitHub paths (so VCS
    repositories compare as uv and cargo compare them)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    path = parts.path.rstrip("/")
    if path.endswith(".git"):
        path = path[: -len(".git")]
    if host.lower() == "github.com":
        path = path.lower()  # GitHub's owner/repository names are case-insensitive
    return urlunsplit((parts.scheme.lower(), host.lower(), path, parts.query, ""))


def _split_vcs(url: str) -> tuple[str, str, str | None]:
    """``git+https://h/r@rev#frag`` -> ("git", "https://h/r", "rev")."""
    vcs, _, rest = url.partition("+")
    rest = rest.split("#", 1)[0]
    parts = urlsplit(rest)
    revision: str | None = None
    if "@" in parts.path:
        path, _, revision = parts.path.rpartition("@")
        rest = urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))
    return vcs.lower(), rest, revision or None


def _is_vcs(url: str) -> bool:
    scheme = urlsplit(url).scheme.lower()
    return "+" in scheme and scheme.split("+", 1)[0] in ("git", "hg", "svn", "bzr")


def _source_key(url: str) -> str:
    local = _local_path(url.split("#", 1)[0])
    if local is not None:
        return local
    if _is_vcs(url):
        vcs, repository, revision = _split_vcs(url)
        return f"{vcs}+{_canonical_url(repository)}@{revision or ''}"
    return _canonical_url(url)


def _version_ok(entry: LockEntry, version: str) -> bool:
    if not entry.specifier:
        return True
    try:
        return entry.specifier.contains(version, prereleases=True)
    except (InvalidVersion, InvalidSpecifier):
        return False


def _url_mismatch(dist: InstalledDist, entry: LockEntry, url: str) -> Reason | None:
    direct = dist.direct_url
    installed_editable = dist.editable or bool(direct and direct.editable)
    if entry.editable != installed_editable:
        return "editable"
    if entry.editable:
        if _is_vcs(url):
            return None  # recorded as its checkout directory: nothing more to compare
        wanted = _local_path(url.split("#", 1)[0])
        have = dist.editable_location
        if direct is not None and _local_path(direct.url) is not None:
            have = _local_path(direct.url)
        if wanted is None or have is None or not _same_path(wanted, have):
            return "origin"
        return None
    if direct is None:
        return "origin"
    if _fragment_value(url, "subdirectory") != (direct.subdirectory or None):
        return "origin"
    if _is_vcs(url):
        vcs, repository, revision = _split_vcs(url)
        if direct.vcs != vcs or _canonical_url(repository) != _canonical_url(direct.url):
            return "origin"
        if revision is not None:
            if _COMMIT_RE.match(revision):
                if direct.commit_id != revision:
                    return "commit"
            elif direct.requested_revision != revision:
                return "commit"
        return None
    if direct.vcs:
        return "origin"
    wanted_path = _local_path(url.split("#", 1)[0])
    have_path = _local_path(direct.url)
    if wanted_path is not None or have_path is not None:
        if wanted_path is None or have_path is None or not _same_path(wanted_path, have_path):
            return "origin"
    elif _canonical_url(url) != _canonical_url(direct.url):
        return "origin"
    if entry.hashes and direct.archive_hash:
        algorithm, _, digest = direct.archive_hash.partition("=")
        if any(h.startswith(f"{algorithm}:") for h in entry.hashes) and (
            f"{algorithm}:{digest}" not in entry.hashes
        ):
            return "hash"
    return None


def mismatch(dist: InstalledDist, entry: LockEntry) -> Reason | None:
    """Why *dist* does not satisfy *entry* ("version", "origin", ...), or None if it does."""
    if entry.url:
        reason = _url_mismatch(dist, entry, entry.url)
        if reason is not None:
            return reason
    elif entry.editable or dist.editable or dist.direct_url is not None:
        return "origin"
    return None if _version_ok(entry, dist.version) else "version"


# --------------------------------------------------------------------------------------------
# The diff


def diff(
    installed: Sequence[InstalledDist],
    lock_entries: Sequence[LockEntry],
    *,
    keep: Iterable[str] = (),
    constraints: Sequence[LockEntry] = (),
) -> Plan:
    """What to install, remove and change so that *installed* matches *lock_entries*.

    *lock_entries* are the entries that apply to the target (``Lock.applicable``, or
    :func:`effective_entries`); entries of one project are merged, and *constraints* (also
    only those that apply) narrow them. *keep* names projects never to remove besides
    :data:`PROTECTED`.
    """
    kept = PROTECTED | {canonicalize_name(name) for name in keep}
    wanted = {entry.name: entry for entry in merge_entries(lock_entries, constraints)}
    present: dict[NormalizedName, InstalledDist] = {}
    for dist in installed:
        present.setdefault(dist.name, dist)

    install = [entry for name, entry in wanted.items() if name not in present]
    remove: list[InstalledDist] = []
    change: list[Change] = []
    unchanged: list[InstalledDist] = []
    protected: list[InstalledDist] = []
    for name, dist in present.items():
        entry = wanted.get(name)
        if entry is None:
            (protected if name in kept else remove).append(dist)
            continue
        reason = mismatch(dist, entry)
        if reason is None:
            unchanged.append(dist)
        else:
            change.append(Change(dist, entry, reason))

    return Plan(
        install=tuple(sorted(install, key=lambda e: e.name)),
        remove=tuple(sorted(remove, key=lambda d: d.name)),
        change=tuple(sorted(change, key=lambda c: c.name)),
        unchanged=tuple(sorted(unchanged, key=lambda d: d.name)),
        protected=tuple(sorted(protected, key=lambda d: d.name)),
    )


# --------------------------------------------------------------------------------------------
# check


def describe_installed(dist: InstalledDist) -> str:
    """``1.0``, ``1.0 from URL`` or ``1.0 editable from PATH``: what ``changed`` reports."""
    direct = dist.direct_url
    if dist.editable or (direct is not None and direct.editable):
        where = direct.url if direct is not None else dist.editable_location
        return f"{dist.version} editable from {where}"
    if direct is not None:
        return f"{dist.version} from {direct.origin}"
    return dist.version


def describe_entry(entry: LockEntry) -> str:
    """What a lock entry asks for, in the same terms as :func:`describe_installed`."""
    version = entry.pinned_version or (str(entry.specifier) if entry.specifier else "")
    if entry.url:
        kind = "editable from" if entry.editable else "from"
        return f"{version} {kind} {entry.url}".strip()
    return version or "any version"


@dataclass(frozen=True)
class CheckResult:
    """How an environment differs from its lock, and whether its dependencies hold.

    ``in_sync`` requires no drift *and* no conflicts: an environment that matches a lock whose
    own dependencies do not hold is not one pipkit calls healthy.
    """

    missing: tuple[LockEntry, ...] = ()
    extra: tuple[InstalledDist, ...] = ()
    changed: tuple[Change, ...] = ()
    conflicts: tuple[Conflict, ...] = ()

    @property
    def in_sync(self) -> bool:
        return not (self.missing or self.extra or self.changed or self.conflicts)

    def to_json(self) -> dict[str, Any]:
        """``{"in_sync", "missing", "extra", "changed", "conflicts"}``, names normalized, sorted."""
        return {
            "in_sync": self.in_sync,
            "missing": [
                {"name": entry.name, "version": entry.pinned_version}
                for entry in sorted(self.missing, key=lambda e: e.name)
            ],
            "extra": [
                {"name": dist.name, "version": dist.version}
                for dist in sorted(self.extra, key=lambda d: d.name)
            ],
            "changed": [
                {
                    "name": item.name,
                    "installed": describe_installed(item.installed),
                    "locked": describe_entry(item.entry),
                }
                for item in sorted(self.changed, key=lambda c: c.name)
            ],
            "conflicts": [
                conflict.to_json()
                for conflict in sorted(self.conflicts, key=lambda c: (c.name, c.requires))
            ],
        }


def compare(
    installed: Sequence[InstalledDist],
    lock: Lock,
    environment: Mapping[str, str],
    keep: Iterable[str] = (),
) -> CheckResult:
    """Compare *installed* with *lock* for a target with marker *environment*.

    Entries whose markers do not hold are left out; constraints only narrow; protected and
    kept projects are never "extra". Conflicts are :func:`pipkit.core.health.conflicts`.
    A project pinned twice at different versions is compared with its first pin (lint warns).
    """
    plan = diff(installed, effective_entries(lock, environment, strict=False), keep=keep)
    return CheckResult(
        missing=plan.install,
        extra=plan.remove,
        changed=plan.change,
        conflicts=tuple(conflicts(installed, environment)),
    )

"""The value types everything else passes around: installed distributions and lock entries.

Pure data: small frozen dataclasses, no I/O. Readers (``pipkit.env.dists`` for an environment,
``pipkit.core.reqfile`` / ``pipkit.core.pylock`` for locks) build them; ``pipkit.core.plan``
compares them. Imports only the standard library and ``packaging`` (inside the functions that
need it: ``freeze``/``list`` build these types on the stdlib-only fast path).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # Types only: reading an environment (freeze, list) never needs markers or specifiers,
    # and importing them costs ~10 ms of every such run.
    from packaging.markers import Marker
    from packaging.specifiers import SpecifierSet
    from packaging.utils import NormalizedName
    from packaging.version import Version


def format_extras(extras: frozenset[str]) -> str:
    """``[a,b]`` (sorted), or nothing."""
    return f"[{','.join(sorted(extras))}]" if extras else ""


def _any_version() -> SpecifierSet:
    from packaging.specifiers import SpecifierSet

    return SpecifierSet()


def marker_holds(
    marker: Marker | None, environment: Mapping[str, str], extras: Iterable[str] = ()
) -> bool:
    """Whether ``marker`` holds in ``environment`` with no extra, or with one of ``extras``.

    The one marker rule of pipkit (a requirement without extras is evaluated with ``extra``
    set to ``""``, as pip does). A marker the environment cannot decide (an undefined name,
    a comparison packaging refuses) does not apply: pip agrees.
    """
    if marker is None:
        return True
    from packaging.markers import InvalidMarker, UndefinedComparison, UndefinedEnvironmentName

    for extra in ("", *extras):
        try:
            if marker.evaluate({**environment, "extra": extra}):
                return True
        except (UndefinedComparison, UndefinedEnvironmentName, InvalidMarker):
            continue
    return False


def with_marker(text: str, marker: Marker | None) -> str:
    """A requirement line with its marker, if any."""
    # " ; " with spaces: pip only splits a URL from its marker at "; ".
    return f"{text} ; {marker}" if marker is not None else text


@dataclass(frozen=True)
class DirectUrl:
    """A PEP 610 ``direct_url.json``: where a distribution was installed from."""

    url: str
    editable: bool = False
    vcs: str | None = None  # "git", "hg", ...
    commit_id: str | None = None
    requested_revision: str | None = None
    archive_hash: str | None = None  # legacy "sha256=..." form, as pip freeze prints it
    subdirectory: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DirectUrl:
        vcs_info = data.get("vcs_info") or {}
        archive_info = data.get("archive_info") or {}
        dir_info = data.get("dir_info") or {}
        return cls(
            url=str(data.get("url", "")),
            editable=bool(dir_info.get("editable", False)),
            vcs=vcs_info.get("vcs"),
            commit_id=vcs_info.get("commit_id"),
            requested_revision=vcs_info.get("requested_revision"),
            archive_hash=archive_info.get("hash"),
            subdirectory=data.get("subdirectory"),
        )

    @property
    def origin(self) -> str:
        """A stable string naming the origin: what a lock's direct reference must match."""
        if self.vcs:
            return f"{self.vcs}+{self.url}@{self.commit_id or ''}"
        return self.url


@dataclass(frozen=True)
class InstalledDist:
    """One distribution installed in the target environment."""

    name: NormalizedName  # PEP 503 normalized
    raw_name: str  # as its metadata spells it
    version: str  # as its metadata spells it (may not be PEP 440)
    location: str  # the folder holding its metadata (pip's "Location")
    metadata_dir: str  # the *.dist-info / *.egg-info path
    requires: tuple[str, ...] = ()  # Requires-Dist lines (with markers)
    installer: str | None = None
    requested: bool = False
    direct_url: DirectUrl | None = None
    editable_location: str | None = None  # project dir of an editable install
    kind: str = "dist-info"  # or "egg-info"

    @property
    def editable(self) -> bool:
        return self.editable_location is not None


@dataclass(frozen=True)
class DistFile:
    """One distribution file a pylock entry lists: a wheel or the sdist."""

    filename: str
    url: str  # a URL, or the file:// URL of a local path
    hash: str | None = None  # "sha256:<hex>" (pip's --hash form), when the lock gives one

    @property
    def is_wheel(self) -> bool:
        return self.filename.endswith(".whl")


@dataclass(frozen=True)
class LockEntry:
    """One requirement read from a lock (a requirements.txt line or a pylock package)."""

    name: NormalizedName
    raw_name: str
    source: str  # "FILE:LINE" (or "FILE:packages[i]" for pylock), for messages
    specifier: SpecifierSet = field(default_factory=lambda: _any_version())
    extras: frozenset[str] = frozenset()
    marker: Marker | None = None
    url: str | None = None  # direct reference, VCS URL or editable path/URL
    editable: bool = False
    hashes: tuple[str, ...] = ()  # "sha256:<hex>", as pip's --hash takes them
    line: str = ""  # the requirement as pip should be handed it (without options)
    config_settings: tuple[str, ...] = ()  # per-requirement -C/--config-settings KEY=VAL
    # pylock only: set means the marker is a lock-file marker (PEP 751), evaluated in packaging's
    # "lock_file" context with these dependency groups (the lock's default-groups unless the
    # user chose) and the extras in lock_extras (none unless the user chose).
    dependency_groups: frozenset[str] | None = None
    lock_extras: frozenset[str] = frozenset()
    # pylock only: the package's wheels and sdist, and the index it names (if any). sync picks
    # the one file that fits the target (core.pylock.choose_file) instead of asking an index.
    files: tuple[DistFile, ...] = ()
    index: str | None = None

    @property
    def pinned_version(self) -> str | None:
        """The exact version this entry pins (``==X`` without wildcard, or ``===X``), else None."""
        specs = list(self.specifier)
        if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
            return specs[0].version
        return None

    @property
    def comparable_pin(self) -> Version | str | None:
        """:attr:`pinned_version` parsed, so ``1.0`` equals ``1.0.0`` (a legacy version that does
        not parse stays a string); None when the entry pins nothing."""
        pinned = self.pinned_version
        if pinned is None:
            return None
        from packaging.version import InvalidVersion, Version

        try:
            return Version(pinned)
        except InvalidVersion:
            return pinned

    def applies(self, environment: dict[str, str]) -> bool:
        """Whether this entry's marker holds for the given marker environment."""
        if self.marker is None:
            return True
        if self.dependency_groups is not None:
            lock_env: dict[str, str | frozenset[str]] = dict(environment)
            lock_env.setdefault("extras", self.lock_extras)
            lock_env.setdefault("dependency_groups", self.dependency_groups)
            return self.marker.evaluate(lock_env, "lock_file")
        env = dict(environment)
        env.setdefault("extra", "")
        return self.marker.evaluate(env)


@dataclass(frozen=True)
class LockOptions:
    """Per-file pip options a lock carries; handed on to pip when syncing."""

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    trusted_hosts: tuple[str, ...] = ()
    no_binary: tuple[str, ...] = ()
    only_binary: tuple[str, ...] = ()
    no_index: bool = False
    pre: bool = False
    prefer_binary: bool = False
    require_hashes: bool = False
    no_require_hashes: bool = False
    all_releases: tuple[str, ...] = ()  # --all-releases values (pip >= 26)
    only_final: tuple[str, ...] = ()  # --only-final values (pip >= 26)
    use_features: tuple[str, ...] = ()  # --use-feature values, kept and handed on

    def pip_args(self) -> list[str]:
        """These options as pip command-line arguments."""
        args: list[str] = []
        if self.index_url:
            args += ["--index-url", self.index_url]
        for url in self.extra_index_urls:
            args += ["--extra-index-url", url]
        for link in self.find_links:
            args += ["--find-links", link]
        for host in self.trusted_hosts:
            args += ["--trusted-host", host]
        for value in self.no_binary:
            args += ["--no-binary", value]
        for value in self.only_binary:
            args += ["--only-binary", value]
        if self.no_index:
            args.append("--no-index")
        if self.pre:
            args.append("--pre")
        if self.prefer_binary:
            args.append("--prefer-binary")
        if self.require_hashes:
            args.append("--require-hashes")
        if self.no_require_hashes:
            args.append("--no-require-hashes")
        for value in self.all_releases:
            args += ["--all-releases", value]
        for value in self.only_final:
            args += ["--only-final", value]
        for value in self.use_features:
            args += ["--use-feature", value]
        return args


@dataclass(frozen=True)
class LockHeader:
    """What a lock says about how and for what it was made (all optional)."""

    python_version: str | None = None  # "3.11"
    platform: str | None = None  # sys.platform / platform tag it was made on
    fingerprint: str | None = None  # pipkit lock's fingerprint of its inputs
    command: str | None = None  # how to regenerate it
    requires_python: str | None = None  # pylock's requires-python
    environments: tuple[str, ...] = ()  # pylock's environments markers


@dataclass(frozen=True)
class Lock:
    """A whole lock, includes resolved: its entries, constraints, options and header."""

    path: str
    format: str  # "requirements" or "pylock"
    entries: tuple[LockEntry, ...]
    constraints: tuple[LockEntry, ...] = ()
    options: LockOptions = field(default_factory=LockOptions)
    header: LockHeader = field(default_factory=LockHeader)

    def applicable(self, environment: dict[str, str]) -> tuple[LockEntry, ...]:
        """The entries whose markers hold for ``environment`` (the target's marker env)."""
        return tuple(e for e in self.entries if e.applies(environment))

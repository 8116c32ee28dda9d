"""pip's failure output read into one fact: which package, what went wrong. Pure.

pip explains a failed install in many lines (the versions that exist, a conflict's causes,
hints). pipkit says it in one line: the package and the cause. This module finds that fact in
pip's text, for the pip versions pipkit supports (the messages are stable since pip 20.3's
resolver; tests/core/test_pipoutput.py holds real output of pip 23.2 and 26). It also maps pip's
mentions of pipkit's internal requirements file (``-r .../requirements.txt (line N)``) back to
the user's ``FILE:LINE``. And it reads pip's (and uv's) progress lines (``Collecting``,
``Processing``, ``Installing collected packages``...) as :class:`ProgressEvent` s
(:func:`progress_event`), for the CLI's progress bar. Imports only the standard library and
packaging.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

# pip: "Could not find a version that satisfies the requirement REQ (from ORIGIN) (from
# versions: A, B)"; ORIGIN may itself hold parentheses ("-r FILE (line 3)").
_NO_VERSION = re.compile(
    r"Could not find a version that satisfies the requirement (?P<req>\S+)"
    r"(?: \(from (?P<origin>-r .+? \(line \d+\)|[^()]*)\))?"
    r" \(from versions: (?P<versions>[^)]*)\)"
)
_CONFLICT_HEAD = "The conflict is caused by:"
_REQUESTED = re.compile(r"^The user requested (?:\((?P<kind>constraint)\) )?(?P<req>.+)$")
_DEPENDS = re.compile(r"^(?P<who>\S+ \S+) depends on (?P<req>.+)$")
_INVALID = re.compile(r"Invalid requirement: (?P<req>'[^']*'|\S+)")
_FROM_FILE = re.compile(r"-r (?P<path>\S+) \(line (?P<line>\d+)\)")

# At most this many versions are named when the one asked for does not exist.
NEAREST = 5


@dataclass(frozen=True)
class PipFailure:
    """What pip could not do, read from its output.

    ``kind``: "not-found" (no index has the project), "no-version" (it has others),
    "conflict" (two requirements cannot both hold), "invalid" (a requirement pip cannot read).
    """

    kind: str
    requirement: str  # as pip names it ("alpha==9.0")
    versions: tuple[str, ...] = ()  # "no-version": what exists, in pip's order (oldest first)
    clash: tuple[str, ...] = ()  # "conflict": the two requirements, in words
    origin: str | None = None  # where the requirement came from (mapped to FILE:LINE)

    @property
    def project(self) -> str:
        """The project's name, as pip spelled it in the requirement."""
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", self.requirement)
        return match.group(0) if match else self.requirement


def map_internal(text: str, internal: str, sources: Mapping[int, str]) -> str:
    """``text`` with ``-r INTERNAL (line N)`` replaced by the user's ``FILE:LINE``.

    ``sources`` maps a line of pipkit's internal requirements file to where that requirement
    came from; a line it lacks is left as pip wrote it.
    """

    def swap(match: re.Match[str]) -> str:
        if not match.group("path").endswith(internal):
            return match.group(0)
        return sources.get(int(match.group("line")), match.group(0))

    return _FROM_FILE.sub(swap, text)


def parse(output: str) -> PipFailure | None:
    """The first failure pip's output explains, or None when it is none of the known kinds."""
    found = _NO_VERSION.search(output)
    if found:
        versions = tuple(v.strip() for v in found.group("versions").split(",") if v.strip())
        if versions == ("none",):
            versions = ()
        return PipFailure(
            kind="no-version" if versions else "not-found",
            requirement=found.group("req"),
            versions=versions,
            origin=found.group("origin"),
        )
    clash = _conflict(output)
    if clash:
        return PipFailure(kind="conflict", requirement=clash[0], clash=clash)
    invalid = _INVALID.search(output)
    if invalid:
        return PipFailure(kind="invalid", requirement=invalid.group("req").strip("'"))
    return None


def _conflict(output: str) -> tuple[str, ...]:
    """The first two causes under pip's "The conflict is caused by:", in words."""
    lines = output.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == _CONFLICT_HEAD)
    except StopIteration:
        return ()
    causes: list[str] = []
    for line in lines[start + 1 :]:
        if not line.startswith("    ") or not line.strip():
            break
        cause = line.strip()
        requested = _REQUESTED.match(cause)
        depends = _DEPENDS.match(cause)
        if requested:
            kind = "constraint" if requested.group("kind") else "requested"
            causes.append(f"{requested.group('req')} ({kind})")
        elif depends:
            causes.append(f"{depends.group('req')} (required by {depends.group('who')})")
        else:
            causes.append(cause)
    return tuple(causes[:2])


def nearest_versions(requirement: str, versions: Sequence[str], limit: int = NEAREST) -> list[str]:
    """The ``limit`` existing versions nearest the one asked for, newest first.

    For ``name==V`` the versions on either side of V; for any other requirement the newest.
    Versions that are not valid PEP 440 are left out.
    """
    from packaging.version import InvalidVersion, Version

    parsed: list[Version] = []
    for text in versions:
        try:
            parsed.append(Version(text))
        except InvalidVersion:
            continue
    ordered = sorted(set(parsed))
    pin = re.search(r"===?\s*([^,;\s]+)$", requirement)
    wanted: Version | None = None
    if pin:
        try:
            wanted = Version(pin.group(1).rstrip(".*"))
        except InvalidVersion:
            wanted = None
    if wanted is None:
        chosen = ordered[-limit:]
    else:
        cut = sum(v < wanted for v in ordered)
        low = max(0, min(cut - (limit + 1) // 2, len(ordered) - limit))
        chosen = ordered[low : low + limit]
    return [str(v) for v in reversed(chosen)]


# -- progress: pip's (and uv's) lines read as events, for a progress bar ------------------------

_COLLECTING = re.compile(r"^Collecting (?P<what>\S+)")
_PROCESSING = re.compile(r"^Processing (?P<what>\S+)")
_DOWNLOADING = re.compile(r"^\s*Downloading (?P<what>\S+)")
_INSTALLING = re.compile(r"^Installing collected packages: (?P<names>.+)$")
_SUCCESS = re.compile(r"^Successfully installed (?P<items>.+)$")
_UV_ADDED = re.compile(r"^ [+~] (?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==")  # uv: " + alpha==1.0"
_UV_INSTALLED = re.compile(r"^Installed \d+ packages? in ")
_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
_ARCHIVES = (".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz")


@dataclass(frozen=True)
class ProgressEvent:
    """One step of an install, for a progress bar.

    ``kind``: "start" (``total`` packages to go; ``what`` says what is done to them:
    "installing", "restoring"), "package" (one package reached: ``name``), "download" (a
    file of ``name`` is downloading), "installing" (pip now installs what it collected),
    "done" (the step ended).
    """

    kind: str
    name: str = ""
    total: int = 0
    what: str = ""


def _name_of(what: str) -> str:
    """A project name from what pip collects: a requirement, a URL or path to an archive."""
    base = what.rstrip("/").rsplit("/", 1)[-1].split("#", 1)[0].split("?", 1)[0]
    if what.startswith(("/", ".", "file:", "http:", "https:")) or base.endswith(_ARCHIVES):
        if base.endswith(_ARCHIVES):
            return base.split("-", 1)[0]  # wheel and sdist names: NAME-VERSION...
        return base  # a project folder
    match = _NAME.match(what)
    return match.group(0) if match else what


def progress_event(line: str) -> ProgressEvent | None:
    """The event one line of pip's (or uv's) output stands for, or None for any other line.

    pip: ``Collecting REQ`` / ``Processing PATH`` (one package reached), ``Downloading FILE``,
    ``Installing collected packages: ...``, ``Successfully installed ...``; uv (which prints
    its packages once installed): ``Installed N packages in ...``, `` + name==version``.
    """
    text = line.rstrip("\r\n")
    for pattern in (_COLLECTING, _PROCESSING):
        match = pattern.match(text)
        if match:
            return ProgressEvent("package", name=_name_of(match.group("what")))
    match = _DOWNLOADING.match(text)
    if match:
        return ProgressEvent("download", name=_name_of(match.group("what")))
    if _INSTALLING.match(text) or _UV_INSTALLED.match(text):
        return ProgressEvent("installing")
    if _SUCCESS.match(text):
        return ProgressEvent("done")
    match = _UV_ADDED.match(text)
    if match:
        return ProgressEvent("package", name=match.group("name"))
    return None

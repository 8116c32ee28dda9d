"""Read a PEP 751 ``pylock.toml`` into a :class:`~pipkit.core.model.Lock`.

Validation is ``packaging.pylock``'s (``Pylock.from_dict``); this module only maps a valid lock
onto pipkit's model, choosing for each package what pip should be handed:

* ``vcs`` -> ``name @ vcs+URL@commit`` (``#subdirectory=`` kept); a local repository ``path``
  becomes a ``file://`` URL.
* ``directory`` -> the absolute directory (relative paths are relative to the lock file, as
  PEP 751 says); ``editable = true`` gives an editable entry (``line`` is the path, for
  ``-e``), else ``name @ file:///dir``.
* ``archive`` -> ``name @ URL`` (or the local file's ``file://`` URL), with its hashes.
* ``wheels`` / ``sdist`` -> ``name==version`` plus the hashes of *every* file, one pip-compatible
  digest each (sha256 if the lock has it, else sha384, else sha512: what pip's ``--hash``
  takes), and every file as a :class:`~pipkit.core.model.DistFile` in ``LockEntry.files``.
  Choosing the file needs the target's tags, which a pure reader does not have: ``sync`` asks
  :func:`choose_file` with the target's tags and hands the installer that one file (one
  request per package, never every file of the lock for every package). A package's ``index``
  is kept on the entry and goes into ``LockOptions.extra_index_urls`` (deduplicated; PyPI's
  own simple index is left out, it is pip's default) for a package no file of which fits.

Every entry has ``specifier`` ``==version`` when the lock gives a version (also for direct
packages: the plan uses it to see a directory whose version moved), ``marker`` (a lock-file
marker: ``LockEntry.dependency_groups`` is set to the lock's ``default-groups`` so it is
evaluated in packaging's ``lock_file`` context), and ``source`` ``FILE:packages[i]``.

The header comes from ``requires-python``, ``environments`` and ``[tool.pipkit]`` (``fingerprint``,
``python``, ``platform``, ``command``).

Pure: reads one file, never spawns a process or touches the network. Imports only the standard
library, ``packaging``, ``pipkit.core.model`` and ``pipkit.errors``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from packaging.pylock import (
    Package,
    PackageArchive,
    PackageSdist,
    PackageWheel,
    Pylock,
    PylockValidationError,
)
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename

from pipkit.core.model import DistFile, Lock, LockEntry, LockHeader, LockOptions, with_marker
from pipkit.errors import InputError, UsageError
from pipkit.fsutil import read_input_file

__all__ = ["PYPI_SIMPLE", "choose_file", "pip_hash", "read_pylock"]

StrPath = str | os.PathLike[str]

# pip's default index: listing it as an extra index would only duplicate it.
PYPI_SIMPLE = frozenset({"https://pypi.org/simple", "https://pypi.org/simple/"})
# The algorithms pip's --hash accepts, in pip's order of preference.
_PIP_HASHES = ("sha256", "sha384", "sha512")
_TOML_LINE_RE = re.compile(r"\(at line (\d+), column \d+\)")
_PACKAGE_CONTEXT_RE = re.compile(r"^packages\[(\d+)\]")


def pip_hash(hashes: Mapping[str, str]) -> str | None:
    """The one digest of a file pip should check, as ``algo:hex``; None if pip takes none."""
    for algorithm in _PIP_HASHES:
        digest = hashes.get(algorithm)
        if digest:
            return f"{algorithm}:{digest}"
    return None


def _package_line(text: str, index: int) -> int | None:
    """The line of the index-th ``[[packages]]`` table (for error locations), if findable."""
    seen = -1
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip().replace(" ", "") == "[[packages]]":
            seen += 1
            if seen == index:
                return number
    return None


def _location(display: str, text: str, context: str | None) -> str:
    match = _PACKAGE_CONTEXT_RE.match(context or "")
    if match:
        line = _package_line(text, int(match.group(1)))
        if line is not None:
            return f"{display}:{line}"
    return display


def _local(path: str, base: str) -> str:
    # PEP 751: relative paths are relative to the lock file's directory, "/"-separated.
    return os.path.normpath(os.path.join(base, path.replace("/", os.sep)))


def _file_url(path: str) -> str:
    return Path(path).as_uri()


def _subdirectory(url: str, subdirectory: str | None) -> str:
    return f"{url}#subdirectory={subdirectory}" if subdirectory else url


def _file_location(file: PackageWheel | PackageSdist | PackageArchive, base: str) -> str:
    """A distribution file's URL, or the absolute path of a local one."""
    if file.url:
        return file.url
    assert file.path is not None  # packaging validates "path or url"
    return _local(file.path, base)


def _version_of(package: Package) -> str | None:
    if package.version is not None:
        return str(package.version)
    for wheel in package.wheels or ():
        return str(parse_wheel_filename(wheel.filename)[1])
    if package.sdist is not None:
        return str(parse_sdist_filename(package.sdist.filename)[1])
    return None


def _entry(
    package: Package,
    source: str,
    base: str,
    groups: frozenset[str],
    extra_indexes: list[str],
) -> LockEntry:
    name = package.name
    version = _version_of(package)
    specifier = SpecifierSet(f"=={version}") if version else SpecifierSet()
    url: str | None = None
    editable = False
    hashes: list[str] = []
    dist_files: list[DistFile] = []

    if package.vcs is not None:
        vcs = package.vcs
        repository = vcs.url or _file_url(_local(vcs.path or "", base))
        url = _subdirectory(f"{vcs.type}+{repository}@{vcs.commit_id}", vcs.subdirectory)
        line = f"{name} @ {url}"
    elif package.directory is not None:
        directory = package.directory
        path = _local(directory.path, base)
        if directory.subdirectory:
            path = os.path.join(path, directory.subdirectory)
        url = _file_url(path)
        editable = bool(directory.editable)
        line = path if editable else f"{name} @ {url}"
    elif package.archive is not None:
        archive = package.archive
        location = _file_location(archive, base)
        url = _subdirectory(location if archive.url else _file_url(location), archive.subdirectory)
        line = f"{name} @ {url}"
        digest = pip_hash(archive.hashes)
        if digest:
            hashes.append(digest)
    else:
        line = f"{name}=={version}"
        files: list[PackageWheel | PackageSdist] = list(package.wheels or ())
        if package.sdist is not None:
            files.append(package.sdist)
        for file in files:
            digest = pip_hash(file.hashes)
            if digest and digest not in hashes:
                hashes.append(digest)
            location = _file_location(file, base)
            url_of = location if file.url else _file_url(location)
            dist_files.append(DistFile(file.filename, url_of, digest))
        if package.index and package.index not in PYPI_SIMPLE:
            extra_indexes.append(package.index)

    marker = package.marker
    line = with_marker(line, marker)
    return LockEntry(
        name=name,
        raw_name=name,
        source=source,
        specifier=specifier,
        marker=marker,
        url=url,
        editable=editable,
        hashes=tuple(hashes),
        line=line,
        dependency_groups=groups,
        files=tuple(dist_files),
        index=str(package.index) if package.index else None,
    )


def _tool_header(tool: Mapping[str, Any] | None) -> dict[str, str]:
    pipkit = (tool or {}).get("pipkit")
    if not isinstance(pipkit, Mapping):
        return {}
    return {key: str(value) for key, value in pipkit.items() if isinstance(value, (str, int))}


def _selection(
    wanted: Iterable[str] | None, declared: Iterable[str], what: str, display: str
) -> frozenset[str] | None:
    if wanted is None:
        return None
    chosen = frozenset(canonicalize_name(name) for name in wanted)
    known = {canonicalize_name(name) for name in declared}
    unknown = sorted(chosen - known)
    if unknown:
        listed = ", ".join(sorted(known)) or "none"
        raise UsageError(f"{display} declares no {what} {', '.join(unknown)} (it has: {listed})")
    return chosen


def read_pylock(
    path: StrPath,
    *,
    extras: Iterable[str] = (),
    dependency_groups: Iterable[str] | None = None,
) -> Lock:
    """Read and validate a pylock.toml; InputError (with FILE:LINE where known) if invalid.

    *extras* and *dependency_groups* select what the lock's markers see (PEP 751: no extras
    and the lock's ``default-groups`` unless chosen); naming one the lock does not declare is
    a UsageError.
    """
    display = os.fspath(path)
    try:
        raw = read_input_file(display)
    except OSError as exc:
        raise InputError(f"cannot open lock file {display}: {exc.strerror or exc}") from None
    text = raw.decode("utf-8", errors="replace")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8: {exc}", location=display) from None
    except RecursionError:
        raise InputError("invalid TOML: nested too deeply", location=display) from None
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_LINE_RE.search(str(exc))
        location = f"{display}:{match.group(1)}" if match else display
        raise InputError(f"invalid TOML: {exc}", location=location) from None
    try:
        pylock = Pylock.from_dict(data)
    except RecursionError:
        raise InputError("invalid pylock: nested too deeply", location=display) from None
    except PylockValidationError as exc:
        raise InputError(
            f"invalid pylock: {exc}", location=_location(display, text, exc.context)
        ) from None

    base = os.path.dirname(os.path.abspath(display))
    chosen_extras = _selection(extras, pylock.extras or (), "extra", display) or frozenset()
    chosen_groups = _selection(
        dependency_groups,
        [*(pylock.dependency_groups or ()), *(pylock.default_groups or ())],
        "dependency group",
        display,
    )
    groups = frozenset(pylock.default_groups or ()) if chosen_groups is None else chosen_groups
    extra_indexes: list[str] = []
    entries = tuple(
        dataclasses.replace(
            _entry(
                package,
                f"{display}:packages[{index}]",
                base,
                groups,
                extra_indexes,
            ),
            lock_extras=chosen_extras,
        )
        for index, package in enumerate(pylock.packages)
    )
    tool = _tool_header(pylock.tool)
    header = LockHeader(
        python_version=tool.get("python"),
        platform=tool.get("platform"),
        fingerprint=tool.get("fingerprint"),
        command=tool.get("command"),
        requires_python=str(pylock.requires_python) if pylock.requires_python else None,
        environments=tuple(str(marker) for marker in pylock.environments or ()),
    )
    return Lock(
        path=display,
        format="pylock",
        entries=entries,
        options=LockOptions(
            extra_index_urls=tuple(dict.fromkeys(extra_indexes)),
        ),
        header=header,
    )


def choose_file(
    entry: LockEntry, tags: Sequence[str], *, no_binary: bool = False
) -> DistFile | None:
    """The one file of a pylock entry to install on a target supporting ``tags`` (most
    preferred first, as ``packaging.tags.sys_tags`` orders them): the wheel whose best tag
    comes first, else the sdist (also when ``no_binary``), else None (nothing fits: the index,
    if the entry names one, has to choose).
    """
    from packaging.utils import InvalidWheelFilename

    rank = {tag: index for index, tag in enumerate(tags)}
    best: tuple[int, int, DistFile] | None = None
    sdist: DistFile | None = None
    for order, file in enumerate(entry.files):
        if not file.is_wheel:
            sdist = sdist or file
            continue
        if no_binary:
            continue
        try:
            file_tags = parse_wheel_filename(file.filename)[3]
        except InvalidWheelFilename:
            continue
        ranks = [rank[str(tag)] for tag in file_tags if str(tag) in rank]
        if ranks and (best is None or (min(ranks), order) < best[:2]):
            best = (min(ranks), order, file)
    if best is not None:
        return best[2]
    return sdist

"""``pipkit convert``'s pure part: a requirements lock as a PEP 751 document, and back.

Nothing is resolved: each entry becomes what the lock says and nothing more, or the whole
conversion is refused with the entry's ``FILE:LINE`` and the reason (:class:`InputError`).

requirements -> pylock.toml, per entry:

* ``name==V --hash=...`` (an index pin): ``packages.wheels`` / ``packages.sdist``, one for each
  file the caller found on the index whose digest is one of the entry's hashes. PEP 751 (and
  ``packaging.pylock``) has no package with only a name and a version: each file needs a name,
  a URL or path, and hashes. So an unpinned entry, a pin without hashes, and a hash that
  matches no file the index lists are refused.
* ``name @ URL --hash=...`` (an archive): ``packages.archive`` (its hashes are required).
* ``name @ vcs+URL@COMMIT``: ``packages.vcs``, only for a full commit id (PEP 751 requires
  ``commit-id``; a branch or tag would be a resolution).
* a local directory, ``-e DIR``: ``packages.directory`` (``editable = true`` for ``-e``);
  an editable VCS or remote URL has no pylock form.

pylock.toml -> requirements, per package (as :func:`pipkit.core.pylock.read_pylock` maps it):
``name==V`` with every file's hash, the package's index as ``--extra-index-url`` or its files
as ``--find-links``; a direct reference as its URL. Refused: a lock-file marker that tests
``extras`` or ``dependency_groups`` (no requirements file can say it), and a package without
hashes (VCS, directory) beside hashed ones (pip's hash-checking mode would refuse to install).

Pure. Imports the standard library, packaging, pipkit.core and pipkit.errors.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pipkit.core.model import Lock, LockEntry
from pipkit.errors import InputError

__all__ = ["IndexFile", "to_pylock", "to_requirements"]

_COMMIT_RE = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_VCS_SCHEMES = ("git+", "hg+", "svn+", "bzr+")
_ARCHIVE_SUFFIXES = (".whl", ".tar.gz", ".zip", ".tar.bz2", ".tar.xz", ".tgz", ".tar")
_LOCK_FILE_VARIABLE_RE = re.compile(r"\b(extras|dependency_groups)\b")


@dataclass(frozen=True)
class IndexFile:
    """A distribution file an index lists for a pin: what a pylock.toml names it by."""

    filename: str
    url: str
    kind: str  # "wheel" or "sdist"
    hashes: Mapping[str, str]  # algorithm -> hex digest


def _refuse(entry: LockEntry, reason: str) -> InputError:
    return InputError(f"{entry.raw_name}: {reason}", location=entry.source)


def _hash_pairs(entry: LockEntry) -> list[tuple[str, str]]:
    return [(h.partition(":")[0], h.partition(":")[2]) for h in entry.hashes]


def _local_path(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme == "file":
        from urllib.parse import unquote

        return unquote(parts.path)
    if not parts.scheme:
        return url
    return None


def _relative(path: str, base: str) -> str:
    """A path as PEP 751 writes it: relative to the lock's folder, "/"-separated."""
    return os.path.relpath(path, base).replace(os.sep, "/")


def _vcs_table(entry: LockEntry, url: str) -> dict[str, Any]:
    kind, _, rest = url.partition("+")
    fragment = ""
    if "#" in rest:
        rest, _, fragment = rest.partition("#")
    repository, at, revision = rest.rpartition("@")
    # an "@" inside the netloc (user@host) is not a revision
    if not at or "/" in revision:
        repository, revision = rest, ""
    if not _COMMIT_RE.match(revision):
        raise _refuse(
            entry,
            f"{url}: a VCS reference without a full commit id has no pylock.toml form "
            "(PEP 751 needs commit-id; pin the commit)",
        )
    table: dict[str, Any] = {"type": kind, "url": repository, "commit-id": revision}
    for part in fragment.split("&"):
        key, _, value = part.partition("=")
        if key == "subdirectory" and value:
            table["subdirectory"] = value
    return table


def _direct(entry: LockEntry, base: str) -> dict[str, Any]:
    url = entry.url or ""
    if url.startswith(_VCS_SCHEMES):
        if entry.editable:
            raise _refuse(entry, f"-e {url}: an editable VCS checkout has no pylock.toml form")
        return {"vcs": _vcs_table(entry, url)}
    local = _local_path(url.partition("#")[0])
    is_archive = url.partition("#")[0].lower().endswith(_ARCHIVE_SUFFIXES)
    if entry.editable or (local is not None and not is_archive):
        if local is None:
            raise _refuse(entry, f"-e {url}: an editable install of a URL has no pylock.toml form")
        directory: dict[str, Any] = {"path": _relative(local, base)}
        if entry.editable:
            directory["editable"] = True
        return {"directory": directory}
    if not entry.hashes:
        raise _refuse(
            entry, f"{url}: an archive in a pylock.toml needs its hash (add --hash=sha256:...)"
        )
    archive: dict[str, Any] = (
        {"path": _relative(local, base)} if local is not None else {"url": url.partition("#")[0]}
    )
    archive["hashes"] = dict(_hash_pairs(entry))
    return {"archive": archive}


def _files(entry: LockEntry, version: str, found: Sequence[IndexFile]) -> dict[str, Any]:
    if not entry.hashes:
        raise _refuse(
            entry,
            f"=={version} has no --hash: a pylock.toml names each file by its hash "
            "(lock with hashes: pipkit lock --generate-hashes)",
        )
    wheels: list[dict[str, Any]] = []
    sdist: dict[str, Any] | None = None
    matched: set[tuple[str, str]] = set()
    for pair in _hash_pairs(entry):
        for file in found:
            algorithm, digest = pair
            if file.hashes.get(algorithm) != digest:
                continue
            matched.add(pair)
            item = {"name": file.filename, "url": file.url, "hashes": {algorithm: digest}}
            if file.kind == "wheel":
                if item not in wheels:
                    wheels.append(item)
            elif sdist is None:
                sdist = item
    missing = [f"{a}:{d}" for a, d in _hash_pairs(entry) if (a, d) not in matched]
    if missing:
        raise _refuse(
            entry,
            f"--hash={missing[0]} matches no file of {entry.raw_name}=={version} on the "
            "configured indexes (a pylock.toml names each file)",
        )
    table: dict[str, Any] = {}
    if sdist is not None:
        table["sdist"] = sdist
    if wheels:
        table["wheels"] = sorted(wheels, key=lambda w: str(w["name"]))
    return table


def to_pylock(lock: Lock, files: Mapping[str, Sequence[IndexFile]], *, base: str) -> dict[str, Any]:
    """The PEP 751 document of a requirements *lock* (see the module docstring).

    *files* maps each index pin's canonical name to the files its version has on the index;
    *base* is the folder the pylock.toml goes to (relative paths are relative to it).
    """
    if lock.constraints:
        first = lock.constraints[0]
        raise _refuse(first, "a constraint (-c) has no pylock.toml form")
    packages: list[dict[str, Any]] = []
    for entry in lock.entries:
        package: dict[str, Any] = {"name": entry.name}
        version = entry.pinned_version
        if entry.url or entry.editable:
            if version:
                package["version"] = version
            if entry.marker is not None:
                package["marker"] = str(entry.marker)
            package.update(_direct(entry, base))
        else:
            if version is None:
                shown = str(entry.specifier) or "no version"
                raise _refuse(entry, f"not pinned ({shown}): a lock pins every package with ==")
            package["version"] = version
            if entry.marker is not None:
                package["marker"] = str(entry.marker)
            package.update(_files(entry, version, files.get(entry.name, ())))
        packages.append(package)
    document: dict[str, Any] = {"lock-version": "1.0", "created-by": "pipkit"}
    if lock.header.requires_python:
        document["requires-python"] = lock.header.requires_python
    document["packages"] = packages
    tool = {
        key: value
        for key, value in (
            ("fingerprint", lock.header.fingerprint),
            ("python", lock.header.python_version),
            ("platform", lock.header.platform),
        )
        if value
    }
    if tool:
        document["tool"] = {"pipkit": tool}
    return document


def _shown_path(location: str, base: str) -> str:
    """A local path relative to the requirements file's folder when it is inside it."""
    if location.startswith(("http://", "https://")) or "://" in location:
        return location
    relative = os.path.relpath(location, base)
    return location if relative.startswith("..") else relative


def to_requirements(lock: Lock, *, base: str) -> str:
    """The requirements text of a pylock *lock* (read by :func:`read_pylock`)."""
    from pipkit.core.reqfile import format_header

    hashed = [e for e in lock.entries if e.hashes]
    lines: list[str] = []
    for entry in lock.entries:
        if entry.marker is not None and _LOCK_FILE_VARIABLE_RE.search(str(entry.marker)):
            raise _refuse(
                entry,
                f"marker {entry.marker}: a lock-file marker on extras or dependency groups "
                "has no requirements.txt form",
            )
        if hashed and not entry.hashes:
            raise _refuse(
                entry,
                f"{entry.url or entry.line} has no hash beside hashed packages: pip's "
                "hash-checking mode would refuse the requirements.txt",
            )
        text = f"-e {_shown_path(entry.line, base)}" if entry.editable else entry.line
        for digest in entry.hashes:
            text += f" \\\n    --hash={digest}"
        lines.append(text)
    options: list[str] = []
    for url in lock.options.extra_index_urls:
        options.append(f"--extra-index-url {url}")
    for link in lock.options.find_links:
        options.append(f"--find-links {_shown_path(link, base)}")
    header = lock.header
    head = format_header(header, tool="pipkit convert") if header.fingerprint else ""
    body = "\n".join([*options, *lines])
    return head + body + "\n"

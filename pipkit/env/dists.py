"""Reading the target's installed distributions without pip or importlib.

pipkit walks the target's ``sys.path`` (from the probe) the way pip's importlib backend
does: each entry in order, ``*.dist-info`` and ``*.egg-info`` in directory order, the first
distribution of a name wins, then legacy ``*.egg-link`` editables. Only what pipkit needs is
read: the metadata headers up to the first blank line, ``INSTALLER``, ``REQUESTED`` and
``direct_url.json``. That is what makes ``freeze``/``list``/``check`` fast.
Effectful (reads files); imports stdlib and pipkit.core (stdlib-only: ``freeze`` and ``list``
read the environment on the fast path, before packaging is imported).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from pipkit.core.model import DirectUrl, InstalledDist
from pipkit.core.names import canonicalize_name

if TYPE_CHECKING:
    from packaging.utils import NormalizedName

# pip ignores leftovers of interrupted uninstalls ("~ip-1.0.dist-info") via this pattern.
_VALID_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)


def _read_headers(path: str) -> tuple[str | None, str | None, list[str]]:
    """Name, Version and Requires-Dist from an RFC 822 metadata file, headers only."""
    name = version = None
    requires: list[str] = []
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as handle:
            last: list[str] | None = None
            for line in handle:
                if line in ("\n", "\r\n"):
                    break  # the body (long description) follows: never read it
                if line[:1] in (" ", "\t") and last is not None:
                    last[-1] += " " + line.strip()  # folded header
                    continue
                key, sep, value = line.partition(":")
                if not sep:
                    continue
                key = key.lower()
                value = value.strip()
                last = None
                if key == "name" and name is None:
                    name = value
                elif key == "version" and version is None:
                    version = value
                elif key == "requires-dist":
                    requires.append(value)
                    last = requires
    except OSError:
        return None, None, []
    return name, version, requires


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError):
        return None


def _egg_requires(egg_info: str) -> list[str]:
    """requires.txt of an egg-info, as Requires-Dist lines ([extra] sections become markers)."""
    text = _read_text(os.path.join(egg_info, "requires.txt"))
    if not text:
        return []
    out: list[str] = []
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        extra, _, marker = section.partition(":")
        conditions = []
        if marker:
            conditions.append(f"({marker})")
        if extra:
            conditions.append(f'extra == "{extra}"')
        out.append(f"{line}; {' and '.join(conditions)}" if conditions else line)
    return out


def url_to_path(url: str) -> str:
    """A ``file://`` URL as a local path (what pip's ``url_to_path`` gives on POSIX)."""
    parts = urlsplit(url)
    path = unquote(parts.path)
    if parts.netloc and parts.netloc != "localhost":
        path = f"//{parts.netloc}{path}"
    return path


def _read_direct_url(info_dir: str) -> DirectUrl | None:
    text = _read_text(os.path.join(info_dir, "direct_url.json"))
    if text is None:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return DirectUrl.from_json(data) if isinstance(data, dict) else None


def _egg_link_names(raw_name: str) -> tuple[str, str]:
    # pkg_resources' safe_name, and the raw name setuptools >= 69 uses.
    return re.sub("[^A-Za-z0-9.]+", "-", raw_name) + ".egg-link", f"{raw_name}.egg-link"


def _egg_links(search_path: Iterable[str]) -> frozenset[str]:
    """The names of every ``*.egg-link`` file on ``search_path`` (listed once, not per dist)."""
    names: set[str] = set()
    for entry in search_path:
        try:
            with os.scandir(entry) as entries:
                names.update(e.name for e in entries if e.name.endswith(".egg-link"))
        except OSError:
            continue
    return frozenset(names)


def _info_dirs(location: str) -> Iterator[tuple[str, str]]:
    """(entry name, stem) of the metadata folders/files directly in ``location``."""
    try:
        with os.scandir(location) as entries:
            names = [e.name for e in entries]
    except OSError:
        return
    for name in names:
        low = name.lower()
        if low.endswith(".dist-info") or low.endswith(".egg-info"):
            yield name, name.rpartition(".")[0]


def _load(location: str, entry: str, egg_links: frozenset[str]) -> InstalledDist | None:
    path = os.path.join(location, entry)
    is_dist_info = entry.lower().endswith(".dist-info")
    stem = entry.rpartition(".")[0]
    if is_dist_info:
        name, version, requires = _read_headers(os.path.join(path, "METADATA"))
        dir_name, sep, dir_version = stem.partition("-")
        # pip takes the version from the folder name first ("much faster than reading
        # metadata"): match it, or freeze would disagree with pip on odd folders.
        if sep and dir_version:
            version = dir_version
    else:
        meta = os.path.join(path, "PKG-INFO") if os.path.isdir(path) else path
        name, version, requires = _read_headers(meta)
        dir_name = stem.split("-", 1)[0]
        if os.path.isdir(path):
            requires = requires or _egg_requires(path)
    if version is None:
        return None
    raw_name = name or dir_name
    canonical = canonicalize_name(dir_name or raw_name)
    installer_text = _read_text(os.path.join(path, "INSTALLER")) if is_dist_info else None
    direct_url = _read_direct_url(path) if is_dist_info else None
    editable_location: str | None = None
    if direct_url is not None:
        if direct_url.editable and direct_url.url.startswith("file:"):
            editable_location = url_to_path(direct_url.url)
    elif not egg_links.isdisjoint(_egg_link_names(raw_name)):
        editable_location = location  # pip: the folder holding the metadata
    return InstalledDist(
        name=canonical,
        raw_name=raw_name,
        version=version,
        location=location,
        metadata_dir=path,
        requires=tuple(requires),
        installer=installer_text.strip() if installer_text else None,
        requested=is_dist_info and os.path.exists(os.path.join(path, "REQUESTED")),
        direct_url=direct_url,
        editable_location=editable_location,
        kind="dist-info" if is_dist_info else "egg-info",
    )


def iter_distributions(search_path: Iterable[str]) -> Iterator[InstalledDist]:
    """Every distribution visible on ``search_path``, first of each name only, pip's order."""
    paths = tuple(search_path)
    seen: set[NormalizedName] = set()
    egg_links = _egg_links(paths)

    def found(location: str) -> Iterator[InstalledDist]:
        if location.endswith(".whl") and os.path.isfile(location):
            return  # pip never treats a wheel on sys.path as installed
        for entry, stem in _info_dirs(location):
            dir_name = (
                stem.partition("-")[0]
                if entry.lower().endswith(".dist-info")
                else (stem.split("-", 1)[0])
            )
            key = canonicalize_name(dir_name)
            if key in seen or not _VALID_NAME.match(key):
                continue
            dist = _load(location, entry, egg_links)
            if dist is None or dist.name in seen:
                continue
            seen.add(dist.name)
            yield dist

    for location in paths:
        yield from found(location)
        # Legacy `setup.py develop` editables: *.egg-link files point at the project.
        try:
            with os.scandir(location) as entries:
                links = [e.path for e in entries if e.name.endswith(".egg-link")]
        except OSError:
            continue
        for link in links:
            text = _read_text(link) or ""
            target = next((line.strip() for line in text.splitlines() if line.strip()), "")
            if target:
                yield from found(os.path.join(location, target))


def installed(search_path: Iterable[str]) -> dict[NormalizedName, InstalledDist]:
    """The target's distributions by normalized name."""
    return {d.name: d for d in iter_distributions(search_path)}


def summary(dist: InstalledDist) -> str:
    """``dist``'s one-line ``Summary`` header ("" when absent), for the dashboard."""
    path = dist.metadata_dir
    if dist.kind == "dist-info":
        path = os.path.join(path, "METADATA")
    elif os.path.isdir(path):
        path = os.path.join(path, "PKG-INFO")
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line in ("\n", "\r\n"):
                    break
                key, sep, value = line.partition(":")
                if sep and key.lower() == "summary":
                    return value.strip()
    except OSError:
        pass
    return ""


def declares_editable(info_dir: str | os.PathLike[str]) -> bool:
    """Whether a ``.dist-info`` folder's ``direct_url.json`` says editable (PEP 610)."""
    try:
        with open(os.path.join(info_dir, "direct_url.json"), encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and bool((data.get("dir_info") or {}).get("editable"))

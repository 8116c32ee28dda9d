"""The wheel store: installed distributions repacked as wheels, so a rollback needs no index.

When a change removes or replaces a distribution, the transaction stashes its files; the
history (:func:`pipkit.history.archive`) hands them to :func:`repack`, which rebuilds an
installable wheel from the distribution's own ``RECORD`` and puts it in the target's store,
``<state_dir>/store/``: a flat folder of wheels, so pip can use it directly as a
``--find-links`` location.

What a repacked wheel holds:

* every file ``RECORD`` lists inside site-packages, under its own path;
* scripts (``RECORD`` paths like ``../../../bin/tool``) under ``<name>.data/scripts/`` with
  their shebang turned back into ``#!python`` (pip rewrites it for the target on install) -
  except console/GUI entry-point wrappers, which pip regenerates from ``entry_points.txt``;
* other files under the environment's prefix (data files, headers) under
  ``<name>.data/data/`` relative to the prefix, which is where pip's data scheme puts them back;
* a fresh ``RECORD`` with the hashes of the bytes packed; never ``INSTALLER``, ``REQUESTED``,
  ``direct_url.json`` (pip writes those for the new install) nor byte-code (pip compiles).

The store is size-capped (``PIPKIT_STORE_MAX_MB``, else the configuration's ``store-max-mb``,
default :data:`DEFAULT_MAX_MB`): after each addition the oldest wheels are dropped until it
fits. Standard library, ``packaging``, ``pipkit.errors`` and (lazily) ``pipkit.env.config``
only; must not import pip, run processes, or know about the history.
"""

from __future__ import annotations

import base64
import configparser
import contextlib
import csv
import hashlib
import io
import os
import posixpath
import re
import tempfile
import time
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from pipkit.errors import OperationError, UsageError

if TYPE_CHECKING:
    from email.message import Message

DEFAULT_MAX_MB = 500
MAX_MB_VARIABLE = "PIPKIT_STORE_MAX_MB"
# Files pip writes itself when it installs a wheel: a repacked wheel must not carry them.
_INSTALL_ONLY = frozenset({"INSTALLER", "REQUESTED", "direct_url.json", "RECORD"})
_CHUNK = 1 << 20


class StoreError(OperationError):
    """A distribution could not be repacked, or the store is unusable."""


@dataclass(frozen=True)
class Layout:
    """Where a distribution's files were installed, to place paths outside site-packages.

    ``site_dir`` is the site-packages folder ``RECORD`` paths are relative to; ``scripts``
    and ``prefix`` are the target's scripts folder and ``sys.prefix``. All absolute.
    """

    site_dir: str
    scripts: str
    prefix: str


@dataclass(frozen=True)
class StoredWheel:
    """One wheel in the store."""

    path: Path
    name: NormalizedName
    version: str
    size: int
    mtime: float


def wheel_requires(path: Path) -> tuple[str, ...] | None:
    """The Requires-Dist lines of a stored wheel's METADATA, or None if it cannot be read."""
    try:
        with zipfile.ZipFile(path) as wheel:
            name = next(
                (
                    n
                    for n in wheel.namelist()
                    if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
                ),
                None,
            )
            if name is None:
                return None
            text = wheel.read(name).decode("utf-8", errors="replace")
    except (OSError, zipfile.BadZipFile):
        return None
    return tuple(_headers(text).get_all("Requires-Dist") or ())


def max_bytes(environ: Mapping[str, str] | None = None) -> int:
    """The store's cap in bytes, from ``PIPKIT_STORE_MAX_MB``, else the configuration's
    ``store-max-mb`` (:mod:`pipkit.env.config`), else 500 MB."""
    env = os.environ if environ is None else environ
    raw = env.get(MAX_MB_VARIABLE, "").strip()
    if not raw:
        from pipkit.env.config import active

        configured = active().store_max_mb
        return int((DEFAULT_MAX_MB if configured is None else configured) * 1024 * 1024)
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(f"{MAX_MB_VARIABLE}={raw!r}: not a number of megabytes") from None
    if value < 0:
        raise UsageError(f"{MAX_MB_VARIABLE}={raw!r}: must not be negative")
    return int(value * 1024 * 1024)


def same_version(a: str, b: str) -> bool:
    """Whether two version strings name the same release (PEP 440 equality, else text)."""
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


class WheelStore:
    """A folder of wheels with a size cap; oldest (by time stored) dropped first."""

    def __init__(self, root: Path, cap_bytes: int | None = None) -> None:
        self.root = root
        self.cap_bytes = max_bytes() if cap_bytes is None else cap_bytes

    def wheels(self) -> list[StoredWheel]:
        """Every wheel in the store, oldest first."""
        found: list[StoredWheel] = []
        try:
            entries = list(os.scandir(self.root))
        except OSError:
            return []
        for entry in entries:
            if not entry.name.endswith(".whl") or entry.name.startswith("."):
                continue
            try:
                name, version, _build, _tags = parse_wheel_filename(entry.name)
                stat = entry.stat()
            except (InvalidWheelFilename, InvalidVersion, OSError):
                continue
            found.append(
                StoredWheel(Path(entry.path), name, str(version), stat.st_size, stat.st_mtime)
            )
        found.sort(key=lambda w: (w.mtime, w.path.name))
        return found

    def find(self, name: str, version: str) -> StoredWheel | None:
        """The stored wheel of ``name`` at ``version``, or None (newest if several)."""
        key = canonicalize_name(name)
        hits = [w for w in self.wheels() if w.name == key and same_version(w.version, version)]
        return hits[-1] if hits else None

    def total_bytes(self) -> int:
        return sum(w.size for w in self.wheels())

    def add_from(
        self,
        source: Path,
        dist_info: str,
        layout: Layout | None = None,
        *,
        reader: Callable[[str], Path | None] | None = None,
    ) -> Path:
        """Repack a distribution (see :func:`repack`) into the store; returns the wheel path."""
        self.root.mkdir(parents=True, exist_ok=True)
        return repack(source, dist_info, self.root, layout=layout, reader=reader)

    def prune(self, cap_bytes: int | None = None) -> list[StoredWheel]:
        """Drop the oldest wheels until the store fits ``cap_bytes``; returns what was dropped."""
        cap = self.cap_bytes if cap_bytes is None else cap_bytes
        wheels = self.wheels()
        total = sum(w.size for w in wheels)
        dropped: list[StoredWheel] = []
        for wheel in wheels:
            if total <= cap:
                break
            with contextlib.suppress(FileNotFoundError):
                wheel.path.unlink()
            total -= wheel.size
            dropped.append(wheel)
        return dropped


# --------------------------------------------------------------------------------------------
# Repacking


def _record_hash(digest: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _headers(text: str) -> Message:
    """RFC 822 headers (METADATA, WHEEL); the email package is imported only here: at module
    level it cost every sync ~10 ms."""
    from email.parser import HeaderParser

    return HeaderParser().parsestr(text)


def _wheel_tags(wheel_text: str) -> tuple[str, bool]:
    """The compressed tag triple for the file name, and Root-Is-Purelib, from a WHEEL file."""
    headers = _headers(wheel_text)
    tags = [t.strip() for t in headers.get_all("Tag") or [] if t.strip().count("-") == 2]
    purelib = (headers.get("Root-Is-Purelib") or "true").strip().lower() == "true"
    if not tags:
        return "py3-none-any", purelib
    parts: list[list[str]] = [[], [], []]
    for tag in tags:
        for index, piece in enumerate(tag.split("-")):
            if piece not in parts[index]:
                parts[index].append(piece)
    return "-".join(".".join(p) for p in parts), purelib


def _entry_point_names(text: str | None) -> set[str]:
    """Lower-cased console/GUI script names an ``entry_points.txt`` declares."""
    if not text:
        return set()
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text)
    except configparser.Error:
        return set()
    names: set[str] = set()
    for section in ("console_scripts", "gui_scripts"):
        if parser.has_section(section):
            names |= {key.strip().lower() for key in parser.options(section)}
    return names


def _is_wrapper(filename: str, entry_points: set[str]) -> bool:
    # pip's is_entrypoint_wrapper: EP, EP.exe and EP-script.py stand for entry point EP.
    low = filename.lower()
    if low.endswith(".exe"):
        low = low[:-4]
    elif low.endswith("-script.py"):
        low = low[:-10]
    elif low.endswith(".pya"):
        low = low[:-4]
    return low in entry_points


def _fix_shebang(data: bytes) -> bytes:
    """A script installed with ``#!/abs/python`` back to ``#!python``, as wheels ship them."""
    if not data.startswith(b"#!"):
        return data
    first, sep, rest = data.partition(b"\n")
    if b"python" not in first.split(b"/")[-1]:
        return data
    # Keep interpreter options ("#!/x/python -E") but not the interpreter path.
    words = first[2:].strip().split(None, 1)
    options = b" " + words[1] if len(words) > 1 else b""
    return b"#!python" + options + sep + rest


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _within(path: Path, folder: Path) -> bool:
    real, base = os.path.realpath(path), os.path.realpath(folder)
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


def repack(
    root: Path,
    dist_info: str,
    out_dir: Path,
    *,
    layout: Layout | None = None,
    reader: Callable[[str], Path | None] | None = None,
) -> Path:
    """Rebuild the wheel of the distribution whose metadata is ``root/dist_info``.

    ``root`` holds the files laid out as in site-packages (the live site-packages or a stash
    mirroring it). ``RECORD`` paths outside it are placed by ``layout`` and read from
    ``reader(absolute original path)`` (default: that path itself); without a layout they
    are left out. Raises :class:`StoreError` naming the distribution when it cannot be packed
    (no RECORD, a listed file missing). The wheel is written atomically into ``out_dir``.
    """
    info_dir = root / dist_info
    stem = Path(dist_info).name
    if not stem.endswith(".dist-info"):
        raise StoreError(f"{stem}: only .dist-info distributions can be repacked")
    stem = stem[: -len(".dist-info")]
    label = stem.replace("-", " ", 1)
    try:
        record_text = (info_dir / "RECORD").read_text(encoding="utf-8")
        metadata = _headers((info_dir / "METADATA").read_text(encoding="utf-8"))
        wheel_text = (info_dir / "WHEEL").read_text(encoding="utf-8")
    except OSError as exc:
        raise StoreError(f"{label}: cannot repack, {exc.strerror}: {exc.filename}") from None
    except UnicodeDecodeError:
        raise StoreError(f"{label}: cannot repack, its metadata is not UTF-8") from None
    dir_name = stem.partition("-")[0]
    version = (metadata.get("Version") or stem.partition("-")[2]).strip()
    if not version:
        raise StoreError(f"{label}: cannot repack, no version in METADATA")
    tags, _purelib = _wheel_tags(wheel_text)
    entry_points: set[str] = set()
    with contextlib.suppress(OSError, UnicodeDecodeError):
        entry_points = _entry_point_names(
            (info_dir / "entry_points.txt").read_text(encoding="utf-8")
        )
    data_dir = f"{stem}.data"
    info_prefix = posixpath.normpath(Path(dist_info).as_posix())
    read = reader or (lambda original: Path(original))

    # (name in the wheel, file to read, whether it is a script)
    members: dict[str, tuple[Path, bool]] = {}
    for row in csv.reader(io.StringIO(record_text)):
        if not row or not row[0]:
            continue
        listed = row[0].replace("\\", "/")
        if "__pycache__/" in listed or listed.endswith((".pyc", ".pyo")):
            continue  # pip byte-compiles on install; stale byte-code must not travel
        normal = posixpath.normpath(listed)
        if not (normal.startswith("../") or normal == ".." or posixpath.isabs(normal)):
            if (
                posixpath.dirname(normal) == info_prefix
                and posixpath.basename(normal) in _INSTALL_ONLY
            ):
                continue
            if not _within((root / normal).parent, root):
                # Through a symlink out of the distribution's folder: never read, never packed.
                raise StoreError(f"{label}: cannot repack, {listed} resolves outside {root}")
            members[normal] = (root / normal, False)
            continue
        if layout is None:
            continue
        original = posixpath.normpath(posixpath.join(layout.site_dir, listed))
        if _inside(original, layout.scripts):
            base = posixpath.basename(original)
            if _is_wrapper(base, entry_points):
                continue  # pip writes entry-point wrappers itself, for the target's python
            arcname, is_script = f"{data_dir}/scripts/{base}", True
        elif _inside(original, layout.prefix):
            arcname, is_script = (
                f"{data_dir}/data/{posixpath.relpath(original, layout.prefix)}",
                False,
            )
        else:
            continue  # outside the environment: not something a wheel can put back
        source = read(original)
        if source is None:
            raise StoreError(f"{label}: cannot repack, {listed} was not kept")
        members[arcname] = (source, is_script)

    for required in ("METADATA", "WHEEL"):
        members.setdefault(f"{info_prefix}/{required}", (info_dir / required, False))
    # A wheel's .dist-info sits at its root, whatever sub-folder it was found in.
    renamed = {
        (
            f"{stem}.dist-info/{name[len(info_prefix) + 1 :]}"
            if name.startswith(info_prefix + "/")
            else name
        ): value
        for name, value in members.items()
    }
    escaped = re.sub(r"[-_.]+", "_", dir_name).lower()
    filename = f"{escaped}-{version.replace('-', '_')}-{tags}.whl"
    try:
        parse_wheel_filename(filename)
    except (InvalidWheelFilename, InvalidVersion):
        raise StoreError(f"{label}: cannot repack, {filename!r} is no valid wheel name") from None
    out_dir.mkdir(parents=True, exist_ok=True)
    # Streamed to a temp file and renamed (like pipkit.fsutil, without holding a possibly
    # large wheel in memory): the store never shows a half-written wheel to pip.
    fd, tmp = tempfile.mkstemp(prefix=f".{filename}.", suffix=".tmp", dir=out_dir)
    try:
        with os.fdopen(fd, "wb") as handle:
            _write_wheel(handle, renamed, f"{stem}.dist-info/RECORD", label)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        final = out_dir / filename
        os.replace(tmp, final)
        now = time.time()
        os.utime(final, (now, now))  # "stored at": what pruning orders by
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return final


def _write_wheel(
    handle: IO[bytes],
    members: dict[str, tuple[Path, bool]],
    record_name: str,
    label: str,
) -> None:
    records: list[tuple[str, str, str]] = []
    with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
        # .dist-info last, as the wheel spec recommends (installers may stream).
        order = sorted(members, key=lambda n: (".dist-info/" in n, n))
        for arcname in order:
            source, is_script = members[arcname]
            try:
                mode = os.stat(source).st_mode
                if is_script:
                    data = _fix_shebang(source.read_bytes())
                    digest = hashlib.sha256(data)
                    size = len(data)
                else:
                    data = b""
                    digest = hashlib.sha256()
                    size = 0
            except OSError as exc:
                raise StoreError(f"{label}: cannot repack, {arcname}: {exc.strerror}") from None
            info = zipfile.ZipInfo(arcname, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = ((mode & 0o777) | 0o100000) << 16
            with archive.open(info, "w", force_zip64=True) as out:
                if is_script:
                    out.write(data)
                else:
                    try:
                        with open(source, "rb") as src:
                            while chunk := src.read(_CHUNK):
                                digest.update(chunk)
                                size += len(chunk)
                                out.write(chunk)
                    except OSError as exc:
                        raise StoreError(
                            f"{label}: cannot repack, {arcname}: {exc.strerror}"
                        ) from None
            records.append((arcname, _record_hash(digest.digest()), str(size)))
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerows(records)
        writer.writerow((record_name, "", ""))
        archive.writestr(
            zipfile.ZipInfo(record_name, date_time=(1980, 1, 1, 0, 0, 0)),
            buffer.getvalue(),
            compress_type=zipfile.ZIP_DEFLATED,
        )

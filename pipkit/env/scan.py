"""The files ``pipkit doctor`` looks at, beyond what the dist reader reads.

Metadata folder names in a site folder, whether a ``.dist-info`` has its ``RECORD``, a
distribution's ``entry_points.txt``, the scripts folder's files, the ``.pth`` files of a site
folder. Effectful (reads files, never writes); imports the standard library and
pipkit.core.model only.
"""

from __future__ import annotations

import os

from pipkit.core.model import InstalledDist

__all__ = ["entry_points", "has_record", "listdir", "metadata_folders", "pth_files"]


def listdir(folder: str) -> list[str]:
    """The names in *folder*, sorted ([] when it cannot be read)."""
    try:
        return sorted(os.listdir(folder))
    except OSError:
        return []


def metadata_folders(location: str) -> list[str]:
    """The ``*.dist-info`` and ``*.egg-info`` names directly in *location* (not pip's
    ``~name`` leftovers of an interrupted uninstall)."""
    return [
        name
        for name in listdir(location)
        if name.lower().endswith((".dist-info", ".egg-info")) and not name.startswith("~")
    ]


def has_record(dist: InstalledDist) -> bool:
    return os.path.isfile(os.path.join(dist.metadata_dir, "RECORD"))


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return None


def entry_points(dist: InstalledDist) -> str:
    """The distribution's ``entry_points.txt`` ("" when it has none)."""
    if not os.path.isdir(dist.metadata_dir):
        return ""  # a single-file .egg-info
    return _read(os.path.join(dist.metadata_dir, "entry_points.txt")) or ""


def pth_files(location: str) -> dict[str, str]:
    """Every ``*.pth`` file in *location* (path -> text), as site.py reads them."""
    found: dict[str, str] = {}
    for name in listdir(location):
        if name.endswith(".pth") and not name.startswith("."):
            text = _read(os.path.join(location, name))
            if text is not None:
                found[os.path.join(location, name)] = text
    return found

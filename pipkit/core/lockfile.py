"""The one way in to a lock: :func:`read_lock` reads any lock pipkit supports by its file name.

``pylock.toml`` / ``pylock.NAME.toml`` (and any other ``*.toml``: a requirements file is never
TOML) go to :mod:`pipkit.core.pylock`; everything else is a pip requirements file for
:mod:`pipkit.core.reqfile`. :func:`default_lock_path` is where a lock is looked for when none is
named: ``requirements.txt``, else ``pylock.toml``.

Pure: reads files only. Imports only the standard library, ``packaging`` and pipkit.core/errors.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from pipkit.core.defaults import DEFAULT_LOCK_NAMES
from pipkit.core.model import Lock
from pipkit.errors import UsageError

# The readers (and packaging.pylock, ~20 ms) are imported when a lock of their kind is read:
# a no-op `check` of a requirements.txt must not pay for TOML.

__all__ = ["DEFAULT_LOCK_NAMES", "default_lock_path", "is_pylock", "read_lock"]

StrPath = str | os.PathLike[str]


def is_pylock(path: StrPath) -> bool:
    """Whether *path* names a PEP 751 lock (``pylock.toml``, ``pylock.x.toml``, any ``.toml``)."""
    # Every valid pylock name ends in .toml (packaging.pylock.is_valid_pylock_path checks
    # nothing else that could make another name one): decided without importing it.
    return Path(path).suffix.lower() == ".toml"


def read_lock(
    paths: StrPath | Sequence[StrPath],
    *,
    environ: Mapping[str, str] | None = None,
    cwd: StrPath | None = None,
    extras: Iterable[str] = (),
    dependency_groups: Iterable[str] | None = None,
) -> Lock:
    """Read the lock at *paths*: one pylock.toml, or one or more requirements files.

    Several requirements files are read as ``pip install -r A -r B`` would (one Lock named after
    the first). *environ* feeds ``${VAR}`` in requirements files (default ``os.environ``); *cwd*
    is what relative requirement paths resolve against (default: the working directory).
    *extras* and *dependency_groups* select from a pylock.toml (PEP 751); a requirements file
    has neither. Raises UsageError for an unusable combination, InputError for a malformed file.
    """
    extras = tuple(extras)
    files = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    if not files:
        raise UsageError("no lock file given")
    pylocks = [path for path in files if is_pylock(path)]
    if pylocks:
        if len(files) > 1:
            raise UsageError(
                f"{os.fspath(pylocks[0])} is a pylock.toml: it cannot be combined with other locks"
            )
        from pipkit.core.pylock import read_pylock

        return read_pylock(pylocks[0], extras=extras, dependency_groups=dependency_groups)
    if extras or dependency_groups is not None:
        raise UsageError("extras and dependency groups can only be chosen from a pylock.toml")
    from pipkit.core.reqfile import read_requirements

    return read_requirements(files, environ=environ, cwd=cwd)


def default_lock_path(cwd: StrPath) -> Path:
    """``cwd/requirements.txt`` if it exists, else ``cwd/pylock.toml``; UsageError if neither."""
    for name in DEFAULT_LOCK_NAMES:
        candidate = Path(cwd) / name
        if candidate.is_file():
            return candidate
    raise UsageError(
        f"no lock file found in {os.fspath(cwd)} (looked for {' and '.join(DEFAULT_LOCK_NAMES)})"
    )

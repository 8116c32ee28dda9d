"""Finding and reading pipkit's configuration files (the checks and the merge are
:mod:`pipkit.core.config`).

* The project file: from the working folder upward, the nearest ``pyproject.toml`` that has a
  ``[tool.pipkit]`` table. A ``pyproject.toml`` without one is passed over and the search goes
  on upward, as uv does for ``[tool.uv]``.
* The user file: ``$XDG_CONFIG_HOME/pipkit/config.toml`` (default
  ``~/.config/pipkit/config.toml``), the same keys at its top level.

``PIPKIT_NO_CONFIG=1`` reads neither. Most projects have no ``[tool.pipkit]``: a
``pyproject.toml`` whose text never says ``pipkit`` where a table or key could is skipped
without parsing, and ``tomllib`` is imported only when there is something to parse, so the
stdlib-only fast path (:mod:`pipkit.fastpath`) can afford :func:`load`.

The CLI :func:`activate` s what it loaded once per command; the modules that use a setting
(:mod:`pipkit.env.mutex`, :mod:`pipkit.env.store`) ask :func:`active`. Effectful (reads
files, the working folder and the environment); imports the standard library,
:mod:`pipkit.core.config` and :mod:`pipkit.errors`; never prints.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipkit.core.config import Config, ConfigFile, merge
from pipkit.errors import UsageError

__all__ = ["NO_CONFIG", "activate", "active", "load", "project_file", "user_file"]

NO_CONFIG = "PIPKIT_NO_CONFIG"

# A cheap test before parsing: where `[tool.pipkit]`, `[tool.pipkit.x]`, `tool.pipkit.k = `
# or `pipkit = {...}` under `[tool]` could be. A false hit only costs a parse.
_MAY_HAVE_TABLE = re.compile(r"""(?m)^[ \t]*(\[[ \t]*)?(tool[ \t]*\.[ \t]*)?["']?pipkit\b""")

_ACTIVE: list[tuple[tuple[str, ...], Config]] = []


def user_file(environ: Mapping[str, str] | None = None) -> Path:
    """The user file's path (whether or not it exists)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "pipkit" / "config.toml"


def _label(path: Path, cwd: str) -> str:
    """A file as a user would type it: relative when inside the working folder."""
    full = os.path.abspath(path)
    return os.path.relpath(full, cwd) if full.startswith(cwd.rstrip(os.sep) + os.sep) else full


def _parse(path: Path, text: str, label: str) -> dict[str, Any]:
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{label}: not valid TOML: {exc}") from None


def _read(path: Path) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None


def project_file(cwd: str) -> tuple[Path, Any] | None:
    """The nearest ``pyproject.toml`` at or above ``cwd`` with a ``[tool.pipkit]`` table, and
    that table; None when there is none."""
    folder = Path(cwd)
    for place in (folder, *folder.parents):
        candidate = place / "pyproject.toml"
        if not candidate.is_file():
            continue
        text = _read(candidate)
        if text is None or not _MAY_HAVE_TABLE.search(text):
            continue
        tool = _parse(candidate, text, _label(candidate, cwd)).get("tool")
        if isinstance(tool, dict) and "pipkit" in tool:
            return candidate, tool["pipkit"]
    return None


def load(cwd: str | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Both files, checked and merged (an empty Config when there is neither).

    Raises UsageError (exit 2) naming the file and key for a wrong value or bad TOML.
    """
    env = os.environ if environ is None else environ
    if env.get(NO_CONFIG, "") not in ("", "0"):
        return Config()
    here = os.getcwd() if cwd is None else cwd
    project: ConfigFile | None = None
    found = project_file(here)
    if found is not None:
        path, table = found
        project = ConfigFile(
            _label(path, here), table, base=str(path.parent), prefix="[tool.pipkit] "
        )
    user: ConfigFile | None = None
    upath = user_file(env)
    text = _read(upath) if upath.is_file() else None
    if text is not None:
        label = str(upath)
        # The user file's lock is taken from the working folder: it names a file by habit
        # (`requirements.txt`), not one fixed place.
        user = ConfigFile(label, _parse(upath, text, label), base=here)
    return merge(project, user)


def _key(environ: Mapping[str, str]) -> tuple[str, ...]:
    return (
        os.getcwd(),
        environ.get(NO_CONFIG, ""),
        environ.get("XDG_CONFIG_HOME", ""),
        environ.get("HOME", ""),
    )


def activate(config: Config) -> None:
    """The configuration of the command now running (the CLI loaded it once)."""
    _ACTIVE[:] = [(_key(os.environ), config)]


def active() -> Config:
    """The running command's configuration: the activated one if it was loaded for this
    working folder and environment, else loaded now."""
    if _ACTIVE and _ACTIVE[0][0] == _key(os.environ):
        return _ACTIVE[0][1]
    return load()

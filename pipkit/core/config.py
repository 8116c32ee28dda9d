"""pipkit's configuration: the keys, their checks, and how the two files merge. Pure.

Two files may configure pipkit (:mod:`pipkit.env.config` finds and reads them): the
``[tool.pipkit]`` table of the project's ``pyproject.toml`` and the user file
``$XDG_CONFIG_HOME/pipkit/config.toml`` (top-level keys). :class:`ConfigFile` checks one
file's table in its constructor: a wrong value is a :class:`~pipkit.errors.UsageError` naming
the file and the key (``pyproject.toml: [tool.pipkit] installer: expected "pip" or "uv", got
"conda"``, exit 2); an unknown key is a warning, not an error (a newer pipkit's key must not
break an older one). :func:`merge` layers them as uv layers its files: a scalar from the
project file wins over the user file's; arrays (``keep``) are concatenated, the project's
first. Options and ``PIPKIT_*`` variables win over both; that is applied where each value is
used (:func:`pipkit.env.installer.choose`, :func:`pipkit.env.mutex.lock_timeout`,
:func:`pipkit.env.store.max_bytes`, the CLI for ``lock`` and ``keep``).

Standard library and :mod:`pipkit.errors` only: the stdlib-only fast path reads it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipkit.errors import UsageError

__all__ = ["KEYS", "Config", "ConfigFile", "merge"]

# Every key, with what it sets (the README's Configuration section lists the same).
KEYS = {
    "lock": "the lock check and sync use when none is named",
    "installer": 'the install engine, "pip" or "uv"',
    "keep": "packages sync never removes",
    "store-max-mb": "the offline wheel store's cap, in MB",
    "lock-timeout": "seconds to wait for another pipkit changing the environment",
}


def _shown(value: Any) -> str:
    """A value as TOML spells it, for an error line."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return json.dumps(value)
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


@dataclass(frozen=True)
class ConfigFile:
    """One file's pipkit settings, checked when made.

    ``label`` names the file in messages (``pyproject.toml``, or the user file's path);
    ``prefix`` is how a key is spelled there (``[tool.pipkit] `` in a pyproject, nothing in the
    user file); ``base`` is the folder a relative ``lock`` is taken from.
    """

    label: str
    table: Mapping[str, Any]
    base: str
    prefix: str = ""
    lock: str | None = field(init=False, default=None)
    installer: str | None = field(init=False, default=None)
    keep: tuple[str, ...] = field(init=False, default=())
    store_max_mb: float | None = field(init=False, default=None)
    lock_timeout: float | None = field(init=False, default=None)
    warnings: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        if not isinstance(self.table, Mapping):
            raise UsageError(f"{self.label}: {self.prefix.strip() or 'pipkit'}: expected a table")
        warnings: list[str] = []
        for key, value in self.table.items():
            if key == "lock":
                if not isinstance(value, str) or not value.strip():
                    self._bad(key, "a file name", value)
                path = os.path.join(self.base, os.path.expanduser(value.strip()))
                object.__setattr__(self, "lock", os.path.normpath(path))
            elif key == "installer":
                if value not in ("pip", "uv"):
                    self._bad(key, '"pip" or "uv"', value)
                object.__setattr__(self, "installer", value)
            elif key == "keep":
                if not isinstance(value, list) or not all(
                    isinstance(v, str) and v.strip() for v in value
                ):
                    self._bad(key, "an array of package names", value)
                object.__setattr__(self, "keep", tuple(v.strip() for v in value))
            elif key in ("store-max-mb", "lock-timeout"):
                what = "megabytes" if key == "store-max-mb" else "seconds"
                if (
                    isinstance(value, bool)
                    or not isinstance(value, int | float)
                    or value < 0
                    or value != value  # NaN
                ):
                    self._bad(key, f"a number of {what} >= 0", value)
                object.__setattr__(self, key.replace("-", "_"), float(value))
            else:
                from pipkit.core.suggest import closest

                near = closest(str(key), KEYS)
                hint = f"did you mean {near}?" if near else f"known: {', '.join(sorted(KEYS))}"
                warnings.append(
                    f"{self.label}: {self.prefix}unknown key {json.dumps(str(key))} "
                    f"(ignored; {hint})"
                )
        object.__setattr__(self, "warnings", tuple(warnings))

    def _bad(self, key: str, expected: str, value: Any) -> None:
        raise UsageError(
            f"{self.label}: {self.prefix}{key}: expected {expected}, got {_shown(value)}"
        )


@dataclass(frozen=True)
class Config:
    """The settings both files give, merged (None: neither file sets it).

    ``origins`` says which file set each key, for a message that names where a value came from.
    """

    lock: str | None = None
    installer: str | None = None
    keep: tuple[str, ...] = ()
    store_max_mb: float | None = None
    lock_timeout: float | None = None
    warnings: tuple[str, ...] = ()
    origins: Mapping[str, str] = field(default_factory=dict)
    files: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """Whether no file was read (the common case: everything is the built-in default)."""
        return not self.files


def merge(project: ConfigFile | None, user: ConfigFile | None) -> Config:
    """The project file over the user file: scalars from the first that sets them, ``keep``
    concatenated (project first, each name once)."""
    layers = [f for f in (project, user) if f is not None]
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for name in ("lock", "installer", "store_max_mb", "lock_timeout"):
        for layer in layers:
            value = getattr(layer, name)
            if value is not None:
                values[name] = value
                origins[name] = layer.label
                break
    keep: list[str] = []
    for layer in layers:
        keep.extend(k for k in layer.keep if k not in keep)
        if layer.keep:
            origins.setdefault("keep", layer.label)
    return Config(
        keep=tuple(keep),
        warnings=tuple(w for layer in layers for w in layer.warnings),
        origins=origins,
        files=tuple(layer.label for layer in layers),
        **values,
    )

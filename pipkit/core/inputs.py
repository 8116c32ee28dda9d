"""The inputs of a lock: reading them, their fingerprint, and the command a lock header records.

Pure (no processes, no environment): what ``pipkit lock`` resolves, what ``lock --check`` and the
staleness note compare against, and the ``pipkit lock ...`` command written into a lock's
header and read back from it.

* **Inputs** are ``requirements.in`` (pip's requirements format, read by
  :mod:`pipkit.core.reqfile`, includes and options and all) or the static ``[project]``
  dependencies of a ``pyproject.toml`` (plus optional groups chosen with ``--extra`` /
  ``--all-extras``): reading them statically needs no build backend and no network, and is
  exactly what the fingerprint covers.
* **The fingerprint** is a hash of the normalized inputs and the options that shape the lock.

Imports the standard library, ``packaging``, pipkit.core and pipkit.errors only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shlex
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

from pipkit.core.defaults import INPUT_NAMES
from pipkit.core.model import LockEntry, LockOptions
from pipkit.core.reqfile import read_requirements
from pipkit.errors import InputError, UsageError

FORMATS = ("requirements", "pylock")
_FINGERPRINT_VERSION = 1  # bump when the normalization changes: old locks then read as stale


# --------------------------------------------------------------------------------------------
# What to lock


@dataclass(frozen=True)
class LockSpec:
    """What ``pipkit lock`` was asked to do.

    ``None`` means "not given": :func:`lock` uses the default, :func:`check` takes the value
    the lock's own header recorded (so ``pipkit lock --check`` works without repeating options).
    """

    inputs: tuple[str, ...] = ()
    output: str | None = None
    format: str | None = None  # "requirements" or "pylock"; None: from the output's name
    upgrade: bool = False
    upgrade_packages: tuple[str, ...] = ()
    hashes: bool | None = None  # default True
    extras: tuple[str, ...] | None = None
    all_extras: bool | None = None
    resolver: str | None = None  # "pip-tools" (default) or "uv"


# What ``pipkit lock --resolver`` accepts; the first is the default.
RESOLVERS = ("pip-tools", "uv")


@dataclass(frozen=True)
class Inputs:
    """The lock inputs, read and normalized: what pip-compile resolves, the fingerprint covers."""

    kind: str  # "requirements" or "pyproject"
    files: tuple[str, ...]  # as given (relative to the working directory, or absolute)
    requirements: tuple[LockEntry, ...]
    constraints: tuple[LockEntry, ...] = ()
    options: LockOptions = dataclasses.field(default_factory=LockOptions)
    project_name: str | None = None
    extras: tuple[str, ...] = ()  # the optional groups included (pyproject)

    @property
    def names(self) -> frozenset[NormalizedName]:
        return frozenset(entry.name for entry in self.requirements)


def find_inputs(directory: str | os.PathLike[str] = ".") -> Path | None:
    """``requirements.in`` in *directory*, else ``pyproject.toml``, else None."""
    for name in INPUT_NAMES:
        candidate = Path(directory) / name
        if candidate.is_file():
            return candidate
    return None


def is_pyproject(path: str) -> bool:
    return path.lower().endswith(".toml")


def read_inputs(
    paths: Sequence[str],
    *,
    extras: Sequence[str] = (),
    all_extras: bool = False,
) -> Inputs:
    """Read the lock inputs (requirements files, or one pyproject.toml).

    Raises UsageError for a bad combination or a missing file, InputError (``FILE:LINE``) for
    a malformed one.
    """
    if not paths:
        raise UsageError("no lock input: give a requirements.in or pyproject.toml")
    for path in paths:
        if not os.path.isfile(path):
            raise UsageError(f"{path}: no such input file")
    pyprojects = [path for path in paths if is_pyproject(path)]
    if pyprojects:
        if len(paths) > 1:
            raise UsageError(f"{pyprojects[0]}: a pyproject.toml is locked on its own")
        return _read_pyproject(pyprojects[0], extras=extras, all_extras=all_extras)
    if extras or all_extras:
        raise UsageError("--extra/--all-extras select optional groups of a pyproject.toml input")
    read = read_requirements(list(paths))
    return Inputs(
        kind="requirements",
        files=tuple(paths),
        requirements=read.entries,
        constraints=read.constraints,
        options=read.options,
    )


def first_line(exc: Exception) -> str:
    """packaging's parse errors span several lines (a caret diagram): keep the message."""
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def load_toml(text: str, path: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        location = f"{path}:{match.group(1)}" if match else path
        raise InputError(f"not valid TOML ({exc})", location=location) from None


def _line_of(text: str, needle: str) -> int:
    """The 1-based line where *needle* (a dependency string) first appears, else 1."""
    for quoted in (json.dumps(needle), f"'{needle}'", needle):
        index = text.find(quoted)
        if index >= 0:
            return text.count("\n", 0, index) + 1
    return 1


def _read_pyproject(path: str, *, extras: Sequence[str], all_extras: bool) -> Inputs:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", location=path) from None
    data = load_toml(text, path)
    project = data.get("project")
    if not isinstance(project, dict):
        raise InputError("no [project] table to lock the dependencies of", location=path)
    if "dependencies" in (project.get("dynamic") or []):
        raise InputError(
            "[project] dependencies are dynamic: pipkit locks static dependencies only "
            "(list them in the dependencies array, or lock a requirements.in)",
            location=path,
        )
    raw_name = project.get("name")
    project_name = canonicalize_name(raw_name) if isinstance(raw_name, str) else None
    optional = project.get("optional-dependencies") or {}
    if not isinstance(optional, dict):
        raise InputError("[project.optional-dependencies] must be a table", location=path)
    groups: dict[str, str] = {canonicalize_name(key): key for key in optional}
    if all_extras:
        chosen = list(groups)
    else:
        chosen = []
        for extra in extras:
            key = canonicalize_name(extra)
            if key not in groups:
                known = ", ".join(sorted(groups)) or "none"
                raise UsageError(
                    f"--extra {extra}: {path} has no optional dependency group {extra!r} "
                    f"(it has: {known})"
                )
            chosen.append(key)
    entries: list[LockEntry] = []
    seen_groups: set[str] = set()

    def add(strings: object, where: str, pending: list[str]) -> None:
        if not isinstance(strings, list) or not all(isinstance(s, str) for s in strings):
            raise InputError(f"{where} must be an array of strings", location=path)
        for string in strings:
            location = f"{path}:{_line_of(text, string)}"
            try:
                req = Requirement(string)
            except InvalidRequirement as exc:
                raise InputError(
                    f"invalid requirement {string!r}: {first_line(exc)}", location=location
                ) from None
            name = canonicalize_name(req.name)
            if project_name is not None and name == project_name:
                # "myproject[test]" inside an optional group: that group's dependencies too.
                pending.extend(canonicalize_name(e) for e in req.extras)
                continue
            entries.append(
                LockEntry(
                    name=name,
                    raw_name=req.name,
                    source=location,
                    specifier=req.specifier,
                    extras=frozenset(canonicalize_name(e) for e in req.extras),
                    marker=req.marker,
                    url=req.url,
                    line=str(req),
                )
            )

    pending: list[str] = []
    add(project.get("dependencies", []), "[project] dependencies", pending)
    pending.extend(chosen)
    while pending:
        group = pending.pop(0)
        if group in seen_groups:
            continue
        seen_groups.add(group)
        if group not in groups:
            raise InputError(f"no optional dependency group {group!r}", location=path)
        add(optional[groups[group]], f"optional-dependencies.{groups[group]}", pending)
    return Inputs(
        kind="pyproject",
        files=(path,),
        requirements=tuple(entries),
        project_name=project_name,
        extras=tuple(sorted(seen_groups)),
    )


# --------------------------------------------------------------------------------------------
# Fingerprint


def _entry_key(entry: LockEntry) -> str:
    extras = ",".join(sorted(entry.extras))
    text = entry.name + (f"[{extras}]" if extras else "")
    if entry.editable:
        text = "-e " + text
    if entry.url:
        text += " @ " + entry.url
    text += str(entry.specifier)  # packaging sorts the clauses
    if entry.marker is not None:
        text += " ; " + str(entry.marker)
    if entry.config_settings:
        text += " -C " + " -C ".join(entry.config_settings)
    if entry.hashes:
        text += " --hash " + " --hash ".join(sorted(entry.hashes))
    return text


def fingerprint(inputs: Inputs, *, format: str, hashes: bool) -> str:
    """``sha256:<hex>`` of the normalized inputs and the options that shape the lock.

    Normalized: requirement order, comments, spelling of names (``Foo_Bar`` / ``foo-bar``) and
    of specifiers do not count; what pip-compile would resolve differently does. The file names
    do not count either, so a project can be moved or renamed without its lock going stale.
    """
    folder = os.path.abspath(os.path.dirname(inputs.files[0])) if inputs.files else ""
    links = tuple(
        os.path.relpath(link, folder)
        if folder and os.path.isabs(link) and os.path.commonpath([link, folder]) == folder
        else link
        for link in inputs.options.find_links
    )
    # A find-links folder beside the inputs counts by its relative path: moving the project
    # does not make its lock stale.
    options = dataclasses.asdict(dataclasses.replace(inputs.options, find_links=links))
    payload = {
        "v": _FINGERPRINT_VERSION,
        "kind": inputs.kind,
        "requirements": sorted(_entry_key(e) for e in inputs.requirements),
        "constraints": sorted(_entry_key(e) for e in inputs.constraints),
        # Index options keep their order: it is pip's search order.
        "options": {key: value for key, value in options.items() if value},
        "extras": sorted(inputs.extras),
        "format": format,
        "hashes": hashes,
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


# --------------------------------------------------------------------------------------------
# The regenerate command, written into the header and read back


def command_for(inputs: Sequence[str], output: Path, spec: LockSpec, fmt: str) -> str:
    """``pipkit lock ...`` with paths relative to the lock's folder (run it from there)."""
    base = output.parent

    def rel(path: str) -> str:
        return os.path.relpath(os.path.abspath(path), os.path.abspath(base))

    words = ["pipkit", "lock", *(rel(path) for path in inputs), "-o", rel(str(output))]
    if fmt == "pylock":
        words += ["--format", "pylock"]
    elif spec.hashes is False:
        words.append("--no-hashes")
    if spec.all_extras:
        words.append("--all-extras")
    else:
        for extra in spec.extras or ():
            words += ["--extra", extra]
    if spec.resolver and spec.resolver != RESOLVERS[0]:
        words += ["--resolver", spec.resolver]
    return shlex.join(words)


def spec_from_header(command: str | None, lock_path: str | os.PathLike[str]) -> LockSpec | None:
    """The LockSpec a lock's ``pipkit lock ...`` header command describes (paths made relative
    to the working directory again), or None when the lock was not made by pipkit."""
    if not command:
        return None
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    if words[:2] != ["pipkit", "lock"]:
        return None
    base = os.path.dirname(os.fspath(lock_path))
    inputs: list[str] = []
    output: str | None = None
    fmt: str | None = None
    hashes = True
    extras: list[str] = []
    all_extras = False
    resolver: str | None = None
    rest = iter(words[2:])
    for word in rest:
        if word in ("-o", "--output"):
            output = next(rest, None)
        elif word == "--format":
            fmt = next(rest, None)
        elif word == "--no-hashes":
            hashes = False
        elif word == "--extra":
            value = next(rest, None)
            if value:
                extras.append(value)
        elif word == "--all-extras":
            all_extras = True
        elif word == "--resolver":
            resolver = next(rest, None)
        elif word == "--upgrade-package":
            next(rest, None)
        elif not word.startswith("-"):
            inputs.append(word)

    def here(path: str) -> str:
        return os.path.normpath(os.path.join(base, path)) if base else path

    return LockSpec(
        inputs=tuple(here(path) for path in inputs),
        output=here(output) if output else None,
        format=fmt,
        hashes=hashes,
        extras=tuple(extras),
        all_extras=all_extras,
        resolver=resolver,
    )

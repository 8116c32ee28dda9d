"""Is a lock stale? Offline answers to whether a lock still matches its inputs.

A lock is stale when the fingerprint of its inputs changed (``pipkit lock`` locks), an input is
not satisfied by its pin (name, specifier, extras, marker), or a pin is reached by no input any
more (pip-compile's ``# via`` annotations). Locks without a fingerprint (plain pip-compile, uv)
are judged by the last two rules alone. Each reason is one line naming the file.

Pure: reads the lock and its inputs, no processes. Imports the standard library, ``packaging``,
pipkit.core and pipkit.errors only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from packaging.markers import default_environment
from packaging.utils import NormalizedName, canonicalize_name

from pipkit.core.inputs import (
    Inputs,
    LockSpec,
    find_inputs,
    fingerprint,
    read_inputs,
    spec_from_header,
)
from pipkit.core.lockfile import read_lock
from pipkit.core.model import Lock, LockEntry, marker_holds
from pipkit.core.reqfile import read_via

# --------------------------------------------------------------------------------------------
# Staleness


def _check_spec(spec: LockSpec, lock_path: Path, recorded: LockSpec | None) -> LockSpec:
    """*spec* with what it does not say taken from the lock's header."""
    base = recorded or LockSpec()
    return LockSpec(
        inputs=spec.inputs or base.inputs,
        output=str(lock_path),
        format=spec.format or base.format,
        hashes=spec.hashes if spec.hashes is not None else base.hashes,
        extras=spec.extras if spec.extras is not None else base.extras,
        all_extras=spec.all_extras if spec.all_extras is not None else base.all_extras,
    )


def staleness(
    lock_path: str | os.PathLike[str],
    inputs: Sequence[str | os.PathLike[str]] | None = None,
    *,
    spec: LockSpec | None = None,
    environment: Mapping[str, str] | None = None,
) -> list[str]:
    """Why the lock at *lock_path* no longer matches its inputs; [] when it does. No network.

    *inputs* default to those the lock's header names (``pipkit lock`` locks), else the
    ``requirements.in`` / ``pyproject.toml`` next to the lock; with none found, [] (nothing to
    compare with). *environment* is the marker environment inputs' markers are evaluated in
    (default: the running interpreter's). Each reason is one line, naming the file.
    Raises InputError for a malformed lock or input.
    """
    lock_file = Path(lock_path)
    lock_obj = read_lock(lock_file)
    recorded = spec_from_header(lock_obj.header.command, lock_file)
    effective = _check_spec(spec or LockSpec(), lock_file, recorded)
    paths = [os.fspath(p) for p in inputs] if inputs else list(effective.inputs)
    paths = [p for p in paths if os.path.isfile(p)] if not inputs else paths
    if not paths:
        found = find_inputs(lock_file.parent)
        if found is None:
            return []
        paths = [str(found)]
    read = read_inputs(paths, extras=effective.extras or (), all_extras=bool(effective.all_extras))
    reasons: list[str] = []
    if lock_obj.header.fingerprint:
        fmt = lock_obj.format
        hashes = effective.hashes is not False or fmt == "pylock"
        now = fingerprint(read, format=fmt, hashes=hashes)
        if now != lock_obj.header.fingerprint:
            was = lock_obj.header.fingerprint.removeprefix("sha256:")[:12]
            reasons.append(
                f"{lock_file}: the inputs or lock options changed since it was made "
                f"({', '.join(paths)}: "
                f"fingerprint {now[7:19]}, was {was})"
            )
    env: dict[str, str] = (
        dict(environment) if environment is not None else dict(default_environment())  # type: ignore[arg-type]
    )
    # uv's requirements output and pylock.toml do not say which extras a pin was resolved with.
    uv = (lock_obj.header.command or "").startswith("uv ")
    # pip-compile's --strip-extras (its default from 8.0) drops them too: a lock without a
    # pipkit fingerprint is held to extras only when some pin in it carries extras.
    check_extras = (
        not uv
        and lock_obj.format == "requirements"
        and (bool(lock_obj.header.fingerprint) or any(e.extras for e in lock_obj.entries))
    )
    # uv rewrites the markers it copies (joins and simplifies them): a uv-resolved lock's
    # markers are covered by its fingerprint, not compared with the inputs'.
    check_markers = not uv and not (recorded is not None and recorded.resolver == "uv")
    reasons += _unsatisfied(
        read, lock_obj, env, check_extras=check_extras, check_markers=check_markers
    )
    if lock_obj.format == "requirements":
        reasons += _unreached(read, lock_file)
    return reasons


def _unsatisfied(
    inputs: Inputs,
    lock_obj: Lock,
    env: Mapping[str, str],
    *,
    check_extras: bool,
    check_markers: bool = True,
) -> list[str]:
    pins: dict[NormalizedName, list[LockEntry]] = {}
    for entry in lock_obj.entries:
        pins.setdefault(entry.name, []).append(entry)
    reasons: list[str] = []
    for req in (*inputs.requirements, *inputs.constraints):
        is_constraint = req in inputs.constraints
        if not marker_holds(req.marker, env):
            continue
        candidates = pins.get(req.name)
        shown = req.line or req.raw_name
        if not candidates:
            if not is_constraint:
                reasons.append(f"{req.source}: {shown} is not in the lock")
            continue
        applicable = [pin for pin in candidates if pin.applies(dict(env))]
        pin = (applicable or candidates)[0]
        version = pin.pinned_version
        if req.url or pin.url:
            if (req.url or "").rstrip("/") != (pin.url or "").rstrip("/"):
                reasons.append(
                    f"{req.source}: {shown} is locked as {pin.line or pin.raw_name} ({pin.source})"
                )
            continue
        if version is None:
            reasons.append(f"{req.source}: {pin.raw_name} is not pinned in the lock ({pin.source})")
            continue
        if not req.specifier.contains(version, prereleases=True):
            reasons.append(
                f"{req.source}: {shown} is not satisfied by the lock's "
                f"{pin.raw_name}=={version} ({pin.source})"
            )
        if is_constraint:
            continue
        missing = sorted(req.extras - pin.extras) if check_extras else []
        if missing:
            reasons.append(
                f"{req.source}: {shown} asks for extra(s) {', '.join(missing)} the lock's "
                f"{pin.raw_name} was not resolved with ({pin.source})"
            )
        if not applicable:
            reasons.append(
                f"{req.source}: {shown} applies here but the lock's {pin.raw_name} only applies "
                f"where {pin.marker} ({pin.source})"
            )
        elif (
            pin.marker is not None
            and pin.dependency_groups is None
            # pip-compile copies an input's marker onto its pin: a different one means the
            # input's marker changed (or was dropped) since.
            and (req.marker is None or str(req.marker) != str(pin.marker))
            and check_markers
        ):
            reasons.append(
                f"{req.source}: {shown} has a different marker than the lock's "
                f"{pin.raw_name} ; {pin.marker} ({pin.source})"
            )
    return reasons


_INPUT_REF_RE = re.compile(r"^(-r\s+\S.*|.+\(\S*\.toml\))$")


def _unreached(inputs: Inputs, lock_file: Path) -> list[str]:
    """Pins that no input reaches any more, following pip-compile's ``# via`` annotations."""
    via = read_via(lock_file)
    if not via:
        return []
    children: dict[NormalizedName, set[NormalizedName]] = {}
    roots: set[NormalizedName] = set()
    for name, items in via.items():
        for item in items:
            if item.startswith("-c ") or _INPUT_REF_RE.match(item):
                continue  # input references: whether the input still names it is below
            parent = re.split(r"[\[\s(]", item, maxsplit=1)[0]
            children.setdefault(canonicalize_name(parent), set()).add(name)
    roots = {name for name in via if name in inputs.names}
    reached: set[NormalizedName] = set()
    stack = list(roots)
    while stack:
        name = stack.pop()
        if name in reached:
            continue
        reached.add(name)
        stack.extend(children.get(name, ()))
    return [
        f"{lock_file}: {name} is reached by no input any more (was via {', '.join(items)})"
        for name, items in via.items()
        if name not in reached
    ]

"""``pipkit install --save`` / ``uninstall --save``: edit the lock inputs, relock, sync.

All or nothing: the edited inputs and the lock are put back if the relock or the sync fails
(the sync itself is a transaction). The input is ``requirements.in`` (created if there is no
input yet) or ``pyproject.toml`` (or the inputs the lock's header names); the text edits keep
the user's formatting (:mod:`pipkit.core.edit`).

Never prints: the relock's progress and the written lock go to :class:`SaveHooks`; the result
carries both the lock written and the sync's result. The sync changes only what the edit
implies: packages installed outside the old lock (plain pip) are kept unless ``exact``.
Imports pipkit.ops.lock and pipkit.ops.sync, pipkit.env.dists, pipkit.core, pipkit.fsutil and
pipkit.errors.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name

from pipkit.core.defaults import DEFAULT_LOCK_NAMES
from pipkit.core.edit import (
    add_pyproject_dependency,
    add_requirement_line,
    remove_pyproject_dependency,
    remove_requirement_line,
)
from pipkit.core.inputs import LockSpec, find_inputs, first_line, is_pyproject, spec_from_header
from pipkit.core.lockfile import read_lock
from pipkit.errors import UsageError
from pipkit.fsutil import atomic_write_bytes, atomic_write_text
from pipkit.ops.lock import LockResult, Progress, lock
from pipkit.ops.sync import SyncResult, load_lock, sync

if TYPE_CHECKING:
    from pipkit.env.target import Target
    from pipkit.ops.progress import Reporter


@dataclass(frozen=True)
class SaveHooks:
    """How a save reports while it works: the relock's steps, the lock it wrote, then the
    sync's plan for ``confirm`` (None: go ahead; False back: everything is put back)."""

    progress: Progress | None = None
    on_locked: Callable[[LockResult], None] | None = None
    confirm: Callable[[SyncResult], bool] | None = None
    # The sync's install step: pip's output kept (shown on failure), its packages reported.
    capture_pip: bool = False
    install_progress: Reporter | None = None


@dataclass(frozen=True)
class SaveResult:
    """What a save did: the lock it wrote and the sync that followed."""

    lock: LockResult
    sync: SyncResult

    @property
    def declined(self) -> bool:
        """The sync was declined: the inputs and the lock were put back, nothing changed."""
        return not (self.sync.applied or self.sync.plan.is_noop)


class _Declined(Exception):
    """Raised inside the all-or-nothing block so a declined sync puts the files back."""

    def __init__(self, result: SaveResult) -> None:
        super().__init__("declined")
        self.result = result


@contextlib.contextmanager
def _all_or_nothing(paths: Sequence[Path]) -> Iterator[None]:
    """Restore *paths* (contents, or absence) if the block fails in any way."""
    saved = {path: path.read_bytes() if path.is_file() else None for path in paths}
    try:
        yield
    except BaseException:
        for path, data in saved.items():
            with contextlib.suppress(OSError):
                if data is None:
                    path.unlink(missing_ok=True)
                else:
                    atomic_write_bytes(path, data)
        raise


def _save_context(create: bool) -> tuple[list[Path], Path, LockSpec]:
    """The input files (the first is where new packages go), the lock to remake, and how it
    was made last time (its header), so the relock keeps its options."""
    lock_path = next(
        (Path(name) for name in DEFAULT_LOCK_NAMES if Path(name).is_file()),
        Path(DEFAULT_LOCK_NAMES[0]),
    )
    recorded: LockSpec | None = None
    if lock_path.is_file():
        recorded = spec_from_header(read_lock(lock_path).header.command, lock_path)
    if recorded is not None and recorded.inputs:
        existing = [Path(p) for p in recorded.inputs if os.path.isfile(p)]
        if existing and len(existing) == len(recorded.inputs):
            return existing, lock_path, dataclasses.replace(recorded, output=str(lock_path))
    found = find_inputs(".")
    if found is None:
        if not create:
            raise UsageError("no requirements.in or pyproject.toml here to remove packages from")
        found = Path("requirements.in")
    base = recorded or LockSpec()
    spec = dataclasses.replace(base, inputs=(str(found),), output=str(lock_path))
    return [found], lock_path, spec


def _outside(target: Target, lock_path: Path) -> set[str]:
    """What is installed but not in the lock as it is before the edit: the user put it there
    some other way (plain pip), so a save keeps it, as ``uv add`` does."""
    from pipkit.env.dists import installed

    locked: set[str] = set()
    if lock_path.is_file():
        locked = {str(entry.name) for entry in load_lock([str(lock_path)]).entries}
    return {str(name) for name in installed(target.sys_path)} - locked


def _sync(
    target: Target,
    lock_path: Path,
    command: str,
    hooks: SaveHooks,
    keep: set[str],
    installer: str = "pip",
) -> SyncResult:
    """Bring the target in line with the new lock (:mod:`pipkit.ops.sync`, all or nothing),
    keeping ``keep``.

    Failures are raised (OperationError...), so the caller's undo restores the files. An empty
    lock is allowed: removing the last input is asked for explicitly. The configuration's
    ``keep`` (:mod:`pipkit.env.config`) is kept too, as by ``pipkit sync``.
    """
    from pipkit.env.config import active

    return sync(
        target,
        load_lock([str(lock_path)]),
        keep=sorted(keep | set(active().keep)),
        yes=hooks.confirm is None,
        confirm=hooks.confirm,
        allow_empty=True,
        command=command,
        installer=installer,
        capture_pip=hooks.capture_pip,
        progress=hooks.install_progress,
    )


def _parse_specs(packages: Sequence[str]) -> list[tuple[str, NormalizedName]]:
    specs = []
    for package in packages:
        try:
            req = Requirement(package)
        except InvalidRequirement as exc:
            raise UsageError(f"{package!r} is not a requirement ({first_line(exc)})") from None
        specs.append((str(req), canonicalize_name(req.name)))
    return specs


def _relock_and_sync(
    target: Target,
    edits: Mapping[Path, str],
    lock_path: Path,
    spec: LockSpec,
    command: str,
    hooks: SaveHooks,
    exact: bool,
    installer: str = "pip",
) -> SaveResult:
    """Write the edited inputs, relock, sync: on any failure, or a no, every file is put back.

    Only what the edit implies changes: packages installed outside the old lock are kept
    unless ``exact``.
    """
    keep = set() if exact else _outside(target, lock_path)
    try:
        with _all_or_nothing([*edits, lock_path]):
            for path, text in edits.items():
                atomic_write_text(path, text)
            locked = lock(target, spec, progress=hooks.progress)
            if hooks.on_locked is not None:
                hooks.on_locked(locked)
            result = SaveResult(locked, _sync(target, lock_path, command, hooks, keep, installer))
            if result.declined:
                raise _Declined(result)
            return result
    except _Declined as declined:
        return declined.result


def install_save(
    target: Target,
    packages: Sequence[str],
    *,
    extra: Sequence[str] = (),
    command: str = "pipkit install --save",
    hooks: SaveHooks | None = None,
    exact: bool = False,
    installer: str = "pip",
) -> SaveResult:
    """``pipkit install PKG... --save``: add to the input, relock, sync; all or nothing.

    The input is ``requirements.in`` (created if there is no input yet) or ``pyproject.toml``
    (or the first input the lock's header names); the lock is the ``requirements.txt`` (else
    ``pylock.toml``) here, remade with the options its header recorded and the new packages
    upgraded to their newest allowed versions. The sync keeps what was installed outside the
    old lock unless ``exact``.
    """
    if extra:
        raise UsageError(
            f"pip options ({' '.join(extra)}) cannot be saved in the lock inputs: "
            "install without --save, or put index options in requirements.in"
        )
    if not packages:
        raise UsageError("--save needs the packages to add")
    specs = _parse_specs(packages)
    inputs, lock_path, spec = _save_context(create=True)
    spec = dataclasses.replace(spec, upgrade_packages=tuple(name for _, name in specs))
    input_path = inputs[0]
    text = input_path.read_text(encoding="utf-8") if input_path.is_file() else ""
    for requirement, _name in specs:
        if is_pyproject(str(input_path)):
            text = add_pyproject_dependency(text, requirement, path=str(input_path))
        else:
            text = add_requirement_line(text, requirement)
    return _relock_and_sync(
        target,
        {input_path: text},
        lock_path,
        spec,
        command,
        hooks or SaveHooks(),
        exact,
        installer,
    )


def uninstall_save(
    target: Target,
    packages: Sequence[str],
    *,
    command: str = "pipkit uninstall --save",
    hooks: SaveHooks | None = None,
    exact: bool = False,
    installer: str = "pip",
) -> SaveResult:
    """``pipkit uninstall PKG... --save``: remove from the inputs, relock, sync; all or nothing.

    A package no input lists is an error (exit 2): nothing is changed.
    """
    if not packages:
        raise UsageError("--save needs the packages to remove")
    inputs, lock_path, spec = _save_context(create=False)
    texts = {path: path.read_text(encoding="utf-8") for path in inputs}
    for package in packages:
        found = False
        for path, text in texts.items():
            if is_pyproject(str(path)):
                edited = remove_pyproject_dependency(text, package, path=str(path))
            else:
                edited = remove_requirement_line(text, package)
            if edited is not None:
                texts[path] = edited
                found = True
        if not found:
            where = ", ".join(str(path) for path in inputs)
            raise UsageError(f"{where}: {package} is not listed there")
    edits = {path: text for path, text in texts.items() if text != path.read_text(encoding="utf-8")}
    hooks = hooks or SaveHooks()
    return _relock_and_sync(target, edits, lock_path, spec, command, hooks, exact, installer)

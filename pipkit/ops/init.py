"""``pipkit init [--python PY] [PKG...]``: a new project in one command, all or nothing.

In a folder: create ``.venv``, write ``requirements.in`` with PKG... (when it is missing),
lock it (:func:`pipkit.ops.lock.lock`, into ``requirements.txt``), sync the new venv with the
lock (:func:`pipkit.ops.sync.sync`), and hand back the next steps.

* **Refusals first**, before anything is made (exit 2, one line): an existing ``.venv``, an
  existing ``requirements.txt`` (the lock init would write), PKG... given while a
  ``requirements.in`` exists, a PKG that is not a requirement, an interpreter that is not
  there. Without PKG, the inputs are the ``requirements.in`` or ``pyproject.toml`` already
  there, else an empty ``requirements.in`` is written.
* **The interpreter**: ``--python PY`` (a path, or a name on PATH such as ``python3.12``),
  else the one running pipkit, with either engine, so ``pipkit init`` gives the same Python
  whichever installer is chosen. The stdlib's ``python -m venv`` makes the venv (with pip,
  from ensurepip: offline); with ``--installer uv``, ``uv venv`` does (no pip inside, as uv
  makes them; pipkit's uv engine needs none) and the lock is resolved by ``uv pip compile``.
* **All or nothing, and why the venv is built in place**: a venv's scripts and activate files
  carry its absolute path (``bin/activate``'s ``VIRTUAL_ENV``, every script's ``#!``), so a
  venv built beside and renamed into place would have broken scripts. Instead init claims
  ``.venv`` with ``mkdir`` (which fails if anything took the name meanwhile, so it never
  adopts a folder it did not make), builds there, and records what it made. If a step fails
  or Ctrl-C comes, everything init made is removed (the venv, the ``requirements.in`` it
  wrote, the lock) and the error says which step failed and what was removed; a folder
  init did not make is never touched. The history of the new venv (pipkit's ledger, outside
  the folder) may keep the record of a sync that was undone.

Never prints: slow steps go through the ``progress`` callback. Imports pipkit.core,
pipkit.env, pipkit.ops, pipkit.fsutil and pipkit.errors.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipkit.errors import PipkitError, UsageError
from pipkit.ops.lock import Progress, _quiet

__all__ = ["InitFailed", "InitResult", "init"]

VENV = ".venv"
INPUTS = "requirements.in"
LOCK = "requirements.txt"


class InitFailed(PipkitError):
    """A step of init failed and what init made was removed; keeps the step's exit code."""

    def __init__(self, message: str, *, exit_code: int, detail: str | None = None) -> None:
        super().__init__(message, detail=detail)
        self.exit_code = exit_code


@dataclass(frozen=True)
class InitResult:
    """What init made."""

    folder: str
    venv: str  # relative to the folder: ".venv"
    python: str  # the new venv's Python version
    creator: str  # "venv" or "uv venv"
    inputs: str  # "requirements.in" or "pyproject.toml"
    wrote_inputs: bool
    lock: str
    packages: tuple[tuple[str, str], ...]  # (name, version) installed from the lock
    next_steps: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "folder": self.folder,
            "venv": self.venv,
            "python": self.python,
            "creator": self.creator,
            "inputs": self.inputs,
            "wrote_inputs": self.wrote_inputs,
            "lock": self.lock,
            "packages": [{"name": n, "version": v} for n, v in self.packages],
            "next_steps": list(self.next_steps),
        }


def _interpreter(python: str | None) -> str:
    if python is None:
        return sys.executable
    found = python if os.sep in python else shutil.which(python)
    if found is None or not os.path.isfile(found) or not os.access(found, os.X_OK):
        raise UsageError(f"--python {python}: no such interpreter")
    return found


def _check_packages(packages: Sequence[str]) -> None:
    from packaging.requirements import InvalidRequirement, Requirement

    for package in packages:
        if not package.strip():
            raise UsageError("empty package name: name a package, as in pipkit init requests")
        try:
            Requirement(package)
        except InvalidRequirement as exc:
            first = (str(exc).splitlines() or [""])[0]
            raise UsageError(f"{package}: not a requirement ({first})") from None


def _refusal(folder: Path, packages: Sequence[str]) -> str | None:
    if os.path.lexists(folder / VENV):
        return f"{VENV} already exists: pipkit init makes a new one (pipkit sync fills it)"
    if os.path.lexists(folder / LOCK):
        return f"{LOCK} already exists: pipkit init does not overwrite a lock (see pipkit lock)"
    if packages and os.path.lexists(folder / INPUTS):
        return (
            f"{INPUTS} already exists: pipkit init does not change it "
            "(run pipkit init without packages, then pipkit install --save PKG)"
        )
    return None


def _activate_line(venv: Path) -> str:
    if os.name == "nt":
        return f"{venv.name}\\Scripts\\activate"
    return f"source {venv.name}/bin/activate"


def init(
    folder: str | None = None,
    *,
    python: str | None = None,
    packages: Sequence[str] = (),
    installer: str = "pip",
    progress: Progress | None = None,
) -> InitResult:
    """Make the project in ``folder`` (default: the working directory); see the module."""
    here = Path(folder or os.getcwd()).absolute()
    _check_packages(packages)
    refusal = _refusal(here, packages)
    if refusal is not None:
        raise UsageError(refusal)
    interpreter = _interpreter(python)
    step = progress or _quiet
    made: list[Path] = []  # what init made, to remove on failure (newest last)
    stage = "creating the venv"
    try:
        venv = here / VENV
        os.mkdir(venv)  # claims the name: fails if anything took it since the check
        made.append(venv)
        with step(f"Creating {VENV}..."):
            creator = _create_venv(venv, interpreter, installer)
        from pipkit.env.target import resolve_target

        target = resolve_target(str(venv))
        inputs = here / INPUTS
        wrote_inputs = False
        if packages or not (inputs.exists() or (here / "pyproject.toml").exists()):
            from pipkit.fsutil import atomic_write_text

            stage = f"writing {INPUTS}"
            made.append(inputs)
            atomic_write_text(inputs, "".join(f"{p.strip()}\n" for p in packages))
            wrote_inputs = True
        elif not inputs.exists():
            inputs = here / "pyproject.toml"
        stage = "locking"
        from pipkit.ops.lock import LockSpec, lock

        output = here / LOCK
        made.append(output)
        lock(
            target,
            LockSpec(
                inputs=(os.path.relpath(inputs),),
                output=os.path.relpath(output),
                resolver="uv" if installer == "uv" else None,
            ),
            progress=step,
        )
        stage = "syncing"
        from pipkit.core.lockfile import read_lock
        from pipkit.ops.sync import sync

        read = read_lock(output, cwd=str(here))
        with step(f"Installing into {VENV}..."):
            sync(
                target,
                read,
                yes=True,
                allow_empty=True,
                capture_pip=True,
                command="pipkit init " + " ".join(packages),
                installer=installer,
            )
    except PipkitError as exc:
        removed = _undo(made)
        raise InitFailed(
            f"init failed {stage}, nothing kept{removed}: {exc}",
            exit_code=exc.exit_code,
            detail=exc.detail,
        ) from None
    except KeyboardInterrupt:
        raise KeyboardInterrupt(f"init undone{_undo(made)}") from None
    except OSError as exc:
        removed = _undo(made)
        where = exc.filename or stage
        raise InitFailed(
            f"init failed {stage}, nothing kept{removed}: {where}: {exc.strerror or exc}",
            exit_code=1,
        ) from None
    pins = tuple(
        (entry.raw_name, entry.pinned_version or "") for entry in read.applicable(target.marker_env)
    )
    return InitResult(
        folder=str(here),
        venv=VENV,
        python=target.marker_env.get("python_full_version", target.python_version),
        creator=creator,
        inputs=inputs.name,
        wrote_inputs=wrote_inputs,
        lock=LOCK,
        packages=pins,
        next_steps=(_activate_line(venv), "pipkit check", "pipkit install --save PKG"),
    )


def _create_venv(venv: Path, interpreter: str, installer: str) -> str:
    """Make the venv in the (empty) folder ``venv``; which tool made it."""
    from pipkit.env import proc
    from pipkit.errors import OperationError

    if installer == "uv":
        from pipkit.env.installer import find_uv

        result = proc.uv(find_uv(), ["venv", str(venv), "--python", interpreter], capture=True)
        creator = "uv venv"
    else:
        result = proc.run([interpreter, "-m", "venv", str(venv)], timeout=600)
        creator = "venv"
    if result.returncode != 0:
        lines = (result.stderr or result.stdout or "").strip().splitlines()
        raise OperationError(f"{creator} failed: {lines[-1] if lines else 'no output'}")
    return creator


def _undo(made: list[Path]) -> str:
    """Remove what init made (newest first); ' (removed X, Y)' for the message, or ''."""
    removed: list[str] = []
    for path in reversed(made):
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif os.path.lexists(path):
                path.unlink()
            else:
                continue
        except OSError:
            continue  # said below: only what was removed is named
        removed.append(path.name)
    return f" (removed {', '.join(removed)})" if removed else ""

"""All-or-nothing changes to an environment: stash, run pip once, verify, then commit or undo.

Every change pipkit makes (``sync``, and ``install``/``uninstall``/``upgrade`` through
``pipkit.ops.family.change``) runs as one transaction, inside the environment mutex
(:mod:`pipkit.env.mutex`) and the history's recording:

1. A journal (``<state_dir>/transaction/journal.json``, written atomically) records the plan,
   what is about to be stashed, the stash folder and the phase.
2. Every distribution to be removed or replaced is *stashed*: its files (per its ``RECORD``,
   scripts and compiled ``__pycache__`` files included) and its whole ``.dist-info`` folder are
   renamed into ``<state_dir>/transaction/stash/root/<absolute path>``. The stash mirrors the
   file system, so it describes itself: putting a file back needs nothing but its stash path,
   and a crash half-way through stashing loses nothing (each rename is atomic). Distributions
   without a RECORD (egg-info, ``setup.py develop``) cannot be stashed and are refused up front.
3. A snapshot of the folders pip writes into (site dirs, their ``__pycache__``, the scripts
   folder, the folders the stashed files lived in) is taken; then ONE pip run installs what is
   new (pip sees nothing of the replaced distributions, so it only adds).
4. The result is verified (the caller's check, plus one ``.dist-info`` per expected project).
5. Commit: the stash goes to ``ledger.archive`` (repacked as wheels for offline rollback), then
   the stash and the journal are deleted. On any failure, Ctrl-C or SIGTERM instead: whatever pip
   added is removed (new distributions by their RECORD, new entries in the snapshotted folders,
   which covers half-installed wheels and the ``.pyc`` files pip compiled), the stash is moved
   back, and the journal is deleted last.

A SIGKILL leaves the journal behind; :func:`recover` (``pipkit recover``) finishes the commit
when pip had finished and the environment matches the plan, and undoes otherwise. pip inherits
the environment lock's file descriptor, so a pip that outlives a killed pipkit keeps the lock
until it exits and ``recover`` never races it. Critical sections (stashing, undo, commit) defer
SIGINT/SIGTERM until they are done.

Effectful. Imports the standard library, ``pipkit.errors``, ``pipkit.fsutil`` and (lazily)
``pipkit.env.proc``/``mutex``/``dists``/``ledger``; never ``rich`` or ``typer``, and never
writes to stdout/stderr (warnings go through ``logging``) but from the standalone ``main``.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import json
import logging
import os
import shutil
import signal
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from pipkit.core.defaults import JOURNAL_FILE, PARKED_DIR, STORE_DIR, TRANSACTION_DIR
from pipkit.errors import InputError, OperationError

if TYPE_CHECKING:
    from pipkit.core.model import InstalledDist
    from pipkit.env.ledger import Recorder
    from pipkit.env.mutex import Mutex
    from pipkit.env.target import Target

__all__ = [
    "STASH_MIRROR",
    "Session",
    "execute",
    "pending_notice",
    "read_journal",
    "recover",
    "refuse_if_pending",
    "session",
    "transaction_dir",
]

_log = logging.getLogger(__name__)

_TXN = TRANSACTION_DIR
_JOURNAL = JOURNAL_FILE
_SNAPSHOT = "snapshot.json"
_STASH = "stash"
_JOURNAL_VERSION = 1
# Phases in the order they are reached. Up to "installing", pip had not finished: undo.
PHASES = ("prepared", "stashed", "installing", "installed", "committing")


def transaction_dir(target: Target) -> Path:
    return target.state_dir / _TXN


def read_journal(target: Target) -> dict[str, Any] | None:
    """The pending journal of ``target``, or None. An unreadable journal is still pending."""
    return _read_journal_at(transaction_dir(target))


def _read_journal_at(txn: Path) -> dict[str, Any] | None:
    path = txn / _JOURNAL
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError:
        text = ""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    return data if isinstance(data, dict) else {"phase": "prepared", "unreadable": True}


def pending_notice(target: Target) -> str | None:
    """One line saying an interrupted change is pending (run ``pipkit recover``), or None.

    Cheap: one failed stat when nothing is pending, so every command can call it.
    """
    if not (transaction_dir(target) / _JOURNAL).exists():
        return None
    journal = read_journal(target)
    if journal is None:
        return None
    what = journal.get("command") or "a pipkit command"
    phase = journal.get("phase", "?")
    return (
        f"an interrupted change to {target.prefix} is pending ({what}, stopped while "
        f"{phase}); run `pipkit recover` to finish or undo it"
    )


def refuse_if_pending(target: Target) -> None:
    """Raise OperationError when a journal is pending: nothing may change the env before."""
    notice = pending_notice(target)
    if notice:
        raise OperationError(notice)


# -- signals ----------------------------------------------------------------------------------


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def _shielded() -> Iterator[None]:
    """Defer SIGINT/SIGTERM until the block is done (then raise KeyboardInterrupt).

    Stashing, undoing and committing must not stop half-way because of a second Ctrl-C.
    """
    if not _in_main_thread():
        yield
        return
    received: list[int] = []

    def _record(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)

    old = {sig: signal.signal(sig, _record) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    except BaseException:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        raise
    for sig, handler in old.items():
        signal.signal(sig, handler)
    if received:
        raise KeyboardInterrupt


class _Shield:
    """:func:`_shielded` across statements: ``start`` defers SIGINT/SIGTERM, ``stop`` puts
    the handlers back; ``received`` says whether one came in between (never raised)."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self._old: dict[int, Any] | None = None

    def _record(self, signum: int, _frame: FrameType | None) -> None:
        self.received.append(signum)

    def start(self) -> None:
        if _in_main_thread() and self._old is None:
            self._old = {s: signal.signal(s, self._record) for s in (signal.SIGINT, signal.SIGTERM)}

    def stop(self) -> None:
        if self._old is not None:
            for sig, handler in self._old.items():
                signal.signal(sig, handler)
            self._old = None


@contextlib.contextmanager
def _term_as_interrupt() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C while a transaction runs: undo, then stop."""
    if not _in_main_thread():
        yield
        return

    def _raise(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


# -- history seam -------------------------------------------------------------------------------
#
# The ledger (pipkit.env.ledger) records every change; a history that cannot be written costs a
# logged warning, never the environment.

# The stash mirrors the file system under this folder: a file that was at /p/x is stashed as
# <stash_root>/root/p/x. The one place this layout is named; the ledger's archive is told it.
STASH_MIRROR = "root"


def history_wanted() -> bool:
    """False when the user asked for no history (``--no-history`` sets PIPKIT_NO_HISTORY)."""
    return os.environ.get("PIPKIT_NO_HISTORY", "") in ("", "0")


@contextlib.contextmanager
def _recording(target: Target, command: str) -> Iterator[Recorder]:
    """``ledger.recording`` guarded: a failing history costs a warning, never the env; but a
    history locked by another process refuses the change (``ledger.HistoryLocked``) rather
    than leave it unrecorded, unless recording is off (``--no-history``)."""
    from pipkit.env import ledger

    if not history_wanted():
        yield ledger.Recorder(target=target, command=command)  # records nothing
        return
    try:
        manager = ledger.recording(target, command)
        recorder = manager.__enter__()
    except ledger.HistoryLocked:
        raise
    except Exception as exc:
        _log.warning("history: not recording this change (%s)", exc)
        yield ledger.Recorder(target=target, command=command)  # records nothing
        return
    try:
        yield recorder
    except BaseException as exc:
        try:
            manager.__exit__(type(exc), exc, exc.__traceback__)
        except Exception as history_exc:
            _log.warning("history: could not record the result (%s)", history_exc)
        raise  # never let the history swallow an error
    else:
        try:
            manager.__exit__(None, None, None)
        except Exception as history_exc:
            _log.warning("history: could not record the result (%s)", history_exc)


def _archive(target: Target, stash_root: Path, infos: list[str], ident: str | None) -> None:
    if not infos:
        return
    from pipkit.env import ledger

    try:
        # Parked as it is (one rename), repacked into wheels when the store is next read.
        ledger.archive(target, stash_root, infos, mirror=STASH_MIRROR, park_as=ident)
    except Exception as exc:
        _log.warning("history: could not archive the replaced packages (%s)", exc)


@dataclass
class Session:
    """A held environment mutex plus the history recording around one change."""

    target: Target
    command: str
    mutex: Mutex
    recorder: Recorder


@contextlib.contextmanager
def session(target: Target, command: str, *, record: bool = True) -> Iterator[Session]:
    """Lock ``target``, refuse if a journal is pending, record the change in the history."""
    from pipkit.env import mutex
    from pipkit.env.ledger import Recorder

    with mutex.hold(target) as held:
        refuse_if_pending(target)
        if not record or not history_wanted():
            yield Session(target, command, held, Recorder(target=target, command=command))
            return
        with _recording(target, command) as recorder:
            yield Session(target, command, held, recorder)


# -- files --------------------------------------------------------------------------------------


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _real(path: str) -> str:
    """Where a rename or unlink of ``path`` acts: its folder resolved (symlinks followed), its
    last part kept (a symlink itself is moved or deleted, never what it points to)."""
    folder, name = os.path.split(os.path.normpath(path))
    return os.path.join(os.path.realpath(folder), name)


@dataclass(frozen=True)
class Bounds:
    """Where pipkit may move, delete or restore a file: inside the environment's own folders
    (``roots``, resolved), never in pipkit's own state (``private``: the history, the store,
    the transaction and an outside stash), whatever a RECORD or a journal says."""

    roots: tuple[str, ...]
    private: tuple[str, ...]

    def allows(self, path: str) -> bool:
        real = _real(path)
        return any(_inside(real, root) for root in self.roots) and not any(
            _inside(real, private) for private in self.private
        )


def _bounds(target: Target, stash_root: Path | None = None) -> Bounds:
    """The target's bounds: its prefix and every folder of its install scheme."""
    roots = [target.prefix, *target.scheme_dirs()]
    private = [target.state_dir, *([stash_root] if stash_root is not None else [])]
    return Bounds(
        tuple(dict.fromkeys(os.path.realpath(r) for r in roots if r)),
        tuple(dict.fromkeys(os.path.realpath(p) for p in private)),
    )


def _refuse_outside(path: str, why: str) -> None:
    _log.warning("not touching %s: %s (it resolves to %s)", path, why, _real(path))


def _in_stash(stash_root: Path, path: str) -> Path:
    return stash_root / STASH_MIRROR / path.lstrip(os.sep)


def _move(source: str, dest: str) -> None:
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    try:
        os.rename(source, dest)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        shutil.move(source, dest)  # another file system: copy, then delete


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _record_files(meta_dir: str, bounds: Bounds) -> list[str]:
    """The absolute files a dist's RECORD lists (outside its metadata folder) that lie inside
    ``bounds`` once symlinks are resolved, plus the ``.pyc`` files compiled from its ``.py``
    files. A path that escapes (``../``, a symlinked folder, pipkit's own state) is skipped
    with a warning naming it: pip refuses these too."""
    base = os.path.dirname(meta_dir)
    found: dict[str, None] = {}
    caches: dict[str, list[str]] = {}
    with open(os.path.join(meta_dir, "RECORD"), encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    for row in rows:
        if not row or not row[0]:
            continue
        path = os.path.normpath(os.path.join(base, row[0]))
        if _inside(path, meta_dir):
            continue
        if not bounds.allows(path):
            if os.path.lexists(path):
                _refuse_outside(
                    path, f"{os.path.basename(meta_dir)}/RECORD lists it outside the environment"
                )
            continue
        found[path] = None
        if path.endswith(".py"):
            # pip compiles .py files; older RECORDs may not list the .pyc files.
            folder, name = os.path.split(path)
            cache = os.path.join(folder, "__pycache__")
            if cache not in caches:
                try:
                    caches[cache] = os.listdir(cache) if bounds.allows(cache) else []
                except OSError:
                    caches[cache] = []
            stem = name[:-3] + "."
            for entry in caches[cache]:
                if entry.startswith(stem) and entry.endswith(".pyc"):
                    found[os.path.join(cache, entry)] = None
    return list(found)


def stash_refusal(target: Target, dists: Sequence[InstalledDist]) -> str | None:
    """Why these distributions cannot be stashed (so the change would not be undoable)."""
    sites = [os.path.normpath(s) for s in target.site_dirs()]
    for dist in dists:
        where = os.path.normpath(os.path.dirname(dist.metadata_dir))
        if dist.kind != "dist-info" or not os.path.isfile(
            os.path.join(dist.metadata_dir, "RECORD")
        ):
            return (
                f"cannot safely replace or remove {dist.raw_name} {dist.version}: it was "
                f"installed without a RECORD ({dist.metadata_dir}); repair it first with "
                f"`pip install --ignore-installed --no-deps {dist.raw_name}=={dist.version}` "
                "(pip cannot uninstall it either)"
            )
        if where not in sites:
            return (
                f"cannot replace or remove {dist.raw_name} {dist.version}: it is installed "
                f"outside this environment's site-packages ({where})"
            )
        try:
            with open(os.path.join(dist.metadata_dir, "RECORD"), encoding="utf-8") as handle:
                handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            return (
                f"cannot replace or remove {dist.raw_name} {dist.version}: its RECORD is "
                f"unreadable ({exc})"
            )
    return None


def _copy(source: str, dest: str) -> None:
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    if os.path.isdir(source) and not os.path.islink(source):
        shutil.copytree(source, dest, symlinks=True)
    else:
        shutil.copy2(source, dest, follow_symlinks=False)


def _stash(
    target: Target,
    dists: Sequence[InstalledDist],
    stash_root: Path,
    copy_names: frozenset[str] = frozenset(),
) -> list[str]:
    """Move every file of ``dists`` into the stash; the stashed dist-info paths (relative to
    ``stash_root``).

    Dists named in ``copy_names`` are copied, not moved: pip itself must still run to replace
    itself (it uninstalls its old copy; an undo puts the copy back over whatever it left).
    """
    bounds = _bounds(target, stash_root)
    stop = {os.path.normpath(d) for d in (target.prefix, *target.scheme_dirs())}
    infos: list[str] = []
    parents: set[str] = set()
    for dist in dists:
        keep_in_place = dist.name in copy_names
        stash_file = _copy if keep_in_place else _move
        files = _record_files(dist.metadata_dir, bounds)
        for path in files:
            if os.path.lexists(path):
                stash_file(path, str(_in_stash(stash_root, path)))
                parents.add(os.path.dirname(path))
        meta = os.path.normpath(dist.metadata_dir)
        stash_file(meta, str(_in_stash(stash_root, meta)))
        infos.append(str(_in_stash(stash_root, meta).relative_to(stash_root)))
        _fault("stash")
    # Folders the moves emptied go too (an empty package folder would still import as a
    # namespace package); restoring re-creates them.
    for folder in sorted(parents, key=len, reverse=True):
        current = folder
        while current not in stop and bounds.allows(current):
            try:
                os.rmdir(current)
            except OSError:
                break
            current = os.path.dirname(current)
    return infos


def _stash_location(target: Target, txn: Path, ident: str) -> Path:
    """Where to stash: in the transaction folder when it is on site-packages' file system (a
    stash is renames only), else a hidden folder inside site-packages itself (a system Python
    whose state dir is under $HOME on another file system): never importable (the dot), never
    a distribution (no ``.dist-info``), deleted with the transaction."""
    existing = txn
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    site = target.site_dirs()[0]
    try:
        same = os.stat(existing).st_dev == os.stat(site).st_dev
    except OSError:
        same = True
    return txn / _STASH if same else Path(site) / f"{_OUTSIDE_STASH}{ident[:12]}"


_OUTSIDE_STASH = ".pipkit-stash-"
_BACKUP = "backup"

# -- the snapshot: every entry of the folders pip may write into ------------------------------
#
# Before pip runs, every entry (file, symlink, folder) under the target's install scheme is
# recorded with (kind, inode, size, mtime): after a failure, whatever is new is removed
# (half-installed wheels, their data files under <prefix>/share, files added to a shared
# namespace folder, empty folders pip made, .pyc files) and whatever changed is put back from
# a backup. The backups are hard links into the stash (a rename-free, copy-free snapshot of
# the old bytes: pip and uv replace a file by unlinking or renaming over it, so the link keeps
# the old inode) of the files the install may overwrite: exactly the paths the wheels' RECORDs
# name when every wheel is a local file, else every file of the scheme.

Entry = list[Any]  # [kind, inode, size, mtime_ns, link target or None]


def _trees(target: Target, bounds: Bounds) -> list[tuple[str, bool]]:
    """The folders to snapshot and whether recursively: the whole scheme for a venv (its data
    folder is the prefix); a system interpreter's data folder (``/usr``) only one level deep."""
    deep = [target.purelib, target.platlib, target.scripts, target.headers]
    shallow: list[str] = []
    (deep if target.in_venv else shallow).append(target.data or target.prefix)
    real_deep = [os.path.realpath(d) for d in deep if d]
    kept: list[str] = []
    for folder in sorted(dict.fromkeys(real_deep), key=len):
        if not any(_inside(folder, k) for k in kept):
            kept.append(folder)
    trees = [(folder, True) for folder in kept]
    for folder in (os.path.realpath(s) for s in shallow):
        if not any(_inside(folder, k) for k in kept):
            trees.append((folder, False))
    return [t for t in trees if any(_inside(t[0], r) for r in bounds.roots)]


def _entry(info: os.stat_result, path: str) -> Entry:
    import stat

    if stat.S_ISLNK(info.st_mode):
        with contextlib.suppress(OSError):
            return ["l", info.st_ino, info.st_size, info.st_mtime_ns, os.readlink(path)]
        return ["l", info.st_ino, info.st_size, info.st_mtime_ns, None]
    kind = "d" if stat.S_ISDIR(info.st_mode) else "f" if stat.S_ISREG(info.st_mode) else "o"
    return [kind, info.st_ino, info.st_size, info.st_mtime_ns, None]


def _walk(trees: Sequence[tuple[str, bool]], private: Sequence[str]) -> dict[str, Entry]:
    """Every entry under ``trees`` (symlinks not followed), pipkit's private folders left out;
    missing tree roots are recorded as None-free absences (not listed)."""
    found: dict[str, Entry] = {}
    skip = set(private)
    for root, deep in trees:
        try:
            found[root] = _entry(os.lstat(root), root)
        except OSError:
            continue
        stack = [root]
        while stack:
            folder = stack.pop()
            try:
                scan = os.scandir(folder)
            except OSError:
                continue
            with scan:
                for item in scan:
                    if item.path in skip or item.name.startswith(_OUTSIDE_STASH):
                        continue
                    try:
                        entry = _entry(item.stat(follow_symlinks=False), item.path)
                    except OSError:
                        continue
                    found[item.path] = entry
                    if deep and entry[0] == "d":
                        stack.append(item.path)
    return found


def _missing_parents(trees: Sequence[tuple[str, bool]]) -> list[str]:
    """The topmost missing folder of each tree root that does not exist (pip may create it)."""
    out: list[str] = []
    for root, _deep in trees:
        current = root
        top: str | None = None
        while not os.path.lexists(current) and current != os.path.dirname(current):
            top = current
            current = os.path.dirname(current)
        if top is not None:
            out.append(top)
    return out


def _snapshot(target: Target, stash_root: Path, writes: Sequence[str] | None) -> dict[str, Any]:
    """The snapshot taken right before pip runs, with hard-link backups of what pip may
    overwrite (``writes``: the paths the wheels name, None: unknown, so every file)."""
    bounds = _bounds(target, stash_root)
    trees = _trees(target, bounds)
    entries = _walk(trees, bounds.private)
    if writes is None:
        candidates = [p for p, e in entries.items() if e[0] == "f"]
    else:
        candidates = []
        for path in dict.fromkeys(_real(w) for w in writes):
            entry = entries.get(path)
            if entry is not None and entry[0] == "f":
                candidates.append(path)
    backups: dict[str, str] = {}
    folder = stash_root / _BACKUP
    if candidates:
        folder.mkdir(parents=True, exist_ok=True)
    for number, path in enumerate(candidates):
        name = f"{_BACKUP}/{number}"
        try:
            os.link(path, stash_root / name)
        except OSError:
            try:
                shutil.copy2(path, stash_root / name)  # another file system, or no links
            except OSError as exc:
                _log.warning("cannot back up %s before pip runs (%s)", path, exc)
                continue
        backups[path] = name
    return {
        "v": _SNAPSHOT_VERSION,
        "trees": [[root, deep] for root, deep in trees],
        "created": _missing_parents(trees),
        "entries": entries,
        "backups": backups,
    }


_SNAPSHOT_VERSION = 2


def _write_json(path: Path, data: dict[str, Any]) -> None:
    from pipkit.fsutil import atomic_write_text

    atomic_write_text(path, json.dumps(data, indent=1))


def _dist_info_dirs(target: Target) -> dict[str, list[str]]:
    """Every ``*.dist-info`` folder in the target's site dirs, by normalized project name."""
    from packaging.utils import canonicalize_name

    found: dict[str, list[str]] = {}
    for site in target.site_dirs():
        try:
            names = os.listdir(site)
        except OSError:
            continue
        for name in names:
            if name.endswith(".dist-info"):
                project = canonicalize_name(name[: -len(".dist-info")].partition("-")[0])
                found.setdefault(project, []).append(os.path.join(site, name))
    return found


# -- what the wheels will write ----------------------------------------------------------------


def _wheel_writes(
    target: Target,
    pip_args: Sequence[str] | None,
    files: Mapping[str, str] | None,
    installs: Mapping[str, str | None] | None,
) -> list[str] | None:
    """Every path the install may write, from the wheels' own file lists, when each project in
    ``installs`` has a local wheel (named in the arguments or the requirements text, or in a
    local ``--find-links`` folder); None when any is unknown (an index, an sdist)."""
    import re
    import zipfile
    from urllib.parse import unquote, urlsplit

    from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

    if pip_args is None:
        return []
    if not installs:
        return None
    tokens: list[str] = list(pip_args)
    for text in (files or {}).values():
        tokens += text.split()
    direct: list[str] = []  # wheels named by path or URL: pip installs exactly these
    found: list[str] = []  # wheels in local --find-links folders
    for index, token in enumerate(tokens):
        links = index > 0 and tokens[index - 1] in ("--find-links", "-f")
        value = token
        if token.startswith("--find-links="):
            value, links = token.partition("=")[2], True
        if value.startswith("file:"):
            value = unquote(urlsplit(value).path)
        if value.endswith(".whl") and os.path.isfile(value):
            direct.append(value)
        elif links and os.path.isdir(value):
            with contextlib.suppress(OSError):
                found += [os.path.join(value, n) for n in os.listdir(value) if n.endswith(".whl")]
    # With an index too, pip may choose an index's wheel over a local one: unknown contents.
    wheels = direct + (found if "--no-index" in tokens else [])
    chosen: dict[str, list[str]] = {}
    wanted = {canonicalize_name(n): v for n, v in installs.items()}
    for wheel in wheels:
        try:
            name, version, _build, _tags = parse_wheel_filename(os.path.basename(wheel))
        except InvalidWheelFilename:
            continue
        want = wanted.get(name, "-")
        if want == "-" or (want is not None and not _same_version(str(version), want)):
            continue
        chosen.setdefault(name, []).append(wheel)
    if set(chosen) != set(wanted):
        return None
    site_pure, site_plat = target.purelib, target.platlib
    out: list[str] = []
    data_re = re.compile(r"^[^/]+\.data/(purelib|platlib|scripts|data|headers)/(.+)$")
    for project, paths in chosen.items():
        for wheel in paths:
            try:
                with zipfile.ZipFile(wheel) as archive:
                    names = archive.namelist()
                    wheel_meta = next((n for n in names if n.endswith(".dist-info/WHEEL")), None)
                    pure = True
                    if wheel_meta:
                        text = archive.read(wheel_meta).decode("utf-8", "replace")
                        pure = "root-is-purelib: false" not in text.lower()
                    scripts = _entry_point_scripts(archive, names)
            except (OSError, zipfile.BadZipFile, KeyError):
                return None
            base = site_pure if pure else site_plat
            for member in names:
                match = data_re.match(member)
                if not match:
                    out.append(os.path.join(base, member))
                    continue
                scheme, rest = match.groups()
                root = {
                    "purelib": site_pure,
                    "platlib": site_plat,
                    "scripts": target.scripts,
                    "data": target.data or target.prefix,
                    "headers": os.path.join(target.headers, project) if target.headers else "",
                }[scheme]
                if root:
                    out.append(os.path.join(root, rest))
            out += [os.path.join(target.scripts, s) for s in scripts]
    # pip compiles every .py it writes: a same-named module's .pyc is replaced too.
    for path in list(out):
        if path.endswith(".py"):
            folder, module = os.path.split(path)
            cache = os.path.join(folder, "__pycache__")
            with contextlib.suppress(OSError):
                out += [
                    os.path.join(cache, n)
                    for n in os.listdir(cache)
                    if n.startswith(module[:-3] + ".")
                ]
    return [os.path.normpath(p) for p in out]


def _entry_point_scripts(archive: Any, names: Sequence[str]) -> list[str]:
    import configparser

    member = next((n for n in names if n.endswith(".dist-info/entry_points.txt")), None)
    if member is None:
        return []
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    with contextlib.suppress(configparser.Error, UnicodeDecodeError):
        parser.read_string(archive.read(member).decode("utf-8"))
    out: list[str] = []
    for section in ("console_scripts", "gui_scripts"):
        if parser.has_section(section):
            out += [key.strip() for key in parser[section]]
    return out


# -- trusting nothing on disk -------------------------------------------------------------------


def _journal_error(txn: Path, why: str) -> InputError:
    return InputError(
        f"{why}; refusing to act on it: check it, then delete {txn} by hand if the "
        "environment is as you want it",
        location=str(txn / _JOURNAL),
    )


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def load_journal(txn: Path, target: Target | None) -> dict[str, Any] | None:
    """The pending journal, validated before anything acts on it; None when there is none.

    Raises InputError (exit 2: a file pipkit reads is malformed, as a bad lock is) for a
    journal that is not UTF-8 JSON of the expected shape, of another journal version, or whose
    stash is neither the transaction's own folder nor a pipkit stash inside a site folder.
    """
    path = txn / _JOURNAL
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _journal_error(txn, f"unreadable ({exc.strerror or exc})") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise _journal_error(txn, "not UTF-8") from None
    except (ValueError, RecursionError):
        raise _journal_error(txn, "not valid JSON") from None
    if not isinstance(data, dict):
        raise _journal_error(txn, "not a journal (not a JSON object)")
    if data.get("version") != _JOURNAL_VERSION:
        raise _journal_error(
            txn, f"journal version {data.get('version')!r} is not {_JOURNAL_VERSION}"
        )
    checks: list[tuple[str, bool]] = [
        ("phase", data.get("phase") in PHASES),
        ("stash", isinstance(data.get("stash"), str) and os.path.isabs(data["stash"])),
        ("command", data.get("command") is None or isinstance(data.get("command"), str)),
        ("roots", _is_str_list(data.get("roots")) and all(os.path.isabs(r) for r in data["roots"])),
        ("site_dirs", _is_str_list(data.get("site_dirs"))),
        ("stashed_infos", _is_str_list(data.get("stashed_infos", []))),
        ("expect", isinstance(data.get("expect", {}), dict)),
    ]
    expect: dict[str, Any] = data["expect"] if isinstance(data.get("expect"), dict) else {}
    present = expect.get("present", {})
    checks += [
        (
            "expect.present",
            isinstance(present, dict)
            and all(
                isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in present.items()
            ),
        ),
        ("expect.absent", _is_str_list(expect.get("absent", []))),
    ]
    for key, ok in checks:
        if not ok:
            raise _journal_error(txn, f"its {key!r} has the wrong type or value")
    site_dirs = (
        [os.path.normpath(s) for s in target.site_dirs()]
        if target is not None
        else data["site_dirs"]
    )
    stash = os.path.normpath(data["stash"])
    own = os.path.normpath(txn / _STASH)
    outside = os.path.dirname(stash) in site_dirs and os.path.basename(stash).startswith(
        _OUTSIDE_STASH
    )
    if stash != own and not outside:
        raise _journal_error(txn, f"its stash {stash} is not a pipkit stash of this environment")
    for rel in data.get("stashed_infos", []):
        if os.path.isabs(rel) or ".." in Path(rel).parts:
            raise _journal_error(txn, f"its stashed folder {rel!r} is outside the stash")
    if target is None and any(len(Path(r).parts) < 3 for r in data["roots"]):
        raise _journal_error(txn, "its roots are not an environment's folders")
    return data


def _journal_bounds(journal: dict[str, Any], txn: Path, target: Target | None) -> Bounds:
    stash = Path(journal["stash"])
    if target is not None:
        return _bounds(target, stash)
    private = (os.path.realpath(txn.parent), os.path.realpath(stash))
    return Bounds(tuple(os.path.realpath(r) for r in journal["roots"]), private)


def _load_snapshot(txn: Path, bounds: Bounds) -> dict[str, Any] | None:
    """The snapshot pip's run is undone against, validated: every path inside the bounds, every
    backup inside the stash. None when pipkit stopped before taking it."""
    path = txn / _SNAPSHOT
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _journal_error(txn, f"its snapshot is unreadable ({exc.strerror or exc})") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _journal_error(txn, "its snapshot is not UTF-8 JSON") from None
    if not isinstance(data, dict) or data.get("v") != _SNAPSHOT_VERSION:
        raise _journal_error(txn, "its snapshot is not a pipkit snapshot of this version")
    trees, entries, backups = data.get("trees"), data.get("entries"), data.get("backups")
    created = data.get("created")
    if not (
        isinstance(trees, list)
        and all(
            isinstance(t, list) and len(t) == 2 and isinstance(t[0], str) and isinstance(t[1], bool)
            for t in trees
        )
        and isinstance(entries, dict)
        and all(
            isinstance(e, list) and len(e) == 5 and e[0] in ("f", "d", "l", "o")
            for e in entries.values()
        )
        and isinstance(backups, dict)
        and all(isinstance(v, str) for v in backups.values())
        and _is_str_list(created)
    ):
        raise _journal_error(txn, "its snapshot has the wrong shape")
    assert isinstance(trees, list) and isinstance(created, list)  # checked above, for mypy
    for where in [*(t[0] for t in trees), *created]:
        if not any(_inside(os.path.realpath(where), r) for r in bounds.roots):
            raise _journal_error(txn, f"its snapshot names {where}, outside the environment")
    for folder in entries:
        if not any(_inside(folder, root) for root, _deep in trees):
            raise _journal_error(txn, f"its snapshot names {folder}, outside its folders")
    for original, name in backups.items():
        if original not in entries or not (name.startswith(_BACKUP + "/") and name[7:].isdigit()):
            raise _journal_error(txn, f"its snapshot's backup of {original} is not in the stash")
    return data


# -- undo ----------------------------------------------------------------------------------------


def _undo_pip(snapshot: dict[str, Any], bounds: Bounds, site_dirs: Sequence[str]) -> list[str]:
    """Remove what pip added under the snapshot's folders; return the changed files to put
    back from their backups once the stash is back (in path order)."""
    before: dict[str, Entry] = snapshot["entries"]
    trees = [(root, deep) for root, deep in snapshot["trees"]]
    # Distributions pip completed: their files by their RECORD too (a system interpreter's
    # data folder is only snapshotted one level deep).
    for site in site_dirs:
        try:
            names = os.listdir(site)
        except OSError:
            continue
        for name in names:
            meta = os.path.join(site, name)
            if not name.endswith(".dist-info") or _real(meta) in before:
                continue
            with contextlib.suppress(OSError, UnicodeDecodeError, csv.Error):
                for path in _record_files(meta, bounds):
                    if _real(path) not in before:
                        _remove(path)
    now = _walk(trees, bounds.private)
    new = {path for path in now if path not in before}
    for path in sorted(new):
        if os.path.dirname(path) in new:
            continue  # its new folder goes as a whole
        if not bounds.allows(path):
            _refuse_outside(path, "the snapshot's folders changed")
            continue
        _remove(path)
    for top in snapshot["created"]:
        if os.path.lexists(top) and bounds.allows(top):
            _remove(top)
    changed: list[str] = []
    for path, entry in sorted(before.items()):
        current = now.get(path)
        if entry[0] == "d":
            if current is None or current[0] != "d":
                if current is not None:
                    _remove(path)
                if bounds.allows(path):
                    os.makedirs(path, exist_ok=True)
            continue
        if current is not None and current[:4] == entry[:4] and current[4] == entry[4]:
            continue
        if (
            entry[0] == "f"
            and current is not None
            and current[0] == "f"
            and current[2:4] == entry[2:4]
            and path not in snapshot["backups"]
        ):
            continue  # same size and time, no backup: a stashed copy put back already
        changed.append(path)
    return changed


def _restore_changed(
    snapshot: dict[str, Any], bounds: Bounds, stash_root: Path, changed: Sequence[str]
) -> None:
    before: dict[str, Entry] = snapshot["entries"]
    backups: dict[str, str] = snapshot["backups"]
    for path in changed:
        entry = before[path]
        if not bounds.allows(path):
            _refuse_outside(path, "outside the environment")
            continue
        try:
            now = os.lstat(path)
        except OSError:
            now = None
        if entry[0] == "l" and entry[4] is not None:
            if now is not None:
                _remove(path)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            os.symlink(entry[4], path)
            continue
        backup = stash_root / backups[path] if path in backups else None
        if backup is not None and os.path.lexists(backup):
            if now is not None and now.st_ino == os.lstat(backup).st_ino:
                if (now.st_size, now.st_mtime_ns) != (entry[2], entry[3]):
                    _log.warning("cannot restore %s: it was rewritten in place", path)
                continue
            if now is not None:
                _remove(path)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            os.replace(backup, path)
        elif now is None or (now.st_size, now.st_mtime_ns) != (entry[2], entry[3]):
            _log.warning("cannot restore %s: pip changed it and it had no backup", path)


def _restore_stash(stash_root: Path, bounds: Bounds) -> None:
    """Put every stashed file back where it came from (the mirror names it)."""
    root = stash_root / STASH_MIRROR
    if not root.is_dir():
        return
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        dest_dir = os.sep if rel == "." else os.sep + rel
        links = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        dirnames[:] = [d for d in dirnames if d not in links]
        for name in [*filenames, *links]:
            dest = os.path.join(dest_dir, name)
            if not bounds.allows(dest):
                _refuse_outside(dest, "the stash would put it outside the environment")
                continue
            os.makedirs(dest_dir, exist_ok=True)
            if os.path.lexists(dest):
                _remove(dest)
            _move(os.path.join(dirpath, name), dest)  # EXDEV-safe: stash may be elsewhere


def _undo(target: Target | None, txn: Path) -> None:
    """Put the environment back as it was before the journal's change (idempotent).

    Needs nothing but the standard library and the journal (which records the folders), so
    it also runs when the change stashed pipkit's own dependencies: see ``__main__`` below.
    Validates the journal and the snapshot first (InputError, nothing done, when they are not
    pipkit's); then removes what pip added, puts the stash back, then the backups.
    """
    journal = load_journal(txn, target)
    if journal is None:
        return
    stash_root = Path(journal["stash"])
    _unpark(txn, stash_root, journal)
    bounds = _journal_bounds(journal, txn, target)
    snapshot = _load_snapshot(txn, bounds)
    changed: list[str] = []
    if snapshot is not None:
        site_dirs = (
            [os.path.normpath(s) for s in target.site_dirs()]
            if target is not None
            else list(journal["site_dirs"])
        )
        changed = _undo_pip(snapshot, bounds, site_dirs)
    _fault("undoing")
    _restore_stash(stash_root, bounds)
    if snapshot is not None:
        _restore_changed(snapshot, bounds, stash_root, changed)
    _finish(txn, stash_root)


def _unpark(txn: Path, stash_root: Path, journal: dict[str, Any]) -> None:
    """A commit that was cut off after it parked the stash in the store, and that recover
    decided to undo (the environment drifted since): the stash is moved back first."""
    ident = journal.get("id")
    if stash_root.exists() or not isinstance(ident, str) or not ident.isalnum():
        return
    parked = txn.parent / STORE_DIR / PARKED_DIR / ident
    with contextlib.suppress(OSError):
        os.rename(parked, stash_root)


def _finish(txn: Path, stash_root: Path) -> None:
    """Delete the stash, the snapshot and, last, the journal."""
    shutil.rmtree(stash_root, ignore_errors=True)
    for name in os.listdir(txn) if txn.is_dir() else ():
        if name != _JOURNAL:
            _remove(str(txn / name))
    with contextlib.suppress(FileNotFoundError):
        os.unlink(txn / _JOURNAL)
    with contextlib.suppress(OSError):
        os.rmdir(txn)


def _commit(target: Target, txn: Path, journal: dict[str, Any]) -> None:
    """Past the point of no return: archive the stash, then delete it and the journal."""
    journal["phase"] = "committing"
    _write_json(txn / _JOURNAL, journal)
    stash_root = Path(journal["stash"])
    infos = [rel for rel in journal.get("stashed_infos", []) if (stash_root / rel).is_dir()]
    _fault("committing")
    _archive(target, stash_root, infos, journal.get("id"))
    _fault("archived")
    _finish(txn, stash_root)


def _matches(target: Target, journal: dict[str, Any]) -> str | None:
    """Whether the environment is what the journal's change meant to make (None) or why not."""
    from pipkit.env.dists import installed

    dists = installed(target.sys_path)
    expect = journal.get("expect") or {}
    for name, version in (expect.get("present") or {}).items():
        dist = dists.get(name)
        if dist is None:
            return f"{name} is not installed"
        if version is not None and not _same_version(dist.version, version):
            return f"{name} is {dist.version}, not {version}"
    for name in expect.get("absent") or ():
        if name in dists:
            return f"{name} is still installed"
    return _duplicates(target, expect.get("present") or {})


def _same_version(have: str, want: str) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(have) == Version(want)
    except InvalidVersion:
        return have == want


def duplicates(target: Target, names: Iterable[str]) -> str | None:
    """Why ``names`` cannot be changed as one: one of them has two ``.dist-info`` folders
    (pip would replace one and leave the other), or None. Said before anything is changed."""
    return _duplicates(target, dict.fromkeys(names))


def _duplicates(target: Target, names: Mapping[str, Any]) -> str | None:
    infos = _dist_info_dirs(target)
    for name in names:
        copies = infos.get(name, [])
        if len(copies) > 1:
            listing = ", ".join(os.path.basename(c) for c in sorted(copies))
            return f"{name} is installed twice ({listing})"
    return None


class _Failed(Exception):
    """A failed step; ``output`` is what pip said when its output was captured."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output


# Imported before anything is stashed: when pipkit runs inside the target and the change
# replaces one of its own dependencies (packaging, typer...), a lazy import after the stash
# would find that package's files gone.
_PRELOAD = (
    "packaging.markers",
    "packaging.requirements",
    "packaging.specifiers",
    "packaging.utils",
    "packaging.version",
    "pipkit.core.health",
    "pipkit.core.plan",
    "pipkit.env.dists",
    "pipkit.env.installer",
    "pipkit.env.pipconfig",
    "pipkit.env.proc",
    "pipkit.env.store",
    "pipkit.fsutil",
    "pipkit.history",
)


def _preload() -> None:
    import importlib

    for name in _PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


_fault_hits: dict[str, int] = {}


def _fault(point: str) -> None:
    """Test hook: ``PIPKIT_TEST_KILL_AT=<point>`` SIGKILLs pipkit there, to test recovery.

    Points: ``journal`` (journal written, nothing stashed), ``stash`` (one dist stashed),
    ``stashed``, ``snapshot`` (snapshot and backups taken), ``installed`` (pip done and
    verified), ``committing`` (commit begun), ``archived`` (stash archived, not deleted).
    ``PIPKIT_TEST_SIGNAL_AT=<point>:<INT|TERM>`` sends that signal instead (Ctrl-C at a known
    moment); ``PIPKIT_TEST_FAIL_AT=<point>`` raises an OSError there instead (a disk that
    fails: ``undoing``, part-way through an undo, is only reachable this way);
    ``PIPKIT_TEST_FAULT_SKIP=N`` lets the point pass N times first.
    """
    kill_at = os.environ.get("PIPKIT_TEST_KILL_AT")
    fail_at = os.environ.get("PIPKIT_TEST_FAIL_AT")
    where, _, name = os.environ.get("PIPKIT_TEST_SIGNAL_AT", "").partition(":")
    if point not in (kill_at, where, fail_at):
        return
    # PIPKIT_TEST_FAULT_SKIP=N: pass the point N times first (the Nth dist stashed...).
    _fault_hits[point] = _fault_hits.get(point, 0) + 1
    if _fault_hits[point] <= int(os.environ.get("PIPKIT_TEST_FAULT_SKIP") or 0):
        return
    if fail_at == point:
        raise OSError(errno.EIO, f"fault injected at {point}")
    sys.stdout.flush()
    sys.stderr.flush()
    if kill_at == point:
        os.kill(os.getpid(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGTERM if name == "TERM" else signal.SIGINT)


def execute(
    sess: Session,
    *,
    stash: Sequence[InstalledDist],
    pip_args: Sequence[str] | None,
    expect_present: Mapping[str, str | None],
    expect_absent: Sequence[str] = (),
    verify: Callable[[], str | None] | None = None,
    plan: Mapping[str, Any] | None = None,
    capture_pip: bool = False,
    files: Mapping[str, str] | None = None,
    installs: Mapping[str, str | None] | None = None,
    installer: str = "pip",
    on_line: Callable[[str], None] | None = None,
) -> None:
    """Change the environment all or nothing; on failure it is exactly as before.

    ``on_line``: each line of the install step's captured output, as it comes (progress).

    ``installer``: the engine that runs the one install step, "pip" or "uv"
    (:mod:`pipkit.env.installer`; a missing uv is refused before anything changes).

    ``stash``: distributions removed (or replaced) by this change. ``pip_args``: the one pip
    run that installs what is new (None: no pip at all). ``files``: name -> text written into
    the transaction folder first (the pip run's requirements file); ``{txn}`` in ``pip_args``
    stands for that folder. ``expect_present``/``expect_absent``: the projects (and versions)
    the change must leave, checked after pip and again by ``recover``. ``verify``: the caller's
    own check, returning a reason to undo or None. ``installs``: the projects (and versions)
    pip is to install, so that only the files their local wheels would overwrite are backed
    up (None or unknown wheels: every file of the scheme is, as hard links).

    Raises OperationError after undoing on any failure (pip's exit code, verify's reason), and
    re-raises KeyboardInterrupt after undoing on Ctrl-C or SIGTERM.
    """
    target = sess.target
    _preload()
    from pipkit.env import installer as installers

    engine = installers.resolve(installer) if pip_args is not None else None
    if engine is not None and pip_args is not None:
        engine.refuse_early(target, pip_args)
    refusal = stash_refusal(target, stash)
    if refusal:
        raise OperationError(refusal)
    txn = transaction_dir(target)
    if txn.exists() and read_journal(target) is None:
        shutil.rmtree(txn, ignore_errors=True)  # leftovers of a finished transaction
    ident = uuid.uuid4().hex
    stash_root = _stash_location(target, txn, ident)
    writes = _wheel_writes(target, pip_args, files, installs)
    journal: dict[str, Any] = {
        "version": _JOURNAL_VERSION,
        "id": ident,
        "pid": os.getpid(),
        "started": time.time(),
        "command": sess.command,
        "prefix": target.prefix,
        # The last resort when pipkit itself cannot start (stdlib only), for a person reading
        # this file after a crash.
        "undo_command": f"{sys.executable} -m pipkit.env.transaction undo {target.state_dir}",
        "roots": list(_bounds(target, stash_root).roots),
        "site_dirs": [os.path.normpath(d) for d in target.site_dirs()],
        "phase": "prepared",
        "stash": str(stash_root),
        "stashing": [
            {"name": d.name, "version": d.version, "metadata_dir": d.metadata_dir} for d in stash
        ],
        "expect": {"present": dict(expect_present), "absent": list(expect_absent)},
        "plan": dict(plan or {}),
    }
    shield = _Shield()
    with _term_as_interrupt():
        try:
            with _shielded():
                txn.mkdir(parents=True, exist_ok=True)
                _write_json(txn / _JOURNAL, journal)
                _fault("journal")
                copies = frozenset({"pip"}) if pip_args is not None else frozenset()
                if engine is not None:  # a uv the change replaces or removes still runs
                    engine = engine.kept_runnable(target, {d.name for d in stash}, txn)
                journal["stashed_infos"] = _stash(target, stash, stash_root, copies)
                _write_snapshot(txn / _SNAPSHOT, _snapshot(target, stash_root, writes))
                _fault("snapshot")
                journal["phase"] = "stashed"
                _write_json(txn / _JOURNAL, journal)
                _fault("stashed")
            if pip_args is not None and engine is not None:
                from pipkit.fsutil import atomic_write_text

                for name, text in (files or {}).items():
                    atomic_write_text(txn / name, text)
                journal["phase"] = "installing"
                _write_json(txn / _JOURNAL, journal)
                args = [a.replace("{txn}", str(txn)) for a in pip_args]
                result = engine.run(
                    target, args, capture=capture_pip, pass_fds=(sess.mutex.fd,), on_line=on_line
                )
                if result.returncode != 0:
                    output = (result.stdout or "") + (result.stderr or "") if capture_pip else ""
                    program = engine.runs(args)
                    raise _Failed(f"{program} failed (exit code {result.returncode})", output)
            problem = _duplicates(target, expect_present) or (verify() if verify else None)
            if problem:
                raise _Failed(problem)
            # The point of no return: from the "installed" journal on, the change is kept
            # (recover finishes it too), so a Ctrl-C now waits for the commit, then says so.
            shield.start()
            journal["phase"] = "installed"
            _write_json(txn / _JOURNAL, journal)
            _fault("installed")
        except BaseException as exc:
            shield.stop()
            _rollback(sess, txn)
            if isinstance(exc, (_Failed, OperationError)):
                message = exc.message if isinstance(exc, OperationError) else str(exc)
                output = exc.output if isinstance(exc, _Failed) else (exc.detail or "")
                raise OperationError(
                    f"{message}; the environment was left as it was", detail=output or None
                ) from None
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            raise OperationError(
                f"{type(exc).__name__}: {exc}; the environment was left as it was"
            ) from None
        try:
            _commit(target, txn, journal)
        except OSError as exc:
            raise OperationError(
                f"the change was made but not finalized ({exc}); run `pipkit recover`"
            ) from None
        finally:
            shield.stop()
        sess.recorder.set_result("ok")
        if shield.received:
            raise KeyboardInterrupt(KEPT)


# What an interrupt after the point of no return says (the CLI prints it, exits 130).
KEPT = "the change was already committed: it was KEPT, not undone (history: ok)"


def _write_snapshot(path: Path, data: dict[str, Any]) -> None:
    from pipkit.fsutil import atomic_write_text

    atomic_write_text(path, json.dumps(data, separators=(",", ":")))


def _rollback(sess: Session, txn: Path) -> None:
    try:
        with _shielded():
            _undo(sess.target, txn)
    except KeyboardInterrupt:
        pass  # the undo finished; the interrupt is re-raised by the caller anyway
    except OSError as exc:
        sess.recorder.set_result("failed")
        raise OperationError(
            f"could not undo the change ({exc}); the journal is kept: run `pipkit recover`"
        ) from None
    sess.recorder.set_result("rolled back")


# -- recover ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recovery:
    """What :func:`recover` did: "nothing", "finished" or "undone", and why."""

    action: str
    command: str | None = None
    reason: str = ""


def recover_plan(target: Target) -> Recovery:
    """What :func:`recover` would do now, without doing it.

    Raises InputError (one line, exit 2) when the journal or its snapshot is not one pipkit
    wrote for this environment: nothing on disk is acted on unchecked.
    """
    txn = transaction_dir(target)
    journal = load_journal(txn, target)
    if journal is None:
        return Recovery("nothing")
    _load_snapshot(txn, _journal_bounds(journal, txn, target))
    if journal is None:
        return Recovery("nothing")
    command = journal.get("command")
    phase = journal.get("phase")
    if phase in ("installed", "committing"):
        problem = _matches(target, journal)
        if problem is None:
            return Recovery("finish", command, "pip had finished and the environment matches")
        return Recovery("undo", command, f"pip had finished but {problem}")
    return Recovery("undo", command, f"it stopped while {phase}: pip had not finished")


def recover(target: Target) -> Recovery:
    """Finish or undo an interrupted change (under the env lock). Idempotent."""
    from pipkit.env import mutex

    with mutex.hold(target):
        decision = recover_plan(target)
        if decision.action == "nothing":
            return decision
        txn = transaction_dir(target)
        journal = load_journal(txn, target) or {}
        command = f"pipkit recover ({decision.command or 'unknown change'})"
        with _recording(target, command) as recorder, _shielded():
            if decision.action == "finish" and "stash" in journal:
                _commit(target, txn, journal)
                recorder.set_result("ok")
                return Recovery("finished", decision.command, decision.reason)
            _undo(target, txn)
            recorder.set_result("rolled back")
            return Recovery("undone", decision.command, decision.reason)


# -- last resort --------------------------------------------------------------------------------


def _undo_standalone(state_dir: Path) -> int:
    """Undo the pending change in ``state_dir`` with the standard library alone.

    For when pipkit itself cannot start any more (it runs inside the target and the killed
    change had stashed typer or packaging): ``<python> -m pipkit.env.transaction undo DIR``.
    """
    import fcntl

    txn = state_dir / _TXN
    if _read_journal_at(txn) is None:
        sys.stderr.write(f"pipkit: nothing to undo in {state_dir}\n")
        return 0
    fd = os.open(state_dir / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # waits for a pip that outlived its pipkit
        _undo(None, txn)
    except InputError as exc:
        sys.stderr.write(f"pipkit: error: {exc}\n")
        return 2
    finally:
        os.close(fd)
    sys.stderr.write(f"pipkit: undid the interrupted change in {state_dir}\n")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "undo":
        sys.stderr.write("usage: python -m pipkit.env.transaction undo STATE_DIR\n")
        sys.exit(2)
    sys.exit(_undo_standalone(Path(sys.argv[2])))

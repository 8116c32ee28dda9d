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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from pipkit.errors import OperationError

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

_TXN = "transaction"
_JOURNAL = "journal.json"
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


@contextlib.contextmanager
def _recording(target: Target, command: str) -> Iterator[Recorder]:
    """``ledger.recording`` guarded: a failing history costs a warning, never the env."""
    from pipkit.env import ledger

    try:
        manager = ledger.recording(target, command)
        recorder = manager.__enter__()
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


def _archive(target: Target, stash_root: Path, infos: list[str]) -> None:
    if not infos:
        return
    from pipkit.env import ledger

    try:
        ledger.archive(target, stash_root, infos, mirror=STASH_MIRROR)
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
        if not record:
            yield Session(target, command, held, Recorder(target=target, command=command))
            return
        with _recording(target, command) as recorder:
            yield Session(target, command, held, recorder)


# -- files --------------------------------------------------------------------------------------


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _allowed_roots(target: Target) -> tuple[str, ...]:
    """Where files of the target's distributions may be touched: never outside its prefix."""
    roots = [target.prefix, *target.site_dirs(), target.scripts]
    return tuple(dict.fromkeys(os.path.normpath(r) for r in roots if r))


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


def _record_files(meta_dir: str, roots: tuple[str, ...]) -> list[str]:
    """The absolute files a dist's RECORD lists (outside its metadata folder), inside ``roots``,
    plus the ``.pyc`` files compiled from its ``.py`` files."""
    base = os.path.dirname(meta_dir)
    found: dict[str, None] = {}
    caches: dict[str, list[str]] = {}
    with open(os.path.join(meta_dir, "RECORD"), encoding="utf-8", newline="") as handle:
        for row in csv.reader(handle):
            if not row or not row[0]:
                continue
            path = os.path.normpath(os.path.join(base, row[0]))
            if _inside(path, meta_dir) or not any(_inside(path, r) for r in roots):
                continue
            found[path] = None
            if path.endswith(".py"):
                # pip compiles .py files; older RECORDs may not list the .pyc files.
                folder, name = os.path.split(path)
                cache = os.path.join(folder, "__pycache__")
                if cache not in caches:
                    try:
                        caches[cache] = os.listdir(cache)
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
                f"installed without a RECORD ({dist.metadata_dir}); remove it with "
                f"`pip uninstall {dist.raw_name}` first"
            )
        if where not in sites:
            return (
                f"cannot replace or remove {dist.raw_name} {dist.version}: it is installed "
                f"outside this environment's site-packages ({where})"
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
    roots = _allowed_roots(target)
    stop = set(roots)
    infos: list[str] = []
    parents: set[str] = set()
    for dist in dists:
        keep_in_place = dist.name in copy_names
        stash_file = _copy if keep_in_place else _move
        files = _record_files(dist.metadata_dir, roots)
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
        while current not in stop and any(_inside(current, r) for r in roots):
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
    return txn / _STASH if same else Path(site) / f".pipkit-stash-{ident[:12]}"


def _snapshot(target: Target, stash_root: Path) -> dict[str, list[str] | None]:
    """The entries of every folder pip may write into, right before pip runs."""
    folders: dict[str, None] = {}
    for site in target.site_dirs():
        folders[os.path.normpath(site)] = None
        folders[os.path.join(os.path.normpath(site), "__pycache__")] = None
    folders[os.path.normpath(target.scripts)] = None
    # The folders stashed files came from that still exist (shared ones: namespace packages,
    # a package's __pycache__): a half-installed wheel may have added files there.
    root = stash_root / STASH_MIRROR
    for dirpath, _dirnames, filenames in os.walk(root):
        if filenames and not dirpath.endswith(".dist-info"):
            original = os.sep + os.path.relpath(dirpath, root)
            if os.path.isdir(original):
                folders[os.path.normpath(original)] = None
    snapshot: dict[str, list[str] | None] = {}
    for folder in folders:
        try:
            snapshot[folder] = sorted(os.listdir(folder))
        except OSError:
            snapshot[folder] = None
    return snapshot


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


def _undo(target: Target | None, txn: Path) -> None:
    """Put the environment back as it was before the journal's change (idempotent).

    Needs nothing but the standard library and the journal (which records the folders), so
    it also runs when the change stashed pipkit's own dependencies: see ``__main__`` below.
    """
    journal = _read_journal_at(txn) or {}
    stash_root = Path(journal.get("stash") or (txn / _STASH))
    if target is not None:
        roots = _allowed_roots(target)
        site_dirs = [os.path.normpath(s) for s in target.site_dirs()]
    else:
        roots = tuple(journal.get("roots") or ())
        site_dirs = list(journal.get("site_dirs") or ())
    snapshot: dict[str, list[str] | None] | None = None
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        snapshot = json.loads((txn / _SNAPSHOT).read_text(encoding="utf-8"))["folders"]
    if snapshot is not None:
        # 1. Distributions pip completed: their files, wherever their RECORD put them.
        for site in site_dirs:
            before = set(snapshot.get(site) or ())
            try:
                now = os.listdir(site)
            except OSError:
                continue
            for name in now:
                if not name.endswith(".dist-info") or name in before:
                    continue
                meta = os.path.join(site, name)
                with contextlib.suppress(OSError):
                    for path in _record_files(meta, roots):
                        folder, base = os.path.split(path)
                        listed = snapshot.get(folder)
                        if listed is not None and base in listed:
                            continue  # was there before pip ran: not pip's
                        _remove(path)
                _remove(meta)
        # 2. Anything else new in the folders pip writes into: half-installed wheels, .pyc
        #    files, pip's own temporary folders.
        for folder, listed in snapshot.items():
            if listed is None:
                if os.path.isdir(folder) and folder not in roots:
                    _remove(folder)
                continue
            try:
                now = os.listdir(folder)
            except OSError:
                continue
            keep = set(listed)
            for name in now:
                if name not in keep:
                    _remove(os.path.join(folder, name))
    # 3. The stash goes back where it came from.
    root = stash_root / STASH_MIRROR
    if root.is_dir():
        for dirpath, dirnames, filenames in os.walk(root):
            rel = os.path.relpath(dirpath, root)
            dest_dir = os.sep if rel == "." else os.sep + rel
            os.makedirs(dest_dir, exist_ok=True)
            links = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
            dirnames[:] = [d for d in dirnames if d not in links]
            for name in [*filenames, *links]:
                dest = os.path.join(dest_dir, name)
                if os.path.lexists(dest):
                    _remove(dest)
                _move(os.path.join(dirpath, name), dest)  # EXDEV-safe: stash may be elsewhere
    _finish(txn, stash_root)


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
    journal["phase"] = "committing"
    _write_json(txn / _JOURNAL, journal)
    stash_root = Path(journal["stash"])
    infos = [rel for rel in journal.get("stashed_infos", []) if (stash_root / rel).is_dir()]
    _fault("committing")
    _archive(target, stash_root, infos)
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


def _fault(point: str) -> None:
    """Test hook: ``PIPKIT_TEST_KILL_AT=<point>`` SIGKILLs pipkit there, to test recovery.

    Points: ``journal`` (journal written, nothing stashed), ``stash`` (one dist stashed),
    ``stashed``, ``installed`` (pip done and verified), ``committing`` (commit begun).
    """
    if os.environ.get("PIPKIT_TEST_KILL_AT") == point:
        sys.stdout.flush()
        sys.stderr.flush()
        os.kill(os.getpid(), signal.SIGKILL)


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
) -> None:
    """Change the environment all or nothing; on failure it is exactly as before.

    ``stash``: distributions removed (or replaced) by this change. ``pip_args``: the one pip
    run that installs what is new (None: no pip at all). ``files``: name -> text written into
    the transaction folder first (the pip run's requirements file); ``{txn}`` in ``pip_args``
    stands for that folder. ``expect_present``/``expect_absent``: the projects (and versions)
    the change must leave, checked after pip and again by ``recover``. ``verify``: the caller's
    own check, returning a reason to undo or None.

    Raises OperationError after undoing on any failure (pip's exit code, verify's reason), and
    re-raises KeyboardInterrupt after undoing on Ctrl-C or SIGTERM.
    """
    target = sess.target
    _preload()
    refusal = stash_refusal(target, stash)
    if refusal:
        raise OperationError(refusal)
    txn = transaction_dir(target)
    if txn.exists() and read_journal(target) is None:
        shutil.rmtree(txn, ignore_errors=True)  # leftovers of a finished transaction
    ident = uuid.uuid4().hex
    stash_root = _stash_location(target, txn, ident)
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
        "roots": list(_allowed_roots(target)),
        "site_dirs": [os.path.normpath(d) for d in target.site_dirs()],
        "phase": "prepared",
        "stash": str(stash_root),
        "stashing": [
            {"name": d.name, "version": d.version, "metadata_dir": d.metadata_dir} for d in stash
        ],
        "expect": {"present": dict(expect_present), "absent": list(expect_absent)},
        "plan": dict(plan or {}),
    }
    with _term_as_interrupt():
        try:
            with _shielded():
                txn.mkdir(parents=True, exist_ok=True)
                _write_json(txn / _JOURNAL, journal)
                _fault("journal")
                copies = frozenset({"pip"}) if pip_args is not None else frozenset()
                journal["stashed_infos"] = _stash(target, stash, stash_root, copies)
                _write_json(txn / _SNAPSHOT, {"v": 1, "folders": _snapshot(target, stash_root)})
                journal["phase"] = "stashed"
                _write_json(txn / _JOURNAL, journal)
                _fault("stashed")
            if pip_args is not None:
                from pipkit.env import proc
                from pipkit.fsutil import atomic_write_text

                for name, text in (files or {}).items():
                    atomic_write_text(txn / name, text)
                journal["phase"] = "installing"
                _write_json(txn / _JOURNAL, journal)
                args = [a.replace("{txn}", str(txn)) for a in pip_args]
                result = proc.pip(
                    target.python, args, capture=capture_pip, pass_fds=(sess.mutex.fd,)
                )
                if result.returncode != 0:
                    output = (result.stderr or "") if capture_pip else ""
                    raise _Failed(f"pip failed (exit code {result.returncode})", output)
            problem = _duplicates(target, expect_present) or (verify() if verify else None)
            if problem:
                raise _Failed(problem)
            journal["phase"] = "installed"
            _write_json(txn / _JOURNAL, journal)
            _fault("installed")
        except BaseException as exc:
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
        with _shielded():
            _commit(target, txn, journal)
        sess.recorder.set_result("ok")


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
    """What :func:`recover` would do now, without doing it."""
    journal = read_journal(target)
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
        journal = read_journal(target) or {}
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
    finally:
        os.close(fd)
    sys.stderr.write(f"pipkit: undid the interrupted change in {state_dir}\n")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "undo":
        sys.stderr.write("usage: python -m pipkit.env.transaction undo STATE_DIR\n")
        sys.exit(2)
    sys.exit(_undo_standalone(Path(sys.argv[2])))

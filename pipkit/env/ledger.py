"""The history ledger: every change to an environment, stored, and the seams that record it.

One SQLite database per environment, ``<state_dir>/history.sqlite3`` (WAL, a busy timeout, one
``BEGIN IMMEDIATE`` transaction per write), so two pipkit processes never lose or corrupt an
entry. An entry holds the command line, the time, the full set of installed distributions
before and after (:mod:`pipkit.core.snapshot`) and the result: ``ok``, ``failed``,
``rolled back`` - or ``running`` while the change is under way, which a later pipkit that finds
it (the process died) turns into ``interrupted``.

The transaction (:mod:`pipkit.env.transaction`) calls two seams:

* :func:`recording` around every change, inside the environment mutex. It first notices
  changes made behind pipkit's back (the environment differs from the last entry's "after")
  and records them as an entry of their own, ``(outside pipkit)``, so the history never lies.
  Recording must never break a change: a history that cannot be written is a warning
  (``logging``; the CLI shows it).
* :func:`archive` with the files of every distribution the change removes or replaces,
  which are repacked into wheels in the store (:mod:`pipkit.env.store`); a rollback then
  needs no index.

Reading the history and rolling back are use cases: :mod:`pipkit.ops.history` and
:mod:`pipkit.ops.rollback`. Imports the standard library, ``packaging``, pipkit.core,
pipkit.errors and, inside functions, pipkit.env (dists, store, mutex). Never runs processes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipkit.core.snapshot import Diff, Snapshot, diff, dump, load, snapshot_of
from pipkit.env.dists import declares_editable
from pipkit.errors import OperationError, UsageError

if TYPE_CHECKING:
    from pipkit.env.store import WheelStore
    from pipkit.env.target import Target

_log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
DB_NAME = "history.sqlite3"
OUTSIDE_COMMAND = "(outside pipkit)"
OK = "ok"
FAILED = "failed"
ROLLED_BACK = "rolled back"
RUNNING = "running"
INTERRUPTED = "interrupted"
# How long a writer waits for another process's write transaction: writes are tiny, so
# anything longer than this means something is wrong, not busy.
BUSY_TIMEOUT_S = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    time    TEXT NOT NULL,             -- ISO 8601, UTC, when the change started
    command TEXT NOT NULL,             -- the command line, or "(outside pipkit)"
    result  TEXT NOT NULL,             -- ok / failed / rolled back / running / interrupted
    outside INTEGER NOT NULL DEFAULT 0,
    before  TEXT NOT NULL,             -- JSON: the installed set before
    after   TEXT                       -- JSON: the installed set after (NULL while running)
);
"""


def snapshot(target: Target) -> Snapshot:
    """The target's installed set, now."""
    from pipkit.env.dists import installed

    return snapshot_of(installed(target.sys_path))


# --------------------------------------------------------------------------------------------
# The database


@dataclass(frozen=True)
class Entry:
    """One recorded change."""

    id: int
    time: str
    command: str
    result: str
    outside: bool
    before: Snapshot
    after: Snapshot | None  # None while running

    @property
    def diff(self) -> Diff:
        return diff(self.before, self.after if self.after is not None else self.before)

    def summary_json(self) -> dict[str, Any]:
        """The ``history --json`` row: counts only."""
        changes = self.diff
        return {
            "id": self.id,
            "time": self.time,
            "command": self.command,
            "result": self.result,
            "outside": self.outside,
            "added": len(changes.added),
            "removed": len(changes.removed),
            "changed": len(changes.changed),
        }

    def to_json(self) -> dict[str, Any]:
        """The ``history show --json`` document: the full diff and both sets."""
        data = {
            k: v for k, v in self.summary_json().items() if k not in ("added", "removed", "changed")
        }
        data.update(self.diff.to_json())
        data["before"] = [self.before[n].to_json() for n in sorted(self.before)]
        data["after"] = (
            None if self.after is None else [self.after[n].to_json() for n in sorted(self.after)]
        )
        return data


def history_path(target: Target) -> Path:
    return target.state_dir / DB_NAME


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class History:
    """The history database of one environment. Every write is one IMMEDIATE transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # Autocommit mode (isolation_level=None): transactions are explicit BEGIN/COMMIT.
        wait = busy_timeout()
        self.conn = sqlite3.connect(path, timeout=wait, isolation_level=None)
        try:
            self.conn.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")
            # WAL: readers never block the writer; FULL: a committed entry survives power loss.
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA synchronous = FULL")
            if self._schema_version() < SCHEMA_VERSION:
                with self._write():
                    if self._schema_version() < SCHEMA_VERSION:  # another process may have
                        self.conn.execute(_SCHEMA)
                        self.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            version = self._schema_version()
            if version > SCHEMA_VERSION:
                raise OperationError(
                    f"{path}: history written by a newer pipkit (schema {version}); upgrade pipkit"
                )
        except BaseException:
            self.conn.close()
            raise

    def _schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    @classmethod
    def open(cls, target: Target) -> History:
        return cls(history_path(target))

    @classmethod
    def existing(cls, target: Target) -> History | None:
        """The target's history if it has one (reading never creates it)."""
        path = history_path(target)
        return cls(path) if path.exists() else None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        # IMMEDIATE takes the write lock up front, so two writers queue on busy_timeout
        # instead of one failing half-way with SQLITE_BUSY on lock upgrade.
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def _row(self, row: tuple[Any, ...]) -> Entry:
        before = load(row[5]) or {}
        return Entry(
            id=int(row[0]),
            time=str(row[1]),
            command=str(row[2]),
            result=str(row[3]),
            outside=bool(row[4]),
            before=before,
            after=load(row[6]),
        )

    _COLUMNS = "id, time, command, result, outside, before, after"

    def entries(self, limit: int | None = None) -> list[Entry]:
        """Entries oldest first; with ``limit`` the newest ``limit`` of them."""
        if limit is None:
            rows = self.conn.execute(f"SELECT {self._COLUMNS} FROM entries ORDER BY id").fetchall()
        else:
            rows = self.conn.execute(
                f"SELECT {self._COLUMNS} FROM entries ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
            rows.reverse()
        return [self._row(r) for r in rows]

    def get(self, entry_id: int) -> Entry | None:
        row = self.conn.execute(
            f"SELECT {self._COLUMNS} FROM entries WHERE id = ?", (entry_id,)
        ).fetchone()
        return None if row is None else self._row(row)

    def last(self) -> Entry | None:
        row = self.conn.execute(
            f"SELECT {self._COLUMNS} FROM entries ORDER BY id DESC LIMIT 1"
        ).fetchone()
        return None if row is None else self._row(row)

    def add(
        self,
        command: str,
        result: str,
        before: Snapshot,
        after: Snapshot | None,
        *,
        outside: bool = False,
        when: str | None = None,
    ) -> int:
        with self._write():
            cursor = self.conn.execute(
                "INSERT INTO entries (time, command, result, outside, before, after)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    when or _now(),
                    command,
                    result,
                    int(outside),
                    dump(before),
                    None if after is None else dump(after),
                ),
            )
            entry_id = cursor.lastrowid
        assert entry_id is not None
        return entry_id

    def finish(self, entry_id: int, result: str, after: Snapshot) -> None:
        with self._write():
            self.conn.execute(
                "UPDATE entries SET result = ?, after = ? WHERE id = ?",
                (result, dump(after), entry_id),
            )

    def settle(self, current: Snapshot) -> int | None:
        """Bring the history up to date with ``current``, the environment as found now.

        Call only while holding the environment lock (no pipkit change is under way). An
        entry left ``running`` by a process that died becomes ``interrupted`` with the set
        found now as its "after"; then, if the environment differs from the last entry's
        "after", an ``(outside pipkit)`` entry records the difference. Returns that entry's
        id, or None.
        """
        with self._write():
            stale = self.conn.execute(
                "SELECT id FROM entries WHERE result = ? ORDER BY id", (RUNNING,)
            ).fetchall()
            for (entry_id,) in stale:
                self.conn.execute(
                    "UPDATE entries SET result = ?, after = ? WHERE id = ?",
                    (INTERRUPTED, dump(current), entry_id),
                )
            row = self.conn.execute(
                "SELECT after FROM entries WHERE after IS NOT NULL ORDER BY id DESC LIMIT 1"
            ).fetchone()
            if row is None:
                return None  # no history yet: the first entry's "before" is the baseline
            last_after = load(row[0]) or {}
            if diff(last_after, current).empty:
                return None
            cursor = self.conn.execute(
                "INSERT INTO entries (time, command, result, outside, before, after)"
                " VALUES (?, ?, ?, 1, ?, ?)",
                (_now(), OUTSIDE_COMMAND, OK, dump(last_after), dump(current)),
            )
            return cursor.lastrowid


class HistoryLocked(OperationError):
    """The history database stayed locked by another process past the wait (exit 1)."""


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def busy_timeout() -> float:
    """How long a writer waits for the history: ``PIPKIT_HISTORY_TIMEOUT`` (s), else 30."""
    raw = os.environ.get("PIPKIT_HISTORY_TIMEOUT", "").strip()
    try:
        value = float(raw) if raw else BUSY_TIMEOUT_S
    except ValueError:
        return BUSY_TIMEOUT_S
    return value if value >= 0 else BUSY_TIMEOUT_S


def _lock_holder(path: Path) -> str:
    """Which process holds a lock on the database (or its WAL index), from /proc/locks."""
    inodes: set[tuple[int, int]] = set()
    for candidate in (path, Path(f"{path}-shm"), Path(f"{path}-wal")):
        with contextlib.suppress(OSError):
            info = os.stat(candidate)
            inodes.add((info.st_dev, info.st_ino))
    holders: list[str] = []
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as handle:
            rows = handle.read().splitlines()
    except OSError:
        rows = []
    for row in rows:
        fields = row.split()
        if len(fields) < 6 or not fields[4].isdigit():
            continue
        pid, where = int(fields[4]), fields[5].split(":")
        if pid == os.getpid() or len(where) != 3:
            continue
        try:
            dev = os.makedev(int(where[0], 16), int(where[1], 16))
            key = (dev, int(where[2]))
        except ValueError:
            continue
        if key in inodes:
            holders.append(_describe(pid))
    return ", ".join(dict.fromkeys(holders)) or "another process"


def _describe(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            argv = handle.read().split(b"\0")
        command = " ".join(" ".join(a.decode("utf-8", "replace").split()) for a in argv if a)
    except OSError:
        command = ""
    return f"pid {pid} ({command[:120]})" if command else f"pid {pid}"


def _warn(text: str) -> None:
    # A history problem never stops a change: it is a warning the CLI shows (logging).
    _log.warning("%s", text)


# --------------------------------------------------------------------------------------------
# The seam the sync engine calls around every change


@dataclass
class Recorder:
    """What :func:`recording` yields: set the result; read the entry's id and sets."""

    target: Target
    command: str
    entry_id: int | None = None
    outside_id: int | None = None  # the "(outside pipkit)" entry recorded first, if any
    before: Snapshot = field(default_factory=dict)
    after: Snapshot | None = None
    result: str | None = None
    _history: History | None = field(default=None, repr=False)

    def set_result(self, result: str) -> None:
        """``ok``, ``failed`` or ``rolled back``; the last call wins."""
        self.result = result

    def _begin(self) -> None:
        try:
            self.before = snapshot(self.target)
        except Exception as exc:  # the change must go on even if the history cannot
            _warn(f"history: cannot read the environment ({exc}); this change is not recorded")
            return
        try:
            self._history = History.open(self.target)
            self.outside_id = self._history.settle(self.before)
            self.entry_id = self._history.add(self.command, RUNNING, self.before, None)
        except sqlite3.OperationalError as exc:
            self._close()
            if not _is_busy(exc):
                _warn(f"history: cannot record this change in {history_path(self.target)}: {exc}")
                return
            # Locked past the wait: going on would leave the change unrecorded. Refuse it
            # (nothing has changed yet) unless the user said --no-history.
            path = history_path(self.target)
            raise HistoryLocked(
                f"the history {path} is locked by {_lock_holder(path)} (waited "
                f"{busy_timeout():g} s); nothing was changed: try again, or pass --no-history "
                "to change the environment without recording it"
            ) from None
        except Exception as exc:  # a damaged history must not stop the change
            _warn(f"history: cannot record this change in {history_path(self.target)}: {exc}")
            self._close()

    def _finish(self, default: str) -> None:
        result = self.result or default
        self.result = result
        if self._history is None or self.entry_id is None:
            return
        try:
            self.after = snapshot(self.target)
            self._history.finish(self.entry_id, result, self.after)
        except Exception as exc:
            _warn(f"history: cannot record the end of entry {self.entry_id}: {exc}")
        finally:
            self._close()

    def _close(self) -> None:
        if self._history is not None:
            with contextlib.suppress(sqlite3.Error):
                self._history.close()
            self._history = None


@contextlib.contextmanager
def recording(target: Target, command: str) -> Iterator[Recorder]:
    """Record the change made inside the block (enter it holding the environment mutex).

    The result is what :meth:`Recorder.set_result` set, else ``failed`` when an exception
    leaves the block, else ``ok``. History errors are logged warnings, never raised.
    """
    recorder = Recorder(target=target, command=command)
    recorder._begin()
    try:
        yield recorder
    except BaseException:
        recorder._finish(FAILED)
        raise
    recorder._finish(OK)


def notice_outside_changes(target: Target) -> int | None:
    """Record changes made behind pipkit's back, if the lock is free right now.

    For readers (``history``, ``rollback`` before it plans): without the lock a change
    under way would look like an outside change, so a busy lock means "look next time".
    Returns the new outside entry's id, or None. Never raises for history trouble.
    """
    from pipkit.env import mutex
    from pipkit.errors import LockedError

    if not history_path(target).exists():
        return None
    try:
        with mutex.hold(target, timeout=0), History.open(target) as history:
            return history.settle(snapshot(target))
    except LockedError:
        return None
    except (sqlite3.Error, OSError, ValueError, KeyError, TypeError, OperationError) as exc:
        _warn(f"history: cannot update {history_path(target)}: {exc}")
        return None


# --------------------------------------------------------------------------------------------
# The seam the transaction calls with what it stashed


def store_for(target: Target) -> WheelStore:
    """The target's wheel store, with the configured cap, every parked stash repacked."""
    from pipkit.core.defaults import STORE_DIR
    from pipkit.env.store import WheelStore, max_bytes

    settle(target)
    return WheelStore(target.state_dir / STORE_DIR, max_bytes())


def archive(
    target: Target,
    stash_root: Path,
    dist_info_relpaths: list[str],
    *,
    mirror: str,
    park_as: str | None = None,
) -> None:
    """Keep each stashed distribution for offline rollback, as a wheel in the target's store;
    never raises.

    ``dist_info_relpaths`` are the stashed ``.dist-info`` folders relative to ``stash_root``.
    The transaction's stash mirrors the whole file system under ``stash_root/<mirror>`` (a
    file that was at ``/p/x`` is at ``stash_root/<mirror>/p/x``; the transaction names
    ``mirror``), so every file a ``RECORD`` lists, scripts included, is found by its original
    absolute path. A path not under the mirror is
    taken as relative to a stash that mirrors site-packages itself (files outside it are then
    left out of the wheel; pip regenerates entry-point wrappers anyway). Editable installs
    are not archived: a rollback reinstalls them from their project folder.

    With ``park_as`` (the transaction's id), the stash is not repacked now: it is moved into
    the store as it is (one rename, so a change's commit does not wait for a repack of every
    wheel) beside a small manifest, and :func:`settle` repacks it when the store is next read
    (a rollback, the dashboard, ``history prune``) or when parked stashes push the store past
    its cap. Without ``park_as``, or when the rename fails (the stash is on another file
    system), it is repacked now. Afterwards the store is pruned to its cap.
    """
    infos = [
        rel
        for rel in dist_info_relpaths
        if rel.rstrip("/").endswith(".dist-info") and not declares_editable(stash_root / rel)
    ]
    if not infos:
        return
    layout = {"scripts": target.scripts, "prefix": target.prefix}
    if park_as is not None and _park(target, stash_root, infos, mirror, layout, park_as):
        _keep_under_cap(target)
        return
    _repack(target, stash_root, infos, mirror, layout)


_MANIFEST = "parked.json"


def _parked_root(target: Target) -> Path:
    from pipkit.core.defaults import PARKED_DIR, STORE_DIR

    return target.state_dir / STORE_DIR / PARKED_DIR


def _park(
    target: Target,
    stash_root: Path,
    infos: list[str],
    mirror: str,
    layout: dict[str, str],
    name: str,
) -> bool:
    """Move the stash into the store with its manifest; False when it cannot be moved."""
    from pipkit.fsutil import atomic_write_text

    manifest = {
        "v": 1,
        "infos": infos,
        "mirror": mirror,
        "layout": layout,
        "bytes": _tree_bytes(stash_root),
        "parked": time.time(),
    }
    destination = _parked_root(target) / name
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(stash_root / _MANIFEST, json.dumps(manifest))
        os.rename(stash_root, destination)  # atomic; EXDEV for a stash on another disk
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(stash_root / _MANIFEST)
        return False
    return True


def _tree_bytes(root: Path) -> int:
    total = 0
    stack = [str(root)]
    while stack:
        with contextlib.suppress(OSError), os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    with contextlib.suppress(OSError):
                        total += entry.stat(follow_symlinks=False).st_size
    return total


def _parked(target: Target) -> list[tuple[Path, dict[str, Any]]]:
    """The parked stashes, oldest first, with their manifests (unreadable ones left out)."""
    found: list[tuple[Path, dict[str, Any]]] = []
    root = _parked_root(target)
    with contextlib.suppress(OSError):
        for entry in os.scandir(root):
            try:
                manifest = json.loads(Path(entry.path, _MANIFEST).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(manifest, dict) and manifest.get("v") == 1:
                found.append((Path(entry.path), manifest))
    found.sort(key=lambda item: (item[1].get("parked", 0), item[0].name))
    return found


def settle(target: Target) -> None:
    """Repack every parked stash into wheels in the store, then prune it; never raises.

    A stash whose transaction is still pending (its journal is there: ``recover`` may need
    it back to undo) is left parked. Each stash is claimed by a rename first, so two pipkits
    settling at once never repack one twice."""
    from pipkit.core.defaults import JOURNAL_FILE, TRANSACTION_DIR

    try:
        journal = target.state_dir / TRANSACTION_DIR / JOURNAL_FILE
        pending = json.loads(journal.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pending = {}
    if not isinstance(pending, dict):
        pending = {}
    for folder, manifest in _parked(target):
        if folder.name == pending.get("id"):
            continue
        claimed = folder.with_name(f"{folder.name}.settling-{os.getpid()}")
        try:
            os.rename(folder, claimed)
        except OSError:
            continue  # another pipkit took it
        try:
            _repack(target, claimed, manifest["infos"], manifest["mirror"], manifest["layout"])
        except Exception as exc:  # never raises: the history must not fail a change
            _warn(f"not kept for offline rollback: {exc}")
        finally:
            import shutil

            shutil.rmtree(claimed, ignore_errors=True)


def _keep_under_cap(target: Target) -> None:
    """When the wheels and the parked stashes take more than the store's cap: repack the
    parked stashes (all but the pending change's own, which is never repacked on its commit's
    path) and drop the oldest wheels until everything, that one included, fits."""
    store = _store(target)
    parked = sum(int(m.get("bytes", 0)) for _f, m in _parked(target))
    with contextlib.suppress(OSError):
        if parked and store.total_bytes() + parked > store.cap_bytes:
            settle(target)
            still = sum(int(m.get("bytes", 0)) for _f, m in _parked(target))
            store.prune(max(store.cap_bytes - still, 0))


def _store(target: Target) -> WheelStore:
    from pipkit.core.defaults import STORE_DIR
    from pipkit.env.store import DEFAULT_MAX_MB, WheelStore, max_bytes

    try:
        cap = max_bytes()
    except UsageError as exc:
        _warn(f"{exc}; using the default store size")
        cap = DEFAULT_MAX_MB * 1024 * 1024
    return WheelStore(target.state_dir / STORE_DIR, cap)


def _repack(
    target: Target, stash_root: Path, infos: list[str], mirror: str, layout: dict[str, str]
) -> None:
    """Repack each stashed ``.dist-info`` into a wheel in the store, then prune the store."""
    from pipkit.env.store import Layout, StoreError

    store = _store(target)
    stored = 0
    for relpath in infos:
        parts = Path(relpath).parts
        where: Layout | None = None
        reader: Callable[[str], Path | None] | None = None
        if parts and parts[0] == mirror:
            mirror_root = stash_root / mirror
            site_dir = os.path.dirname(os.sep + os.path.join(*parts[1:]))
            root = mirror_root / site_dir.lstrip(os.sep)
            where = Layout(site_dir=site_dir, scripts=layout["scripts"], prefix=layout["prefix"])
            reader = partial(_from_mirror, mirror_root)
        else:
            # A stash mirroring site-packages only: files outside it cannot be found, so the
            # wheel goes without them (pip regenerates entry-point wrappers anyway).
            root = stash_root / os.path.dirname(relpath)
        try:
            store.add_from(root, Path(relpath).name, where, reader=reader)
            stored += 1
        except (StoreError, OSError) as exc:
            _warn(f"not kept for offline rollback: {exc}")
    if stored:
        try:
            store.prune()
        except OSError as exc:
            _warn(f"cannot prune the wheel store {store.root}: {exc}")


def _from_mirror(mirror: Path, original: str) -> Path | None:
    candidate = mirror / original.lstrip(os.sep)
    # Only what was stashed: a symlinked folder in the stash would lead outside it.
    real_mirror = os.path.realpath(mirror)
    parent = os.path.realpath(candidate.parent)
    if parent != real_mirror and not parent.startswith(real_mirror + os.sep):
        return None
    return candidate if os.path.lexists(candidate) else None

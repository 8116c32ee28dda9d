"""The history of an environment: every change, what it was before and after, and rollback.

One SQLite database per environment, ``<state_dir>/history.sqlite3`` (WAL, a busy timeout, one
``BEGIN IMMEDIATE`` transaction per write), so two pipkit processes never lose or corrupt an
entry. An entry holds the command line, the time, the full set of installed distributions
before and after (name, version, and the origin of editables and direct-URL installs) and
the result: ``ok``, ``failed``, ``rolled back`` - or ``running`` while the change is under
way, which a later pipkit that finds it (the process died) turns into ``interrupted``.

The sync engine (``pipkit.env.transaction``) calls two seams:

* :func:`recording` around every change, inside the environment lock. It first notices
  changes made behind pipkit's back (the environment differs from the last entry's "after")
  and records them as an entry of their own, ``(outside pipkit)``, so the history never lies.
  Recording must never break a change: a history that cannot be written is a warning.
* :func:`archive` with the files of every distribution the change removes or replaces,
  which are repacked into wheels in the store (:mod:`pipkit.env.store`); a rollback then
  needs no index.

:func:`plan_rollback` / :func:`rollback` turn an entry back into a lock of that state and
hand it to the same all-or-nothing sync (``pipkit.sync``), itself recorded.

Imports the standard library, ``packaging``, pipkit.core.model, pipkit.errors and, inside
functions, pipkit.env (dists, store, envlock, index, pipconfig) and pipkit.sync. Must not
run processes itself nor import pip.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.utils import NormalizedName, canonicalize_name

from pipkit.errors import OperationError, UsageError

if TYPE_CHECKING:
    from pipkit.core.model import InstalledDist, Lock
    from pipkit.env.store import WheelStore
    from pipkit.env.target import Target

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


# --------------------------------------------------------------------------------------------
# Snapshots: the installed set, as the history keeps it


@dataclass(frozen=True)
class Pkg:
    """One installed distribution as the history records it."""

    name: str  # as its metadata spells it
    version: str
    origin: str | None = None  # URL of a direct-URL or editable install (pip's form)
    editable: bool = False

    @property
    def key(self) -> NormalizedName:
        return canonicalize_name(self.name)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "version": self.version}
        if self.origin is not None:
            data["origin"] = self.origin
        if self.editable:
            data["editable"] = True
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Pkg:
        return cls(
            name=str(data["name"]),
            version=str(data["version"]),
            origin=data.get("origin"),
            editable=bool(data.get("editable", False)),
        )

    def describe(self) -> str:
        """``1.0``, ``1.0 from URL``, ``1.0 editable PATH``."""
        if self.editable:
            return f"{self.version} editable {self.origin or ''}".rstrip()
        if self.origin:
            return f"{self.version} from {self.origin}"
        return self.version

    @property
    def pin(self) -> str:
        return f"{self.name}=={self.version}"


Snapshot = dict[NormalizedName, Pkg]


def _origin(dist: InstalledDist) -> str | None:
    """The URL pip would be handed to reinstall ``dist`` from where it came from."""
    direct = dist.direct_url
    if direct is None:
        if dist.editable_location:  # legacy egg-link editable: its project folder
            return Path(dist.editable_location).as_uri()
        return None
    if direct.vcs and not direct.editable:
        url = f"{direct.vcs}+{direct.url}@{direct.commit_id or direct.requested_revision or ''}"
    else:
        url = direct.url
    if direct.subdirectory:
        url += f"#subdirectory={direct.subdirectory}"
    return url


def snapshot_of(dists: Mapping[NormalizedName, InstalledDist]) -> Snapshot:
    """The history's view of an installed set."""
    return {
        name: Pkg(
            name=dist.raw_name,
            version=dist.version,
            origin=_origin(dist),
            editable=dist.editable or bool(dist.direct_url and dist.direct_url.editable),
        )
        for name, dist in sorted(dists.items())
    }


def snapshot(target: Target) -> Snapshot:
    """The target's installed set, now."""
    from pipkit.env.dists import installed

    return snapshot_of(installed(target.sys_path))


def _dump(snap: Snapshot) -> str:
    return json.dumps([snap[name].to_json() for name in sorted(snap)], separators=(",", ":"))


def _load(text: str | None) -> Snapshot | None:
    if text is None:
        return None
    pkgs = (Pkg.from_json(item) for item in json.loads(text))
    return {p.key: p for p in pkgs}


@dataclass(frozen=True)
class Diff:
    """How one installed set became another."""

    added: tuple[Pkg, ...] = ()
    removed: tuple[Pkg, ...] = ()
    changed: tuple[tuple[Pkg, Pkg], ...] = ()  # (before, after)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def to_json(self) -> dict[str, Any]:
        return {
            "added": [p.to_json() for p in self.added],
            "removed": [p.to_json() for p in self.removed],
            "changed": [{"before": a.to_json(), "after": b.to_json()} for a, b in self.changed],
        }


def diff(before: Snapshot, after: Snapshot) -> Diff:
    """What was added, removed and changed (version, origin or editable-ness) between two sets."""
    added = tuple(after[n] for n in sorted(after) if n not in before)
    removed = tuple(before[n] for n in sorted(before) if n not in after)
    changed = tuple(
        (before[n], after[n])
        for n in sorted(before)
        if n in after
        and (before[n].version, before[n].origin, before[n].editable)
        != (after[n].version, after[n].origin, after[n].editable)
    )
    return Diff(added, removed, changed)


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
        self.conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            self.conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
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
        before = _load(row[5]) or {}
        return Entry(
            id=int(row[0]),
            time=str(row[1]),
            command=str(row[2]),
            result=str(row[3]),
            outside=bool(row[4]),
            before=before,
            after=_load(row[6]),
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
                    _dump(before),
                    None if after is None else _dump(after),
                ),
            )
            entry_id = cursor.lastrowid
        assert entry_id is not None
        return entry_id

    def finish(self, entry_id: int, result: str, after: Snapshot) -> None:
        with self._write():
            self.conn.execute(
                "UPDATE entries SET result = ?, after = ? WHERE id = ?",
                (result, _dump(after), entry_id),
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
                    (INTERRUPTED, _dump(current), entry_id),
                )
            row = self.conn.execute(
                "SELECT after FROM entries WHERE after IS NOT NULL ORDER BY id DESC LIMIT 1"
            ).fetchone()
            if row is None:
                return None  # no history yet: the first entry's "before" is the baseline
            last_after = _load(row[0]) or {}
            if diff(last_after, current).empty:
                return None
            cursor = self.conn.execute(
                "INSERT INTO entries (time, command, result, outside, before, after)"
                " VALUES (?, ?, ?, 1, ?, ?)",
                (_now(), OUTSIDE_COMMAND, OK, _dump(last_after), _dump(current)),
            )
            return cursor.lastrowid


def _warn(text: str) -> None:
    sys.stderr.write(f"pipkit: warning: {text}\n")
    sys.stderr.flush()


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
    """Record the change made inside the block (enter it holding the environment lock).

    The result is what :meth:`Recorder.set_result` set, else ``failed`` when an exception
    leaves the block, else ``ok``. History errors are warnings on stderr, never raised.
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
    from pipkit.env import envlock
    from pipkit.errors import LockedError

    if not history_path(target).exists():
        return None
    try:
        with envlock.hold(target, timeout=0), History.open(target) as history:
            return history.settle(snapshot(target))
    except LockedError:
        return None
    except (sqlite3.Error, OSError, ValueError, KeyError, TypeError, OperationError) as exc:
        _warn(f"history: cannot update {history_path(target)}: {exc}")
        return None


# --------------------------------------------------------------------------------------------
# The seam the transaction calls with what it stashed


def store_for(target: Target) -> WheelStore:
    """The target's wheel store, with the configured cap."""
    from pipkit.env.store import WheelStore, max_bytes

    return WheelStore(target.state_dir / "store", max_bytes())


def archive(target: Target, stash_root: Path, dist_info_relpaths: list[str]) -> None:
    """Repack each stashed distribution into a wheel in the target's store; never raises.

    ``dist_info_relpaths`` are the stashed ``.dist-info`` folders relative to ``stash_root``.
    The transaction's stash mirrors the whole file system under ``stash_root/root`` (a file
    that was at ``/p/x`` is at ``stash_root/root/p/x``), so every file a ``RECORD`` lists,
    scripts included, is found by its original absolute path. A path not under ``root/`` is
    taken as relative to a stash that mirrors site-packages itself (files outside it are then
    left out of the wheel; pip regenerates entry-point wrappers anyway). Editable installs
    are not archived: a rollback reinstalls them from their project folder. Afterwards the
    store is pruned to its cap.
    """
    from pipkit.env.store import DEFAULT_MAX_MB, Layout, StoreError, WheelStore, max_bytes

    try:
        cap = max_bytes()
    except UsageError as exc:
        _warn(f"{exc}; using the default store size")
        cap = DEFAULT_MAX_MB * 1024 * 1024
    store = WheelStore(target.state_dir / "store", cap)
    stored = 0
    for relpath in dist_info_relpaths:
        info = stash_root / relpath
        if not relpath.rstrip("/").endswith(".dist-info") or _is_editable(info):
            continue
        parts = Path(relpath).parts
        layout: Layout | None = None
        reader: Callable[[str], Path | None] | None = None
        if parts and parts[0] == _STASH_MIRROR:
            mirror = stash_root / _STASH_MIRROR
            site_dir = os.path.dirname(os.sep + os.path.join(*parts[1:]))
            root = mirror / site_dir.lstrip(os.sep)
            layout = Layout(site_dir=site_dir, scripts=target.scripts, prefix=target.prefix)
            reader = partial(_from_mirror, mirror)
        else:
            # A stash mirroring site-packages only: files outside it cannot be found, so the
            # wheel goes without them (pip regenerates entry-point wrappers anyway).
            root = stash_root / os.path.dirname(relpath)
        try:
            store.add_from(root, Path(relpath).name, layout, reader=reader)
            stored += 1
        except (StoreError, OSError) as exc:
            _warn(f"not kept for offline rollback: {exc}")
    if stored:
        try:
            store.prune()
        except OSError as exc:
            _warn(f"cannot prune the wheel store {store.root}: {exc}")


# The transaction stashes a file that was at /p/x as <stash_root>/root/p/x.
_STASH_MIRROR = "root"


def _from_mirror(mirror: Path, original: str) -> Path | None:
    candidate = mirror / original.lstrip(os.sep)
    return candidate if os.path.lexists(candidate) else None


def _is_editable(info: Path) -> bool:
    try:
        data = json.loads((info / "direct_url.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and bool((data.get("dir_info") or {}).get("editable"))


# --------------------------------------------------------------------------------------------
# Rollback: an entry's state as a lock, applied by the sync engine

STORE = "store"  # where a package to install comes from: the wheel store,
INDEX = "index"  # the configured index,
LOCAL = "local"  # a local project folder or file its origin names,
REMOTE = "remote"  # a remote URL its origin names (not probed).


@dataclass(frozen=True)
class RollbackPlan:
    """Where a rollback goes and what it needs, decided before anything changes."""

    entry: Entry
    undo: bool  # True: the state before ``entry``; False: the state right after it
    wanted: Snapshot
    current: Snapshot
    sources: dict[NormalizedName, str]  # for each package to install: STORE/INDEX/LOCAL/REMOTE
    missing: tuple[str, ...] = ()  # "name==version" (or "name (origin)") found nowhere
    unreachable: str | None = None  # why no index could be asked, if none could

    @property
    def changes(self) -> Diff:
        return diff(self.current, self.wanted)

    @property
    def description(self) -> str:
        side = "before" if self.undo else "right after"
        return f"the state {side} entry {self.entry.id} ({self.entry.command})"

    def missing_message(self) -> str:
        listing = ", ".join(self.missing)
        if self.unreachable:
            return (
                f"cannot roll back to {self.description}: not in the wheel store: {listing}; "
                f"and no index was reachable ({self.unreachable})"
            )
        return (
            f"cannot roll back to {self.description}: neither in the wheel store nor on the "
            f"configured indexes: {listing}"
        )


@contextlib.contextmanager
def _reading(target: Target) -> Iterator[History]:
    """The target's history for reading; a damaged database is one OperationError line."""
    path = history_path(target)
    if not path.exists():
        raise OperationError(f"no history for {target.prefix}: pipkit has not changed it yet")
    try:
        with History(path) as db:
            yield db
    except (sqlite3.Error, ValueError, KeyError, TypeError) as exc:
        raise OperationError(f"{path}: cannot read the history ({exc})") from None


def entries(target: Target, *, limit: int | None = None) -> list[Entry]:
    """The target's history, oldest first (noticing outside changes first); [] if none."""
    if limit is not None and limit < 1:
        raise UsageError(f"--limit {limit}: must be at least 1")
    notice_outside_changes(target)
    if not history_path(target).exists():
        return []
    with _reading(target) as db:
        return db.entries(limit)


def entry(target: Target, entry_id: int) -> Entry:
    """One entry; UsageError (exit 2) naming it when there is no such entry."""
    notice_outside_changes(target)
    with _reading(target) as db:
        found = db.get(entry_id)
        last = db.last()
    if found is None:
        span = f"entries are 1 to {last.id}" if last else "the history is empty"
        raise UsageError(f"no history entry {entry_id} ({span})")
    return found


def plan_rollback(target: Target, entry_id: int | None) -> RollbackPlan:
    """Where ``rollback [ID]`` goes and where each package would come from; changes nothing.

    With an ID, the state right after that entry; without, the state before the last entry
    (undo). Each package to install is looked for in the wheel store first, then on the
    configured indexes (one Simple-API lookup, :mod:`pipkit.env.index`); those found nowhere
    are listed in ``missing``.
    """
    notice_outside_changes(target)
    with _reading(target) as db:
        last = db.last()
        chosen = last if entry_id is None else db.get(entry_id)
    if last is None:
        raise OperationError(f"the history of {target.prefix} is empty: nothing to roll back")
    if chosen is None:
        raise UsageError(f"no history entry {entry_id} (entries are 1 to {last.id})")
    if chosen.after is None or last.result == RUNNING:
        raise OperationError(
            f"entry {last.id} ({last.command}) is still running; wait for it to finish"
        )
    undo = entry_id is None
    wanted = chosen.before if undo else chosen.after
    current = snapshot(target)
    sources, missing, unreachable = _find_sources(target, diff(current, wanted))
    return RollbackPlan(chosen, undo, wanted, current, sources, missing, unreachable)


def _find_sources(
    target: Target, changes: Diff
) -> tuple[dict[NormalizedName, str], tuple[str, ...], str | None]:
    from pipkit.env.dists import url_to_path

    store = store_for(target)
    sources: dict[NormalizedName, str] = {}
    missing: list[str] = []
    from_index: list[Pkg] = []
    for pkg in [*changes.added, *(new for _old, new in changes.changed)]:
        if pkg.editable or pkg.origin:
            url = (pkg.origin or "").split("#", 1)[0]
            if url.startswith("file:"):
                if os.path.exists(url_to_path(url)):
                    sources[pkg.key] = LOCAL
                elif not pkg.editable and store.find(pkg.name, pkg.version):
                    sources[pkg.key] = STORE  # reinstalled from its repacked wheel
                else:
                    missing.append(f"{pkg.name} ({'editable ' if pkg.editable else ''}{url})")
            else:
                sources[pkg.key] = REMOTE
            continue
        if store.find(pkg.name, pkg.version) is not None:
            sources[pkg.key] = STORE
        else:
            from_index.append(pkg)
    unreachable: str | None = None
    if from_index:
        found, unreachable = _on_index(target, from_index)
        for pkg in from_index:
            if pkg.key in found:
                sources[pkg.key] = INDEX
            else:
                missing.append(pkg.pin)
    return sources, tuple(sorted(missing, key=str.lower)), unreachable


def _on_index(target: Target, pkgs: list[Pkg]) -> tuple[set[NormalizedName], str | None]:
    """Which of ``pkgs`` (name==version) the configured indexes have; or why none could say."""
    from pipkit.env.index import lookup_projects
    from pipkit.env.pipconfig import load_pip_config
    from pipkit.env.store import same_version

    try:
        config = load_pip_config("install", site_prefix=target.prefix, environ=os.environ)
        infos = lookup_projects([p.name for p in pkgs], config)
    except (OperationError, UsageError) as exc:
        return set(), exc.message
    found: set[NormalizedName] = set()
    for pkg in pkgs:
        info = infos.get(pkg.name)
        if info is not None and any(
            same_version(str(v.version), pkg.version) for v in info.versions
        ):
            found.add(pkg.key)
    return found, None


def rollback_lock(target: Target, plan: RollbackPlan) -> Lock:
    """The wanted state as an exact lock: ``name==version``, editables and URLs by origin.

    The wheel store is a find-links location; when nothing has to come from an index the lock
    says ``--no-index``, so an offline rollback never waits on the network.
    """
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    from pipkit.core.model import Lock, LockEntry, LockOptions
    from pipkit.env.dists import url_to_path

    source = f"history entry {plan.entry.id}"
    lock_entries: list[LockEntry] = []
    for key in sorted(plan.wanted):
        pkg = plan.wanted[key]
        try:
            Version(pkg.version)
            operator = "=="
        except InvalidVersion:
            operator = "==="  # a legacy version pip only matches as a string
        spec = SpecifierSet(f"{operator}{pkg.version}")
        via_store = plan.sources.get(key) == STORE
        if pkg.editable and pkg.origin:
            url = pkg.origin.split("#", 1)[0]
            line = url_to_path(url) if url.startswith("file:") else pkg.origin
            lock_entries.append(
                LockEntry(key, pkg.name, source, url=pkg.origin, editable=True, line=line)
            )
        elif pkg.origin and not via_store:
            line = f"{pkg.name} @ {pkg.origin}"
            lock_entries.append(
                LockEntry(key, pkg.name, source, specifier=spec, url=pkg.origin, line=line)
            )
        else:
            line = f"{pkg.name}{operator}{pkg.version}"
            lock_entries.append(LockEntry(key, pkg.name, source, specifier=spec, line=line))
    store = store_for(target)
    store.root.mkdir(parents=True, exist_ok=True)
    needs_index = any(s in (INDEX, REMOTE) for s in plan.sources.values())
    options = LockOptions(find_links=(str(store.root),), no_index=not needs_index)
    return Lock(path=source, format="requirements", entries=tuple(lock_entries), options=options)


@dataclass(frozen=True)
class RollbackResult:
    """What ``rollback`` did."""

    plan: RollbackPlan
    applied: bool


def rollback(
    target: Target,
    entry_id: int | None,
    *,
    dry_run: bool = False,
    yes: bool = False,
    confirm: Callable[[str], bool] | None = None,
    command: str | None = None,
    show: Callable[[RollbackPlan], None] | None = None,
) -> RollbackResult:
    """Return ``target`` to an entry's state through the all-or-nothing sync; recorded.

    Everything needed is located first: what is found nowhere is an OperationError naming each
    ``name==version`` before anything changes. ``dry_run`` only plans. ``show`` is handed
    the plan first; without ``yes``, ``confirm`` is asked. The rollback is itself a history
    entry, so it can be undone.
    """
    from pipkit import sync

    plan = plan_rollback(target, entry_id)
    if show is not None:
        show(plan)
    if plan.missing:
        raise OperationError(plan.missing_message())
    if dry_run or plan.changes.empty:
        return RollbackResult(plan, applied=False)
    if not yes and (confirm is None or not confirm("Roll back?")):
        return RollbackResult(plan, applied=False)
    lock = rollback_lock(target, plan)
    line = command or ("pipkit rollback" + (f" {entry_id}" if entry_id is not None else ""))
    result = sync.sync(target, lock, yes=True, allow_empty=True, command=line)
    return RollbackResult(plan, applied=result.applied)


# --------------------------------------------------------------------------------------------
# Pruning the store (its output, like all output, is pipkit.render's)


@dataclass(frozen=True)
class PruneResult:
    """What ``history prune`` dropped and what is left."""

    dropped: tuple[str, ...]  # wheel file names
    freed_bytes: int
    kept: int
    kept_bytes: int
    cap_bytes: int

    def to_json(self) -> dict[str, Any]:
        return {
            "dropped": list(self.dropped),
            "freed_bytes": self.freed_bytes,
            "kept": self.kept,
            "kept_bytes": self.kept_bytes,
            "cap_bytes": self.cap_bytes,
        }


def prune(target: Target, *, max_mb: float | None = None) -> PruneResult:
    """Drop the oldest wheels until the store fits ``max_mb`` (default: the configured cap).

    Holds the environment lock: a change archiving into the store at the same time must
    not have its fresh wheels counted half-written.
    """
    from pipkit.env import envlock
    from pipkit.env.store import WheelStore, max_bytes

    cap = max_bytes() if max_mb is None else int(max_mb * 1024 * 1024)
    store = WheelStore(target.state_dir / "store", cap)
    if not store.root.is_dir():
        return PruneResult((), 0, 0, 0, cap)
    with envlock.hold(target):
        dropped = store.prune()
        left = store.wheels()
    return PruneResult(
        dropped=tuple(w.path.name for w in dropped),
        freed_bytes=sum(w.size for w in dropped),
        kept=len(left),
        kept_bytes=sum(w.size for w in left),
        cap_bytes=cap,
    )

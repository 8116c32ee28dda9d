"""``pipkit history`` and ``pipkit history prune``: reading the ledger, shrinking the store.

:func:`entries` and :func:`entry` read the environment's ledger (:mod:`pipkit.env.ledger`),
first recording changes made behind pipkit's back; :func:`prune` drops the oldest wheels kept for
offline rollback until the store fits its cap. Never prints. Imports pipkit.env and
pipkit.errors.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pipkit.env import mutex
from pipkit.env.ledger import Entry, History, history_path, notice_outside_changes, settle
from pipkit.env.store import WheelStore, max_bytes
from pipkit.env.target import Target
from pipkit.errors import OperationError, UsageError


@contextlib.contextmanager
def reading(target: Target) -> Iterator[History]:
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
    with reading(target) as db:
        return db.entries(limit)


def entry(target: Target, entry_id: int) -> Entry:
    """One entry; UsageError (exit 2) naming it when there is no such entry."""
    notice_outside_changes(target)
    with reading(target) as db:
        found = db.get(entry_id)
        last = db.last()
    if found is None:
        span = f"entries are 1 to {last.id}" if last else "the history is empty"
        raise UsageError(f"no history entry {entry_id} ({span})")
    return found


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

    Holds the environment mutex: a change archiving into the store at the same time must
    not have its fresh wheels counted half-written.
    """
    cap = max_bytes() if max_mb is None else int(max_mb * 1024 * 1024)
    store = WheelStore(target.state_dir / "store", cap)
    if not store.root.is_dir():
        return PruneResult((), 0, 0, 0, cap)
    with mutex.hold(target):
        settle(target)  # parked stashes become wheels first: they count, and can be dropped
        dropped = store.prune()
        left = store.wheels()
    return PruneResult(
        dropped=tuple(w.path.name for w in dropped),
        freed_bytes=sum(w.size for w in dropped),
        kept=len(left),
        kept_bytes=sum(w.size for w in left),
        cap_bytes=cap,
    )

"""``pipkit diff A B``: how two package sets differ.

Each side is a lock file (requirements or pylock, :func:`pipkit.core.lockfile.read_lock`), a
history entry (``@12``: the environment right after entry 12, from the ledger), or ``env``
(the target now). A lock against ``env`` is exactly ``pipkit check``'s comparison
(:func:`pipkit.core.plan.compare`); anything else is compared by
:func:`pipkit.core.lockdiff.compare`, so two history entries differ as the history says.
Where a lock meets an installed set, only the lock entries that apply to the target count,
and what ``check`` never calls extra (pip, setuptools, wheel; pipkit's own closure inside its
own env) is left out unless the lock has it.

Never prints. Imports pipkit.core, pipkit.env and pipkit.errors.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from packaging.utils import NormalizedName

from pipkit.core.lockdiff import Item, LockDiff, compare, from_check, from_lock, from_snapshot
from pipkit.core.model import Lock
from pipkit.core.snapshot import Snapshot
from pipkit.env.target import Target
from pipkit.errors import UsageError

if TYPE_CHECKING:
    from pipkit.core.plan import CheckResult

__all__ = ["DiffResult", "diff"]

_ENTRY_RE = re.compile(r"^@(\d+)$")


@dataclass(frozen=True)
class _Side:
    label: str  # "requirements.txt", "@3", "env"
    lock: Lock | None = None
    snapshot: Snapshot | None = None  # history entries and the env


@dataclass(frozen=True)
class DiffResult:
    """``pipkit diff``'s answer: the two sides named, and what changed from A to B."""

    a: str
    b: str
    changes: LockDiff

    @property
    def same(self) -> bool:
        return self.changes.same

    def to_json(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, **self.changes.to_json()}


def _side(target: Target, spec: str, cwd: str) -> _Side:
    if spec == "env":
        from pipkit.env.ledger import snapshot

        return _Side("env", snapshot=snapshot(target))
    match = _ENTRY_RE.match(spec)
    if match:
        from pipkit.ops.history import entry

        found = entry(target, int(match.group(1)))
        return _Side(spec, snapshot=found.after if found.after is not None else found.before)
    if spec.startswith("@"):
        raise UsageError(f"{spec}: a history entry is @ and its number (see pipkit history)")
    from pipkit.ops.sync import load_lock

    path = spec if os.path.isabs(spec) else os.path.join(cwd, spec)
    if not os.path.exists(path):
        raise UsageError(f"{spec}: no such lock file, history entry (@ID) or `env`")
    return _Side(spec, lock=load_lock([spec], cwd=cwd))


def _unlisted(target: Target, snap: Snapshot) -> set[NormalizedName]:
    from pipkit.core.plan import PROTECTED, protected_names
    from pipkit.env.dists import installed

    names = set(PROTECTED) | {NormalizedName("pip")}
    if target.runs_pipkit:
        names |= protected_names(installed(target.sys_path), target.marker_env, runs_pipkit=True)
    return {n for n in names if n in snap}


def diff(target: Target, a: str, b: str, *, cwd: str | None = None) -> DiffResult:
    """What changed from *a* to *b* (each a lock file, ``@ID`` or ``env``)."""
    here = cwd or os.getcwd()
    first, second = _side(target, a, here), _side(target, b, here)
    if first.lock is not None and second.lock is None and b == "env":
        return DiffResult(a, b, from_check(_check(target, first.lock), lock_first=True))
    if second.lock is not None and first.lock is None and a == "env":
        return DiffResult(a, b, from_check(_check(target, second.lock), lock_first=False))
    both_locks = first.lock is not None and second.lock is not None
    environment = None if both_locks else target.marker_env

    def items(side: _Side) -> dict[NormalizedName, Item]:
        if side.lock is not None:
            return from_lock(side.lock, environment)
        assert side.snapshot is not None
        return from_snapshot(side.snapshot)

    unlisted: set[NormalizedName] = set()
    if not both_locks and (first.lock is not None or second.lock is not None):
        snap = first.snapshot if first.snapshot is not None else second.snapshot
        assert snap is not None
        unlisted = _unlisted(target, snap)
    changes = compare(items(first), items(second), unlisted=unlisted, both_locks=both_locks)
    return DiffResult(a, b, changes)


def _check(target: Target, lock: Lock) -> CheckResult:
    """``check``'s comparison of the target with *lock* (its conflicts play no part here)."""
    from pipkit.core.plan import compare as check_compare
    from pipkit.core.plan import protected_names
    from pipkit.env.dists import iter_distributions

    dists = list(iter_distributions(target.sys_path))
    by_name = {d.name: d for d in dists}
    kept = protected_names(by_name, target.marker_env, runs_pipkit=target.runs_pipkit)
    return check_compare(dists, lock, target.marker_env, keep=kept)

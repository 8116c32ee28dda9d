"""``pipkit rollback [ID]``: the environment as it was right after an entry, offline.

:func:`plan_rollback` decides where the rollback goes and where every package would come from
(the wheel store first, then the configured indexes) before anything changes; :func:`rollback`
turns the wanted state into an exact lock (:func:`rollback_lock`) and hands it to the same
all-or-nothing sync (:mod:`pipkit.ops.sync`), itself recorded, so a rollback can be undone.

Never prints or prompts: ``show`` is handed the plan, ``confirm`` asked. Imports pipkit.ops.sync
and pipkit.ops.history, pipkit.env, pipkit.core and pipkit.errors.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from packaging.utils import NormalizedName

from pipkit.core.model import Lock, LockEntry, LockOptions
from pipkit.core.snapshot import Diff, Pkg, Snapshot, diff
from pipkit.env.dists import url_to_path
from pipkit.env.index import lookup_projects
from pipkit.env.ledger import RUNNING, Entry, notice_outside_changes, snapshot, store_for
from pipkit.env.pipconfig import load_pip_config
from pipkit.env.store import same_version
from pipkit.env.target import Target
from pipkit.errors import OperationError, UsageError
from pipkit.ops.history import reading
from pipkit.ops.progress import Reporter
from pipkit.ops.sync import sync

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
    broken: tuple[str, ...] = ()  # the wanted state's unmet requirements, with their chains

    @property
    def changes(self) -> Diff:
        return diff(self.current, self.wanted)

    @property
    def description(self) -> str:
        side = "before" if self.undo else "right after"
        command = self.entry.command
        what = command if command.startswith("(") else f"({command})"  # never "((...))"
        return f"the state {side} entry {self.entry.id} {what}"

    def broken_message(self) -> str:
        """The one line a dry run ends with and a real run refuses with (without force)."""
        return (
            f"cannot roll back to {self.description}: it is itself broken: "
            f"{'; '.join(self.broken)}; pass --force to go there anyway"
        )

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


def plan_rollback(target: Target, entry_id: int | None) -> RollbackPlan:
    """Where ``rollback [ID]`` goes and where each package would come from; changes nothing.

    With an ID, the state right after that entry; without, the state before the last entry
    (undo). Each package to install is looked for in the wheel store first, then on the
    configured indexes (one Simple-API lookup, :mod:`pipkit.env.index`); those found nowhere
    are listed in ``missing``.
    """
    notice_outside_changes(target)
    with reading(target) as db:
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
    broken = _broken(target, wanted)
    return RollbackPlan(chosen, undo, wanted, current, sources, missing, unreachable, broken)


def _broken(target: Target, wanted: Snapshot) -> tuple[str, ...]:
    """The unmet requirements of the state to return to (:func:`missing_dependencies`).

    A snapshot holds names and versions only: each package's requirements come from the
    installed distribution when it is that version, else from its wheel in the store; a package
    known to neither counts as requiring nothing (its requirements cannot be read offline).
    """
    from pipkit.core.health import missing_dependencies
    from pipkit.core.model import InstalledDist
    from pipkit.env.dists import installed
    from pipkit.env.store import wheel_requires

    now = installed(target.sys_path)
    store = store_for(target)
    dists: list[InstalledDist] = []
    for key in sorted(wanted):
        pkg = wanted[key]
        dist = now.get(key)
        if dist is not None and same_version(dist.version, pkg.version):
            requires: tuple[str, ...] | None = dist.requires
        else:
            stored = store.find(pkg.name, pkg.version)
            requires = wheel_requires(stored.path) if stored is not None else None
        dists.append(InstalledDist(key, pkg.name, pkg.version, "", "", requires or ()))
    return tuple(str(m) for m in missing_dependencies(dists, target.marker_env))


def _find_sources(
    target: Target, changes: Diff
) -> tuple[dict[NormalizedName, str], tuple[str, ...], str | None]:
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
    force: bool = False,
    installer: str = "pip",
    capture_pip: bool = False,
    progress: Reporter | None = None,
) -> RollbackResult:
    """Return ``target`` to an entry's state through the all-or-nothing sync; recorded.

    ``capture_pip`` keeps pip's output (shown on failure); ``progress`` is then told the
    wheels restored as pip reaches them (:mod:`pipkit.ops.progress`).

    Everything needed is located first: what is found nowhere is an OperationError naming each
    ``name==version`` before anything changes; a state that is itself broken (a missing
    dependency) is refused naming the chain, also in a dry run, unless ``force``.
    ``dry_run`` only plans. ``show`` is handed
    the plan first; without ``yes``, ``confirm`` is asked. The rollback is itself a history
    entry, so it can be undone.
    """
    plan = plan_rollback(target, entry_id)
    if show is not None:
        show(plan)
    if plan.missing:
        raise OperationError(plan.missing_message())
    if plan.broken and not force and not plan.changes.empty:
        raise OperationError(plan.broken_message())
    if dry_run or plan.changes.empty:
        return RollbackResult(plan, applied=False)
    if not yes and (confirm is None or not confirm("Roll back?")):
        return RollbackResult(plan, applied=False)
    lock = rollback_lock(target, plan)
    line = command or ("pipkit rollback" + (f" {entry_id}" if entry_id is not None else ""))
    result = sync(
        target,
        lock,
        yes=True,
        allow_empty=True,
        allow_incomplete=force,
        command=line,
        installer=installer,
        capture_pip=capture_pip,
        progress=progress,
        progress_what="restoring",
    )
    return RollbackResult(plan, applied=result.applied)

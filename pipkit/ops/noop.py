"""The no-op cache: a ``check`` or ``sync`` that has nothing to do, answered in milliseconds.

A no-op ``check``/``sync`` is the common case (CI, pre-commit hooks, shell prompts) and must cost
little more than starting Python. When a full run found the env in line with the lock, its
answer is kept in pipkit's cache dir under a stamp of every input: the lock file's bytes,
the working directory (relative paths resolve against it), --keep, and the target's
sys.path folders' mtimes plus the name and mtime of every *.dist-info / *.egg-info / .pth /
.egg-link in its site dirs (any install, removal or upgrade changes one of those). A lock
that includes other files (-r/-c) or expands ${VARS} is never cached: its inputs are more
than its own bytes. PIPKIT_NO_CACHE=1 turns the cache off.

:func:`check_lock` / :func:`sync_lock` are the ``check`` / ``sync`` commands' one call: the
cache, else the full run (:mod:`pipkit.ops.sync`). :func:`cached`, :class:`CachedCheck` and
:class:`CachedSync` also serve the stdlib-only fast path (:mod:`pipkit.fastpath`), so this
module imports only the standard library and pipkit's stdlib-only modules at module level.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from pipkit.core.defaults import DEFAULT_LOCK_NAMES
from pipkit.env.answers import lock_inputs, uncacheable_lock

if TYPE_CHECKING:
    from pipkit.env.target import Target
    from pipkit.ops.progress import Reporter
    from pipkit.ops.sync import CheckReport, SyncResult

_CACHE_VERSION = 1


def pending(target: Target) -> str | None:
    """transaction.pending_notice, without importing the transaction machinery when no journal
    exists (the no-op path counts milliseconds)."""
    if not os.path.exists(os.path.join(target.state_dir, "transaction", "journal.json")):
        return None
    from pipkit.env.transaction import pending_notice

    return pending_notice(target)


def default_paths(cwd: str) -> list[str] | None:
    """The default lock in ``cwd`` (:data:`~pipkit.core.defaults.DEFAULT_LOCK_NAMES`), as a list."""
    for name in DEFAULT_LOCK_NAMES:
        candidate = os.path.join(cwd, name)
        if os.path.isfile(candidate):
            return [candidate]
    return None


def default_names(cwd: str) -> list[str]:
    """Every default lock name present in ``cwd``, in the order the first is taken."""
    return [name for name in DEFAULT_LOCK_NAMES if os.path.isfile(os.path.join(cwd, name))]


def _cache_file(kind: str, target: Target, paths: Sequence[str], keep: Iterable[str]) -> str:
    import hashlib
    import json

    from pipkit.env.target import cache_dir

    key = json.dumps([kind, target.python, [os.path.abspath(p) for p in paths], sorted(keep)])
    name = hashlib.sha256(key.encode()).hexdigest()[:32]
    return os.path.join(cache_dir(), "noop", f"{name}.json")


def _stamp(target: Target, paths: Sequence[str]) -> list[Any] | None:
    """Everything a no-op answer depends on, or None when it cannot be cached."""
    import hashlib

    from pipkit import __version__
    from pipkit.fsutil import read_input_file

    if os.environ.get("PIPKIT_NO_CACHE"):
        return None
    stamp: list[Any] = [_CACHE_VERSION, __version__, os.getcwd()]
    for path in paths:
        try:
            data = read_input_file(path)  # size-capped, never a FIFO or a device
        except OSError:
            return None
        if uncacheable_lock(data):
            return None
        stamp.append(hashlib.sha256(data).hexdigest())
        # The staleness note depends on the lock's inputs too.
        for source in lock_inputs(path, data):
            try:
                stamp.append((source, hashlib.sha256(read_input_file(source)).hexdigest()))
            except OSError:
                stamp.append((source, None))
    for entry in target.sys_path:
        try:
            stamp.append(os.stat(entry).st_mtime_ns)
        except OSError:
            stamp.append(None)
    for site in target.site_dirs():
        try:
            with os.scandir(site) as entries:
                for item in entries:
                    if item.name.endswith((".dist-info", ".egg-info", ".pth", ".egg-link")):
                        stamp.append((item.name, item.stat().st_mtime_ns))
        except OSError:
            stamp.append((site, None))
    return stamp


def cached(
    kind: str, target: Target, paths: Sequence[str], keep: Iterable[str]
) -> tuple[dict[str, Any] | None, list[Any] | None]:
    """The cached no-op answer (if still valid) and the current stamp (to store a new one)."""
    import json

    stamp = _stamp(target, paths)
    if stamp is None:
        return None, None
    try:
        with open(_cache_file(kind, target, paths, keep), encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return None, stamp
    if isinstance(data, dict) and data.get("stamp") == json.loads(json.dumps(stamp)):
        return data, stamp
    return None, stamp


def _store(
    kind: str,
    target: Target,
    paths: Sequence[str],
    keep: Iterable[str],
    stamp: list[Any] | None,
    payload: dict[str, Any],
) -> None:
    import json

    from pipkit.fsutil import atomic_write_text

    if stamp is None:
        return
    with contextlib.suppress(OSError):  # a read-only cache only costs speed
        atomic_write_text(
            _cache_file(kind, target, paths, keep), json.dumps({"stamp": stamp, **payload})
        )


# The cached answers are plain classes, not dataclasses: the fast path builds them, and a dataclass
# costs ~0.4 ms to define at import.


class CachedCheck:
    """A no-op ``check`` answered from the cache: always in sync, nothing to list."""

    in_sync = True
    result = None  # where a CheckReport has its comparison

    def __init__(self, cached: dict[str, Any]) -> None:
        self.data: dict[str, Any] = cached["json"]  # the report's JSON, less its warnings
        self.notes: tuple[str, ...] = tuple(cached["notes"])
        self.lint: tuple[str, ...] = tuple(cached["lint"])

    def to_json(self) -> dict[str, Any]:
        return {**self.data, "warnings": [*self.notes, *self.lint]}


class CachedSync:
    """A no-op ``sync`` answered from the cache."""

    def __init__(self, cached: dict[str, Any]) -> None:
        self.plan: dict[str, Any] = cached["plan"]  # plan_json of the no-op plan
        self.notes: tuple[str, ...] = tuple(cached["notes"])

    def to_json(self) -> dict[str, Any]:
        return {**self.plan, "dry_run": False, "applied": False, "warnings": list(self.notes)}


def check_lock(
    target: Target, paths: Sequence[str], *, keep: Sequence[str] = ()
) -> CheckReport | CachedCheck:
    """``pipkit check``: the answer from the no-op cache, else a full
    :func:`pipkit.ops.sync.check` (an in-sync one is cached)."""
    files = list(paths) or default_paths(os.getcwd()) or []
    interrupted = pending(target)
    answer, stamp = (
        (None, None) if (interrupted or not files) else cached("check", target, files, keep)
    )
    if answer is not None:
        return CachedCheck(answer)
    from pipkit.ops.sync import check, load_lock

    lock = load_lock(files)
    report = check(target, lock, keep=keep)
    if report.in_sync and not interrupted:
        data = report.to_json()
        data.pop("warnings", None)
        lint_lines = [str(issue) for issue in report.lint]
        _store(
            "check",
            target,
            files,
            keep,
            stamp,
            {"json": data, "notes": list(report.notes), "lint": lint_lines},
        )
    return report


def sync_lock(
    target: Target,
    paths: Sequence[str],
    *,
    keep: Sequence[str] = (),
    dry_run: bool = False,
    yes: bool = False,
    allow_empty: bool = False,
    capture_pip: bool = False,
    command: str = "pipkit sync",
    confirm: Callable[[SyncResult], bool] | None = None,
    on_notes: Callable[[Sequence[str]], None] | None = None,
    installer: str = "pip",
    progress: Reporter | None = None,
) -> SyncResult | CachedSync:
    """``pipkit sync``: a still-valid no-op answer from the cache (never for a dry run), else
    :func:`pipkit.ops.sync.sync` with the lock ``paths`` name; a clean no-op (no lint, not
    dry-run, lock not empty) is cached."""
    files = list(paths) or default_paths(os.getcwd()) or []
    answer: dict[str, Any] | None = None
    stamp: list[Any] | None = None
    if files and not pending(target):
        answer, stamp = cached("sync", target, files, keep)
    if answer is not None and not dry_run:  # the env is as a full sync left it: nothing to do
        return CachedSync(answer)
    from pipkit.ops.sync import load_lock, plan_json, sync

    result = sync(
        target,
        load_lock(files),
        keep=keep,
        dry_run=dry_run,
        yes=yes,
        allow_empty=allow_empty,
        capture_pip=capture_pip,
        command=command,
        confirm=confirm,
        on_notes=on_notes,
        installer=installer,
        progress=progress,
    )
    # A no-op whose plan has no unchanged entry is an empty lock (--allow-empty): never cached,
    # so the refusal of an empty lock is not skipped next time.
    if result.plan.is_noop and not result.dry_run and result.plan.unchanged:
        payload = {"plan": plan_json(result.plan), "notes": list(result.notes)}
        _store("sync", target, files, keep, stamp, payload)
    return result

"""``pipkit check``, ``pipkit sync`` and ``pipkit recover``: an environment against its lock.

* :func:`check` compares the target with a lock (missing / extra / changed, conflicts inside
  the env), lints the lock and collects the notes worth saying first (lock made for another
  Python or platform, an interrupted change pending). It never takes the env lock nor starts a
  process (the target probe is cached): it must stay as fast as importing typer.
* :func:`sync` makes the env exactly the lock in one all-or-nothing transaction
  (:mod:`pipkit.env.transaction`): stash what goes or changes, ONE ``pip install --no-deps``
  for what is new, verify (every entry as locked, nothing a locked package needs is missing),
  commit or undo. A no-op sync takes no lock and starts no process.
* :func:`recover` finishes or undoes an interrupted sync/install from its journal.

A no-op ``check``/``sync`` is answered from a cache keyed by a stamp of every input (see
"the no-op cache" below), so it neither parses the lock nor reads the environment.

:func:`check_lock` / :func:`sync_lock` are the commands' one call: the cache, else the full
run. Their answers are printed by :mod:`pipkit.render` (plain text, no rich: these commands
must start fast). Imports only the standard library and pipkit.errors at module level;
pipkit.core/env/render inside functions. Never imports typer or rich (the CLI asks for
confirmation through a callback).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipkit.errors import InputError, UsageError

if TYPE_CHECKING:
    from pipkit.core.checks import LintIssue
    from pipkit.core.model import InstalledDist, Lock, LockEntry
    from pipkit.core.plan import CheckResult, Plan
    from pipkit.env.target import Target
    from pipkit.env.transaction import Recovery

__all__ = [
    "CachedCheck",
    "CachedSync",
    "CheckReport",
    "SyncResult",
    "check",
    "check_lock",
    "fast_noop",
    "header_notes",
    "load_lock",
    "plan_sync",
    "recover",
    "sync",
    "sync_lock",
]


def load_lock(paths: Sequence[str], *, cwd: str | None = None) -> Lock:
    """The lock named by ``paths`` (default ``requirements.txt``, else ``pylock.toml``).

    A missing or unreadable file is a UsageError/InputError (exit 2), never an empty lock.
    """
    from pipkit.core.lockfile import default_lock_path, read_lock

    here = cwd or os.getcwd()
    files = list(paths) or [str(default_lock_path(here))]
    for path in files:
        full = path if os.path.isabs(path) else os.path.join(here, path)
        if not os.path.exists(full):
            raise UsageError(f"{path}: no such lock file")
        if os.path.isdir(full):
            raise UsageError(f"{path}: is a folder, not a lock file")
    try:
        return read_lock(files, cwd=here)
    except OSError as exc:
        raise InputError(
            f"cannot read the lock: {exc.strerror or exc}", location=exc.filename
        ) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not a text file ({exc.reason})", location=files[0]) from None


def stale_notes(lock: Lock, target: Target) -> list[str]:
    """Why the lock no longer matches its inputs (``pipkit lock --check``), offline."""
    from pipkit import locking
    from pipkit.errors import PipkitError

    try:
        reasons = locking.staleness(lock.path, environment=target.marker_env)
    except PipkitError as exc:
        return [f"{lock.path}: its inputs could not be read to tell whether it is stale ({exc})"]
    return [f"stale lock: {reason}" for reason in reasons]


def header_notes(lock: Lock, target: Target) -> list[str]:
    """What to say up front: the lock was made for another Python/platform, or another env."""
    from pipkit.core.checks import environment_problems

    notes: list[str] = []
    header = lock.header
    if header.python_version and header.python_version != target.python_version:
        notes.append(
            f"{lock.path} was made for Python {header.python_version}; "
            f"the target is Python {target.python_version}"
        )
    if header.platform:
        platform_tag = target.platform_tag
        accepted = {
            target.marker_env.get("sys_platform", ""),
            platform_tag,
            platform_tag.replace("-", "_").replace(".", "_"),
        }
        if header.platform not in accepted:
            notes.append(
                f"{lock.path} was made for platform {header.platform}; the target is "
                f"{target.marker_env.get('sys_platform', '?')} ({platform_tag})"
            )
    notes += [f"{lock.path}: {p}" for p in environment_problems(lock, target.marker_env)]
    return notes


def _installed_list(target: Target) -> list[InstalledDist]:
    from pipkit.env.dists import iter_distributions

    return list(iter_distributions(target.sys_path))


def _kept(target: Target, dists: Sequence[InstalledDist], keep: Iterable[str]) -> set[str]:
    from packaging.utils import canonicalize_name

    from pipkit.commands import protected_names

    by_name = {d.name: d for d in dists}
    return protected_names(target, by_name) | {canonicalize_name(k) for k in keep}


# -- the no-op cache ---------------------------------------------------------------------------
#
# A no-op `check`/`sync` is the common case (CI, pre-commit hooks, shell prompts) and must cost
# little more than starting typer. When a full run found the env in line with the lock, its
# answer is kept in pipkit's cache dir under a stamp of every input: the lock file's bytes,
# the working directory (relative paths resolve against it), --keep, and the target's
# sys.path folders' mtimes plus the name and mtime of every *.dist-info / *.egg-info / .pth /
# .egg-link in its site dirs (any install, removal or upgrade changes one of those). A lock
# that includes other files (-r/-c) or expands ${VARS} is never cached: its inputs are more
# than its own bytes. PIPKIT_NO_CACHE=1 turns the cache off.

_CACHE_VERSION = 1
_UNCACHEABLE = re.compile(rb"(?m)^\s*(?:-r|-c|--requirement|--constraint)\b|\$\{")


def _pending(target: Target) -> str | None:
    """transaction.pending_notice, without importing the transaction machinery when no journal
    exists (the no-op path counts milliseconds)."""
    if not os.path.exists(os.path.join(target.state_dir, "transaction", "journal.json")):
        return None
    from pipkit.env.transaction import pending_notice

    return pending_notice(target)


def _default_paths(cwd: str) -> list[str] | None:
    for name in ("requirements.txt", "pylock.toml"):  # lockfile.DEFAULT_LOCK_NAMES
        candidate = os.path.join(cwd, name)
        if os.path.isfile(candidate):
            return [candidate]
    return None


def _cache_file(kind: str, target: Target, paths: Sequence[str], keep: Iterable[str]) -> str:
    import hashlib
    import json

    from pipkit.env.target import cache_dir

    key = json.dumps([kind, target.python, [os.path.abspath(p) for p in paths], sorted(keep)])
    name = hashlib.sha256(key.encode()).hexdigest()[:32]
    return os.path.join(cache_dir(), "noop", f"{name}.json")


_REGENERATE = re.compile(rb"(?m)^#\s+(pipkit lock\b.*)$")


def _lock_inputs(lock_path: str, data: bytes) -> list[str]:
    """The files a lock's staleness depends on: those its ``pipkit lock`` header names, and a
    ``requirements.in`` / ``pyproject.toml`` beside it. A cheap superset; nothing is parsed."""
    import shlex

    folder = os.path.dirname(os.path.abspath(lock_path))
    names = ["requirements.in", "pyproject.toml"]
    match = _REGENERATE.search(data[:4096])
    if match:
        with contextlib.suppress(ValueError):
            names += [w for w in shlex.split(match.group(1).decode(errors="replace"))[2:]]
    found = (os.path.join(folder, name) for name in names if not name.startswith("-"))
    return sorted({path for path in found if os.path.isfile(path)})


def _stamp(target: Target, paths: Sequence[str]) -> list[Any] | None:
    """Everything a no-op answer depends on, or None when it cannot be cached."""
    import hashlib

    from pipkit import __version__

    if os.environ.get("PIPKIT_NO_CACHE"):
        return None
    stamp: list[Any] = [_CACHE_VERSION, __version__, os.getcwd()]
    for path in paths:
        try:
            with open(path, "rb") as handle:
                data = handle.read()
        except OSError:
            return None
        if _UNCACHEABLE.search(data):
            return None
        stamp.append(hashlib.sha256(data).hexdigest())
        # The staleness note depends on the lock's inputs too.
        for source in _lock_inputs(path, data):
            try:
                with open(source, "rb") as handle:
                    stamp.append((source, hashlib.sha256(handle.read()).hexdigest()))
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


def _cached(
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


# The cached answers are plain classes, not dataclasses: fast_noop builds them, and a dataclass
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
    """``pipkit check``: the answer from the no-op cache, else a full :func:`check` (an in-sync
    one is cached)."""
    files = list(paths) or _default_paths(os.getcwd()) or []
    pending = _pending(target)
    cached, stamp = (
        (None, None) if (pending or not files) else _cached("check", target, files, keep)
    )
    if cached is not None:
        return CachedCheck(cached)
    lock = load_lock(files)
    report = check(target, lock, keep=keep)
    if report.in_sync and not pending:
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


def fast_noop(argv: Sequence[str]) -> int | None:
    """Answer ``[--python P] check [LOCK...] [--json]`` or ``[--python P] sync [LOCK...] --yes
    [--json]`` from the no-op cache before typer builds its command tree (~20 ms of a ~100 ms
    no-op); the exit code, or None for anything else or any miss: then the CLI runs as usual
    and reports whatever is wrong itself. Never changes anything.
    """
    args = list(argv)
    python: str | None = None
    if len(args) >= 2 and args[0] == "--python":
        python, args = args[1], args[2:]
    elif args and args[0].startswith("--python="):
        python, args = args[0].partition("=")[2], args[1:]
    if not args or args[0] not in ("check", "sync"):
        return None
    command, rest = args[0], args[1:]
    flags = {a for a in rest if a.startswith("-")}
    locks = [a for a in rest if not a.startswith("-")]
    allowed = {"--json", "--yes", "-y"} if command == "sync" else {"--json"}
    if not flags <= allowed or (command == "sync" and not flags & {"--yes", "-y"}):
        return None
    as_json = "--json" in flags
    try:
        from pipkit import render
        from pipkit.env.target import resolve_target

        target = resolve_target(python)
        files = locks or _default_paths(os.getcwd()) or []
        if not files or _pending(target):
            return None
        if command == "check":
            cached, _stamp_now = _cached("check", target, files, ())
            if cached is None:
                return None
            return render.check_report(CachedCheck(cached), as_json=as_json)
        if target.modification_refusal():
            return None
        cached, _stamp_now = _cached("sync", target, files, ())
        if cached is None:
            return None
        return render.sync_result(CachedSync(cached), prefix=None, as_json=as_json)
    except Exception:  # a fast path only: the full path reports any problem properly
        return None


# -- check ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckReport:
    """``pipkit check``'s answer: the comparison, the lock's lint and notes to say first."""

    result: CheckResult
    lint: tuple[LintIssue, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def in_sync(self) -> bool:
        return self.result.in_sync

    def to_json(self) -> dict[str, Any]:
        data = self.result.to_json()
        data["warnings"] = [*self.notes, *(str(issue) for issue in self.lint)]
        return data


def check(target: Target, lock: Lock, *, keep: Iterable[str] = ()) -> CheckReport:
    """Compare ``target`` with ``lock``: no lock taken, no process started."""
    from pipkit.core import plan
    from pipkit.core.checks import lint
    from pipkit.env.transaction import pending_notice

    notes: list[str] = []
    pending = pending_notice(target)
    if pending:
        notes.append(pending)
    notes += header_notes(lock, target)
    notes += stale_notes(lock, target)
    dists = _installed_list(target)
    result = plan.check(dists, lock, target.marker_env, keep=_kept(target, dists, keep))
    return CheckReport(result=result, lint=tuple(lint(lock)), notes=tuple(notes))


# -- sync ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncResult:
    """What ``sync`` did (or, with ``dry_run``, would do)."""

    plan: Plan
    dry_run: bool = False
    applied: bool = False
    notes: tuple[str, ...] = ()
    lock_path: str = ""  # the lock synced with, as its reader named it

    def to_json(self) -> dict[str, Any]:
        return {
            **plan_json(self.plan),
            "dry_run": self.dry_run,
            "applied": self.applied,
            "warnings": list(self.notes),
        }


def plan_json(plan: Plan) -> dict[str, Any]:
    """A plan as JSON: names normalized, each list sorted by name."""
    return {
        "in_sync": plan.is_noop,
        "install": [{"name": e.name, "version": e.pinned_version} for e in plan.install],
        "change": [
            {
                "name": c.name,
                "installed": c.installed.version,
                "locked": c.entry.pinned_version,
                "reason": c.reason,
            }
            for c in plan.change
        ],
        "remove": [{"name": d.name, "version": d.version} for d in plan.remove],
        "protected": [{"name": d.name, "version": d.version} for d in plan.protected],
    }


def plan_sync(
    target: Target, lock: Lock, *, keep: Iterable[str] = ()
) -> tuple[Plan, tuple[LockEntry, ...], set[str]]:
    """The plan, the entries it aims for, and the names never removed."""
    from pipkit.core.plan import diff, effective_entries

    dists = _installed_list(target)
    kept = _kept(target, dists, keep)
    entries = effective_entries(lock, target.marker_env)
    return diff(dists, entries, keep=kept), entries, kept


def _requirement_line(entry: LockEntry) -> str:
    line = f"-e {entry.line}" if entry.editable else entry.line
    for digest in entry.hashes:
        line += f" --hash={digest}"
    for setting in entry.config_settings:
        line += f" --config-settings={setting}"
    return line


def _pip_install_args(lock: Lock, to_install: Sequence[LockEntry]) -> list[str]:
    args = ["install", "--no-deps", "--no-input", *lock.options.pip_args()]
    if any(e.hashes for e in to_install) and "--require-hashes" not in args:
        args.append("--require-hashes")
    return [*args, "-r", "{txn}/requirements.txt"]


def _verify(
    target: Target, entries: Sequence[LockEntry], kept: set[str]
) -> Callable[[], str | None]:
    def verify() -> str | None:
        from packaging.utils import canonicalize_name

        from pipkit.core.checks import missing_dependencies
        from pipkit.core.plan import diff

        after = _installed_list(target)
        again = diff(after, entries, keep=kept)
        if again.install:
            names = ", ".join(e.name for e in again.install)
            return f"after pip ran, {names} is still not installed"
        if again.change:
            item = again.change[0]
            return (
                f"after pip ran, {item.name} is {item.installed.version}, not as locked "
                f"({item.reason})"
            )
        locked = {e.name for e in entries}
        extras: dict[str, frozenset[str]] = {e.name: e.extras for e in entries if e.extras}
        missing: list[str] = []
        for unmet in missing_dependencies(after, target.marker_env, extras=extras):
            requirer = canonicalize_name(unmet.chain[-1].rsplit(" ", 1)[0]) if unmet.chain else ""
            if requirer in locked:
                missing.append(str(unmet))
        if missing:
            return "the lock is incomplete: " + "; ".join(missing)
        return None

    return verify


def sync(
    target: Target,
    lock: Lock,
    *,
    keep: Iterable[str] = (),
    dry_run: bool = False,
    yes: bool = False,
    allow_empty: bool = False,
    as_json: bool = False,
    command: str = "pipkit sync",
    confirm: Callable[[str], bool] | None = None,
) -> SyncResult:
    """Make ``target`` exactly ``lock``, all or nothing (see the module docstring).

    Refuses (UsageError, exit 2) a lock with lint problems, a lock not made for this target,
    and a lock with no package for this target unless ``allow_empty``. ``confirm`` is asked
    with the rendered plan unless ``yes``/``dry_run``.
    """
    from pipkit import render
    from pipkit.core.checks import lint
    from pipkit.env import transaction

    keep = list(keep)
    notes = header_notes(lock, target)
    render.notes(notes)
    issues = lint(lock)
    if issues:
        for issue in issues:
            render.message(f"pipkit: {issue}")
        raise UsageError(
            f"{lock.path} is not an exact lock ({len(issues)} problem(s) above); "
            "fix it or relock before syncing"
        )
    if not dry_run:
        transaction.refuse_if_pending(target)
    plan, entries, kept = plan_sync(target, lock, keep=keep)
    if not entries and not allow_empty:
        raise UsageError(
            f"{lock.path} has no package for this environment: syncing would remove every "
            "package (pass --allow-empty if that is what you want)"
        )
    if plan.is_noop or dry_run:
        return SyncResult(plan, dry_run=dry_run, notes=tuple(notes), lock_path=str(lock.path))
    if not yes:
        text = render.sync_plan(plan, lock_path=str(lock.path), prefix=target.prefix)
        if confirm is None or not confirm(text):
            return SyncResult(plan, notes=tuple(notes), lock_path=str(lock.path))
    with transaction.session(target, command) as sess:
        # Again under the lock: the environment may have changed since the plan was shown.
        plan, entries, kept = plan_sync(target, lock, keep=keep)
        if plan.is_noop:
            sess.recorder.set_result("ok")
            return SyncResult(plan, notes=tuple(notes), lock_path=str(lock.path))
        to_install = [*plan.install, *(c.entry for c in plan.change)]
        stash = [*plan.remove, *(c.installed for c in plan.change)]
        pip_args = _pip_install_args(lock, to_install) if to_install else None
        requirements = "".join(_requirement_line(e) + "\n" for e in to_install)
        transaction.execute(
            sess,
            stash=stash,
            pip_args=pip_args,
            files={"requirements.txt": requirements},
            expect_present={e.name: e.pinned_version for e in entries},
            expect_absent=[d.name for d in plan.remove],
            verify=_verify(target, entries, kept),
            plan=plan_json(plan),
            capture_pip=as_json,
        )
    return SyncResult(plan, applied=True, notes=tuple(notes), lock_path=str(lock.path))


def sync_lock(
    target: Target,
    paths: Sequence[str],
    *,
    keep: Sequence[str] = (),
    dry_run: bool = False,
    yes: bool = False,
    allow_empty: bool = False,
    as_json: bool = False,
    command: str = "pipkit sync",
    confirm: Callable[[str], bool] | None = None,
) -> SyncResult | CachedSync:
    """``pipkit sync``: a still-valid no-op answer from the cache (never for a dry run), else
    :func:`sync` with the lock ``paths`` name; a clean no-op (no lint, not dry-run, lock not
    empty) is cached."""
    files = list(paths) or _default_paths(os.getcwd()) or []
    cached, stamp = (None, None)
    if files and not _pending(target):
        cached, stamp = _cached("sync", target, files, keep)
    if cached is not None and not dry_run:  # the env is as a full sync left it: nothing to do
        return CachedSync(cached)
    result = sync(
        target,
        load_lock(files),
        keep=keep,
        dry_run=dry_run,
        yes=yes,
        allow_empty=allow_empty,
        as_json=as_json,
        command=command,
        confirm=confirm,
    )
    # A no-op whose plan has no unchanged entry is an empty lock (--allow-empty): never cached,
    # so the refusal of an empty lock is not skipped next time.
    if result.plan.is_noop and not result.dry_run and result.plan.unchanged:
        payload = {"plan": plan_json(result.plan), "notes": list(result.notes)}
        _store("sync", target, files, keep, stamp, payload)
    return result


# -- recover ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecoverResult:
    """What ``recover`` found and did."""

    action: str  # "nothing", "finish"/"undo" (not done: declined), "finished", "undone"
    command: str | None = None
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "command": self.command, "reason": self.reason}


def recover(
    target: Target, *, yes: bool, confirm: Callable[[str], bool] | None = None
) -> RecoverResult:
    """Finish or undo the interrupted change recorded in ``target``'s journal."""
    from pipkit.env import transaction

    decision = transaction.recover_plan(target)
    if decision.action == "nothing":
        return RecoverResult("nothing")
    if not yes:
        verb = "Finish" if decision.action == "finish" else "Undo"
        question = f"{verb} the interrupted `{decision.command}` ({decision.reason})?"
        if confirm is None or not confirm(question):
            return RecoverResult(decision.action, decision.command, decision.reason)
    done: Recovery = transaction.recover(target)
    return RecoverResult(done.action, done.command, done.reason)

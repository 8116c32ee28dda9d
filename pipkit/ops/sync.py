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

A no-op ``check``/``sync`` is answered before any of this from a cache keyed by a stamp of
every input (:mod:`pipkit.ops.noop`, whose ``check_lock``/``sync_lock`` are the commands' one
call), so it neither parses the lock nor reads the environment.

Never prints or prompts: notes go to the ``on_notes`` callback as soon as they are known, the
plan to ``confirm``; results come back as dataclasses the CLI renders. Imports only the
standard library and pipkit.errors at module level; pipkit.core and pipkit.env inside
functions (the check must start fast).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipkit.core.words import plural
from pipkit.errors import InputError, OperationError, UsageError

if TYPE_CHECKING:
    from pipkit.core.health import LintIssue
    from pipkit.core.model import DistFile, InstalledDist, Lock, LockEntry
    from pipkit.core.plan import CheckResult, Plan
    from pipkit.env.target import Target
    from pipkit.env.transaction import Recovery
    from pipkit.ops.progress import Reporter

__all__ = [
    "CheckReport",
    "NotExactLock",
    "RecoverResult",
    "SyncResult",
    "check",
    "header_notes",
    "load_lock",
    "plan_sync",
    "recover",
    "sync",
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
    from pipkit.core.staleness import staleness
    from pipkit.errors import PipkitError

    try:
        reasons = staleness(lock.path, environment=target.marker_env)
    except PipkitError as exc:
        return [f"{lock.path}: its inputs could not be read to tell whether it is stale ({exc})"]
    return [f"stale lock: {reason}" for reason in reasons]


def header_notes(lock: Lock, target: Target) -> list[str]:
    """What to say up front: the lock was made for another Python/platform, or another env."""
    from pipkit.core.health import environment_problems

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

    from pipkit.core.plan import protected_names

    by_name = {d.name: d for d in dists}
    protected = protected_names(by_name, target.marker_env, runs_pipkit=target.runs_pipkit)
    return protected | {canonicalize_name(k) for k in keep}


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
    from pipkit.core.health import lint
    from pipkit.env.transaction import pending_notice

    notes: list[str] = []
    pending = pending_notice(target)
    if pending:
        notes.append(pending)
    notes += header_notes(lock, target)
    notes += stale_notes(lock, target)
    dists = _installed_list(target)
    result = plan.compare(dists, lock, target.marker_env, keep=_kept(target, dists, keep))
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


def _requirement_line(entry: LockEntry, chosen: DistFile | None = None) -> str:
    line = f"-e {entry.line}" if entry.editable else entry.line
    # A pylock file chosen for the target is checked against its own hash alone.
    hashes = (chosen.hash,) if chosen is not None and chosen.hash else entry.hashes
    for digest in hashes:
        line += f" --hash={digest}"
    for setting in entry.config_settings:
        line += f" --config-settings={setting}"
    return line


LINKS_PAGE = "links.html"


@dataclass(frozen=True)
class _Install:
    """The one install step: its requirements file, its pylock links page, its arguments."""

    files: dict[str, str]
    args: list[str]


def _install_step(target: Target, lock: Lock, to_install: Sequence[LockEntry]) -> _Install:
    """The install step for ``to_install``.

    For a pylock, each package's one file that fits the target (:func:`choose_file` with the
    target's tags) is listed on a local links page handed on as ``--find-links``, and its
    requirement keeps its ``name==version`` and hash: the installer fetches exactly that file,
    one request per package, and records an index install (no ``direct_url.json``), exactly as
    ``pip install -r pylock.toml`` does. When every package has its wheel there, no index is
    asked at all (``--no-index``). A package no file of which fits goes through the index it
    names; without one, it is refused before anything changes.
    """
    args = ["install", "--no-deps", "--no-input", *lock.options.pip_args()]
    if any(e.hashes for e in to_install) and "--require-hashes" not in args:
        args.append("--require-hashes")
    lines: list[str] = []
    links: list[str] = []
    needs_index = False
    tags: tuple[str, ...] | None = None
    no_binary = set(lock.options.no_binary)
    for entry in to_install:
        chosen: DistFile | None = None
        if entry.files:
            if tags is None:  # a pylock's files: packaging.pylock only then (~15 ms)
                from pipkit.core.pylock import choose_file
                from pipkit.env.target import supported_tags

                tags = supported_tags(target)
            chosen = choose_file(
                entry, tags, no_binary=bool(no_binary & {":all:", entry.name, entry.raw_name})
            )
            if chosen is None and not entry.index:
                names = ", ".join(f.filename for f in entry.files)
                raise UsageError(
                    f"{entry.raw_name}: no file in {entry.source} fits this environment "
                    f"({names}); the lock was made for another platform or Python"
                )
        if chosen is not None:
            import html

            fragment = "#" + chosen.hash.replace(":", "=", 1) if chosen.hash else ""
            href = html.escape(chosen.url + fragment, quote=True)
            links.append(f'<a href="{href}">{html.escape(chosen.filename)}</a>')
            needs_index = needs_index or not chosen.is_wheel  # an sdist's build needs an index
        else:
            needs_index = True  # an index install, a URL, a folder: maybe a build
        lines.append(_requirement_line(entry, chosen) + "\n")
    files = {"requirements.txt": "".join(lines)}
    if links:
        files[LINKS_PAGE] = (
            "<!DOCTYPE html>\n<html><body>\n" + "\n".join(links) + "\n</body></html>\n"
        )
        args += ["--find-links", "{txn}/" + LINKS_PAGE]
        if not needs_index and "--no-index" not in args:
            args.append("--no-index")
    return _Install(files, [*args, "-r", "{txn}/requirements.txt"])


def _verify(
    target: Target, entries: Sequence[LockEntry], kept: set[str], *, complete: bool = True
) -> Callable[[], str | None]:
    def verify() -> str | None:
        from packaging.utils import canonicalize_name

        from pipkit.core.health import missing_dependencies
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
        if missing and complete:
            return "the lock is incomplete: " + "; ".join(missing)
        return None

    return verify


class NotExactLock(UsageError):
    """A lock ``sync`` refuses: unpinned entries, partial hashes, a package pinned twice."""

    def __init__(self, path: str, issues: Sequence[LintIssue]) -> None:
        super().__init__(
            f"{path} is not an exact lock ({plural(len(issues), 'problem')} above); "
            "fix it or relock before syncing",
            detail="\n".join(f"pipkit: {issue}" for issue in issues),
        )
        self.issues = tuple(issues)


def sync(
    target: Target,
    lock: Lock,
    *,
    keep: Iterable[str] = (),
    dry_run: bool = False,
    yes: bool = False,
    allow_empty: bool = False,
    allow_incomplete: bool = False,
    capture_pip: bool = False,
    command: str = "pipkit sync",
    confirm: Callable[[SyncResult], bool] | None = None,
    on_notes: Callable[[Sequence[str]], None] | None = None,
    installer: str = "pip",
    progress: Reporter | None = None,
    progress_what: str = "installing",
) -> SyncResult:
    """Make ``target`` exactly ``lock``, all or nothing (see the module docstring).

    ``progress`` is told the install step's packages as the installer reaches them
    (:mod:`pipkit.ops.progress`; only when its output is captured), ``progress_what`` what
    is done to them ("restoring" for a rollback).

    Refuses (UsageError, exit 2) a lock with lint problems (:class:`NotExactLock`), a lock not
    made for this target, and a lock with no package for this target unless ``allow_empty``.
    ``on_notes`` is handed the notes worth saying first (before any refusal); ``confirm`` is
    asked with the result-to-be (its plan, lock path, notes) unless ``yes``/``dry_run`` (no
    callback: declined). ``capture_pip``
    keeps pip's output off stdout (``--json``). ``allow_incomplete``: a missing dependency of a
    locked package is no reason to undo (a forced rollback to a state that was itself broken).
    ``installer`` runs the install step: "pip" or "uv" (:mod:`pipkit.env.installer`), inside
    the same transaction.
    """
    from pipkit.core.health import lint
    from pipkit.env import transaction

    keep = list(keep)
    notes = header_notes(lock, target)
    if on_notes is not None and notes:
        on_notes(notes)
    issues = lint(lock)
    if issues:
        raise NotExactLock(str(lock.path), issues)
    if not dry_run:
        transaction.refuse_if_pending(target)
    from pipkit.env.answers import installed_stamp

    planned_on = installed_stamp(target.sys_path, target.site_dirs())
    plan, entries, kept = plan_sync(target, lock, keep=keep)
    if not entries and not allow_empty:
        raise UsageError(
            f"{lock.path} has no package for this environment: syncing would remove every "
            "package (pass --allow-empty if that is what you want)"
        )
    if plan.is_noop or dry_run:
        return SyncResult(plan, dry_run=dry_run, notes=tuple(notes), lock_path=str(lock.path))
    # The verification after pip would find it too, but only after changing everything.
    touched = [*(e.name for e in entries), *(d.name for d in plan.remove)]
    twice = transaction.duplicates(target, touched)
    if twice:
        raise OperationError(
            f"{twice}: remove the stray copy first (pipkit doctor names it); nothing was changed"
        )
    declined = SyncResult(plan, notes=tuple(notes), lock_path=str(lock.path))
    if not yes and (confirm is None or not confirm(declined)):
        return declined
    with transaction.session(target, command) as sess:
        # Again under the mutex when the environment changed since the plan was shown (its
        # stamp moved): reading every installed dist again costs a sync ~20 ms otherwise.
        if installed_stamp(target.sys_path, target.site_dirs()) != planned_on:
            plan, entries, kept = plan_sync(target, lock, keep=keep)
        if plan.is_noop:
            sess.recorder.set_result("ok")
            return SyncResult(plan, notes=tuple(notes), lock_path=str(lock.path))
        to_install = [*plan.install, *(c.entry for c in plan.change)]
        stash = [*plan.remove, *(c.installed for c in plan.change)]
        step = _install_step(target, lock, to_install) if to_install else None
        pip_args = step.args if step else None
        on_line = None
        if progress is not None and step is not None and capture_pip:
            from pipkit.ops.progress import ProgressEvent, lines_to

            on_line = lines_to(progress, len(to_install), progress_what)
        try:
            transaction.execute(
                sess,
                stash=stash,
                pip_args=pip_args,
                files=step.files if step else {},
                expect_present={e.name: e.pinned_version for e in entries},
                expect_absent=[d.name for d in plan.remove],
                verify=_verify(target, entries, kept, complete=not allow_incomplete),
                plan=plan_json(plan),
                capture_pip=capture_pip,
                installs={e.name: e.pinned_version for e in to_install},
                installer=installer,
                on_line=on_line,
            )
        except OperationError as exc:
            from pipkit.ops.pipfail import after_change

            # pip named pipkit's internal requirements file: say the lock's FILE:LINE instead.
            failure = after_change(
                exc,
                target,
                captured=capture_pip,
                pip_args=pip_args or (),
                internal=str(transaction.transaction_dir(target) / "requirements.txt"),
                sources={i: e.source for i, e in enumerate(to_install, 1)},
                requirement_sources={e.line: e.source for e in to_install},
            )
            if failure is None:
                raise
            raise failure from None
        finally:
            if on_line is not None and progress is not None:
                progress(ProgressEvent("done"))  # whatever the outcome: the bar goes
    return SyncResult(plan, applied=True, notes=tuple(notes), lock_path=str(lock.path))


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

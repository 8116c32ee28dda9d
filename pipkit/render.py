"""All of pipkit's output: rich tables for people, ``--json`` for scripts.

JSON goes to stdout as one document with stable keys (documented in the README). Tables
use rich, imported only when a table is printed; rich honours ``NO_COLOR``. Messages for
people go to stderr so stdout stays parseable.

The library computes, this module says it: a command's answer comes back from one call and
is printed here, with the exit code it implies. Where a use case reports mid-way (the notes
before a sync, the plan before a question, a rollback's plan, the lock's spinner) the CLI
hands it these functions as callbacks; library warnings arrive through ``logging``
(:func:`show_library_warnings`). Only :mod:`pipkit.cli` and :mod:`pipkit.fastpath` call this
module; it imports result types from :mod:`pipkit.ops` for typing only. Module level imports
only the standard library: the fast path prints a cached no-op through it.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from pipkit.core.graph import Edge, Node
    from pipkit.core.plan import Plan
    from pipkit.env.ledger import Entry
    from pipkit.ops.convert import ConvertResult
    from pipkit.ops.demo_checks import DemoReport
    from pipkit.ops.diff import DiffResult
    from pipkit.ops.doctor import DoctorResult
    from pipkit.ops.family import ChangeResult, PackageRow, ShowInfo
    from pipkit.ops.history import PruneResult
    from pipkit.ops.init import InitResult
    from pipkit.ops.lock import LockResult
    from pipkit.ops.noop import CachedCheck, CachedSync
    from pipkit.ops.outdated import OutdatedResult
    from pipkit.ops.rollback import RollbackPlan, RollbackResult
    from pipkit.ops.save import SaveResult
    from pipkit.ops.search import SearchResult
    from pipkit.ops.sync import CheckReport, RecoverResult, SyncResult
    from pipkit.ops.tree import TreeResult, WhyResult
    from pipkit.ops.ui import UiResult

    class _Jsonable(Protocol):  # typing only: a class costs import time on the no-op path
        def to_json(self) -> Any: ...


# Width for output that is not a terminal (a pipe, a file): wide enough that a table never
# wraps, so `pipkit history | grep` sees whole rows. $COLUMNS still wins, as rich reads it.
PIPED_WIDTH = 1000


def console(stderr: bool = False) -> Console:
    _say_target()
    import os

    from rich.console import Console

    con = Console(stderr=stderr, highlight=False, soft_wrap=False)
    if not con.is_terminal and not os.environ.get("COLUMNS"):
        con.width = PIPED_WIDTH
    return con


def table(*columns: str, title: str | None = None) -> Table:
    from rich import box
    from rich.table import Table

    result = Table(*columns, title=title, box=box.SIMPLE_HEAD, title_justify="left")
    return result


def print_json(data: Any) -> None:
    _out(json.dumps(data, indent=2, sort_keys=False) + "\n")


def json_list(items: Iterable[_Jsonable]) -> None:
    print_json([item.to_json() for item in items])


_QUIET = [False]  # global -q: errors only (a list, so no `global` statement is needed)


def set_quiet(quiet: bool) -> None:
    """Global ``-q``: from now on only errors (and data asked for on stdout) are printed."""
    _QUIET[0] = quiet


# `target: PATH`, said before the first thing a changing command prints, and not at all when
# it ends in an error: a refused lock or a failed pip run stays one line.
_TARGET: list[str] = []


def _say_target() -> None:
    if _TARGET:
        line = _TARGET.pop()
        if not _QUIET[0]:
            sys.stderr.write(line + "\n")


def _out(text: str) -> None:
    """stdout, after the pending target line."""
    _say_target()
    sys.stdout.write(text)


def message(text: str) -> None:
    """A line for people, on stderr (not under ``-q``)."""
    _say_target()
    if not _QUIET[0]:
        sys.stderr.write(text + "\n")


def target_line(target: Any) -> None:
    """What a changing command says first: the environment it is about to act on. Said
    before the command's first line of output (a plan, a question, a result), so that an
    error stays the one line it is."""
    _TARGET[:] = [f"target: {target.prefix}"]


def say_target() -> None:
    """Say the pending target line now (before a subprocess streams its own output)."""
    _say_target()


def forget_target() -> None:
    """A new command line: nothing pending from an earlier one (the CLI runs in-process too)."""
    _TARGET.clear()


def fallback_note(target: Any) -> None:
    """A read-only command with no environment named or found reads pipkit's own; says so."""
    message(
        "pipkit: note: no virtual environment found (no --python, $PIPKIT_PYTHON, "
        f"$VIRTUAL_ENV or .venv): reading pipkit's own interpreter {target.python}"
    )


def show_library_warnings() -> None:
    """Show the library's ``logging`` warnings as ``pipkit: warning: ...`` lines on stderr."""
    import logging

    class Stderr(logging.Handler):
        """Writes to whatever ``sys.stderr`` is when a record comes (not when made)."""

        def emit(self, record: logging.LogRecord) -> None:
            message(f"pipkit: {record.levelname.lower()}: {record.getMessage()}")

    logger = logging.getLogger("pipkit")
    if not any(type(h).__name__ == "Stderr" for h in logger.handlers):
        logger.addHandler(Stderr(logging.WARNING))
    logger.setLevel(logging.WARNING)


@contextlib.contextmanager
def spinner(text: str) -> Iterator[None]:
    """A rich spinner on stderr while something slow works (nothing when not a terminal)."""
    if not sys.stderr.isatty():  # not even rich's import (~50 ms) when nobody watches
        yield
        return
    from rich.console import Console

    con = Console(stderr=True)
    if not con.is_terminal:
        yield
        return
    with con.status(text):
        yield


class ProgressBar:
    """A rich progress bar on stderr over an install step's packages (``+ 3/20 installing
    name``), fed the use case's events (:mod:`pipkit.ops.progress`). Made only on a terminal
    (:func:`install_bar`); cleared when the step ends."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._task: Any = None
        self._what = "installing"

    def __call__(self, event: Any) -> None:
        if event.kind == "start":
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self.close()
            self._what = event.what or "installing"
            self._bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._task = self._bar.add_task(self._what, total=max(event.total, 1))
            self._bar.start()
        elif self._bar is None:
            return
        elif event.kind == "package":
            task = self._bar.tasks[0]
            self._bar.update(
                self._task,
                completed=min(task.completed + 1, task.total or 1),
                description=f"{self._what} {event.name}",
            )
        elif event.kind == "download":
            self._bar.update(self._task, description=f"downloading {event.name}")
        elif event.kind == "installing":
            total = self._bar.tasks[0].total
            self._bar.update(self._task, completed=total, description=self._what)
        elif event.kind == "done":
            self.close()
            return
        self._bar.refresh()  # every step reaches the terminal, not only 10 a second

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def install_bar(*, as_json: bool = False) -> ProgressBar | None:
    """The bar for an install step, or None when nobody watches: stderr not a terminal,
    ``-q``, or ``--json``."""
    if as_json or _QUIET[0] or not sys.stderr.isatty():
        return None
    return ProgressBar()


def columns(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Plain aligned columns under a dashed rule, as ``pip list`` prints them."""
    widths = [max(len(str(cell)) for cell in col) for col in zip(header, *rows, strict=True)]
    lines = [header, ["-" * width for width in widths], *rows]
    return "".join(
        " ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        + "\n"
        for line in lines
    )


def package_list(rows: Sequence[PackageRow], *, as_json: bool, outdated: bool) -> None:
    if as_json:
        json_list(rows)
        return
    if not rows:
        message("No packages." if not outdated else "Everything is up to date.")
        return
    # pip list's own layout (and no rich import: list is on the fast path). The editable
    # column only when there is an editable to show.
    editables = any(row.editable_location for row in rows)
    header = ["Package", "Version"]
    if outdated:
        header += ["Latest", "Type"]
    if editables:
        header.append("Editable project location")
    cells: list[list[str]] = []
    for row in rows:
        line = [row.name, row.version]
        if outdated:
            line += [row.latest or "", row.latest_filetype or ""]
        if editables:
            line.append(row.editable_location or "")
        cells.append(line)
    _out(columns(header, cells))


def change_result(result: ChangeResult) -> int:
    """What an install, uninstall or upgrade did: a line per package, then the summary; the
    exit code. A dry run's plan goes to stdout (it is the answer)."""
    for name in result.skipped:
        message(f"pipkit: {name} is not installed, skipping")
    if result.declined:
        message("pipkit: nothing changed")
        return result.code
    lines = plan_lines(
        [(name, version or "") for name, version in result.installed],
        [(name, old, new or "", "") for name, old, new in result.changed],
        [(dist.raw_name, dist.version) for dist in result.removed],
    )
    if result.dry_run:
        _out("".join(line + "\n" for line in lines) or "Nothing to do.\n")
        return result.code
    for line in lines:
        message(line)
    if result.already_satisfied:
        message("Requirement already satisfied: nothing to install.")
    elif lines:
        message(summary(len(result.installed), len(result.changed), len(result.removed)))
    return result.code


def saved(result: SaveResult) -> int:
    """The line after ``--save`` synced the new lock (the lock line was said already); exit 1
    when the sync was declined (the inputs and the lock were put back)."""
    if result.declined:
        message("pipkit: nothing changed")
        return 1
    synced(result.sync.plan)
    return 0


def show(
    infos: Sequence[ShowInfo],
    missing: Sequence[str],
    *,
    as_json: bool,
    verbose: bool = False,
    files: bool = False,
    pip_version: str | None = None,
) -> int:
    """``pipkit show``: the details, byte for byte as the target's ``pip show`` (its version's
    layout), then a line per name not installed; the exit code (1 if one is not installed)."""
    if as_json:
        json_list(infos)
    else:
        from pipkit.core.showfmt import show_text

        fields = [info.fields for info in infos if info.fields is not None]
        _out(show_text(fields, pip_version, verbose=verbose, files=files))
    for name in missing:
        message(f"pipkit: package not installed: {name}")
    return 1 if missing else 0


SEARCH_VERSIONS = 10


def search_result(result: SearchResult, *, as_json: bool) -> None:
    """``pipkit search``: the JSON document, or a few lines (nothing on stdout if not found)."""
    for error in result.unreachable:
        message(f"pipkit: warning: could not reach {error}")
    if as_json:
        print_json(result.to_json())
        return
    if not result.found:
        return  # the error line names the indexes and the similar installed names
    # Newest first (the index order is sorted by the use case), at most SEARCH_VERSIONS: the
    # versions that matter; --json has them all.
    shown = result.versions[:SEARCH_VERSIONS]
    versions = ", ".join(f"{v.version} (yanked)" if v.yanked else v.version for v in shown)
    if len(result.versions) > len(shown):
        versions += f", and {len(result.versions) - len(shown)} older (--json lists all)"
    lines = [
        result.name,
        f"  latest:    {result.latest or 'none (every version is yanked)'}",
        f"  installed: {result.installed or 'no'}",
        f"  versions:  {versions or 'none'}",
    ]
    if result.similar_installed:
        similar = ", ".join(f"{s.name} {s.version}" for s in result.similar_installed)
        lines.append(f"  similar installed: {similar}")
    _out("\n".join(lines) + "\n")


# -- pipkit demo ------------------------------------------------------------------------------


def demo_report(report: DemoReport, *, as_json: bool) -> None:
    """The demo's checks as a table (check, result, figures) with the URLs, or one JSON object."""
    if as_json:
        print_json(report.to_json())
        return
    from rich.text import Text

    out = table("Check", "Result", "Figures", title=f"pipkit demo: {report.python}")
    for check in report.checks:
        result = Text("ok", style="green") if check.ok else Text("FAILED", style="bold red")
        # Text, not markup: a failed server's output may contain [brackets].
        out.add_row(Text(check.name), result, Text(check.detail))
    con = console()
    con.print(out)
    for server in report.servers:
        con.print(Text(f"{server.kind:<10} {server.url or '(not running)'}"))
    failed = sum(not check.ok for check in report.checks)
    if failed:
        con.print(Text(f"{failed} of {len(report.checks)} checks failed.", style="bold red"))
    else:
        con.print(Text(f"All {len(report.checks)} checks passed.", style="green"))


# -- check and sync (pipkit.sync) ---------------------------------------------------------------
#
# These print little and must start fast: plain text, no rich. A cached no-op check or sync
# (pipkit.sync.fast_noop) is printed by the same functions as a full run, so both say the same.


def notes(lines: Iterable[str]) -> None:
    """What to say up front (lock made for another Python, pending change...): stderr."""
    for line in lines:
        message(f"pipkit: note: {line}")


def _here(path: str) -> str:
    """``path`` relative to the working folder when it lies inside it, as a user types it."""
    import os

    full = os.path.abspath(path)
    cwd = os.getcwd()
    return os.path.relpath(full, cwd) if full.startswith(cwd + os.sep) else path


def default_lock_note(present: Sequence[str]) -> None:
    """When several default locks lie here, which one ``check`` took (the first)."""
    if len(present) > 1:
        message(
            f"pipkit: note: {' and '.join(present)} are both here: comparing {present[0]} "
            "(name the lock to choose)"
        )


def check_report(
    report: CheckReport | CachedCheck,
    *,
    as_json: bool,
    locks: Sequence[str] = (),
    prefix: str = "",
) -> int:
    """``pipkit check``: notes and lint on stderr; on stdout the drift, one line per
    difference, then what was compared (``requirements.txt vs .venv: in sync``) and, on drift,
    the next step; or the JSON. Under ``-q`` only the difference lines (nothing in sync).
    Returns the exit code: 0 in sync, 1 on drift."""
    if as_json:
        print_json(report.to_json())
        return 0 if report.in_sync else 1
    notes(report.notes)
    for issue in report.lint:
        message(f"pipkit: warning: {issue}")
    result = report.result  # None: a cached answer, in sync
    lines: list[str] = []
    if result is not None:
        for entry in sorted(result.missing, key=lambda e: e.name):
            lines.append(
                f"missing   {entry.name} {entry.pinned_version or entry.url or ''}".rstrip()
            )
        for dist in sorted(result.extra, key=lambda d: d.name):
            lines.append(f"extra     {dist.name} {dist.version}")
        for item in result.to_json()["changed"]:
            lines.append(f"changed   {item['name']} {item['installed']} (locked: {item['locked']})")
        for conflict in result.conflicts:
            lines.append(f"conflict  {conflict}")
    if _QUIET[0]:  # -q: the differences only (the data a CI log wants); nothing in sync
        if lines:
            _out("\n".join(lines) + "\n")
        return 0 if report.in_sync else 1
    lock = " ".join(_here(path) for path in locks) or "the lock"
    compared = f"{lock} vs {_here(prefix) if prefix else 'the environment'}"
    if report.in_sync:
        lines.append(f"{compared}: in sync")
    else:
        lines.append(f"{compared}: {_plural(len(lines), 'difference')}")
        lines.append(f"run: pipkit sync {lock}" if locks else "run: pipkit sync")
    _out("\n".join(lines) + "\n")
    return 0 if report.in_sync else 1


def plan_lines(
    added: Iterable[tuple[str, str]],
    changed: Iterable[tuple[str, str, str, str]] = (),
    removed: Iterable[tuple[str, str]] = (),
) -> list[str]:
    """One line per package, as uv prints them: ``+ name version``, ``~ name old -> new``
    (with the reason when the version stays), ``- name version``."""
    lines = [f"+ {name} {version}".rstrip() for name, version in added]
    for name, old, new, reason in changed:
        why = f"  ({reason})" if reason and old == new else ""
        lines.append(f"~ {name} {old} -> {new}{why}")
    lines += [f"- {name} {version}" for name, version in removed]
    return lines


def _plural(count: int, word: str = "package") -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def summary(added: int, changed: int, removed: int) -> str:
    """The line after a change: ``Installed 2 packages, changed 1, removed 1``."""
    parts = [(added, "installed"), (changed, "changed"), (removed, "removed")]
    done = [(count, verb) for count, verb in parts if count]
    if not done:
        return "Nothing changed"
    (first, verb), rest = done[0], done[1:]
    words = [f"{verb.capitalize()} {_plural(first)}", *(f"{verb} {n}" for n, verb in rest)]
    return ", ".join(words)


def _sync_lines(plan: Plan) -> list[str]:
    return plan_lines(
        [(e.raw_name, e.pinned_version or e.url or "") for e in plan.install],
        [
            (
                c.installed.raw_name,
                c.installed.version,
                c.entry.pinned_version or c.entry.url or "",
                str(c.reason),
            )
            for c in plan.change
        ],
        [(d.raw_name, d.version) for d in plan.remove],
    )


def sync_plan(plan: Plan, *, lock_path: str, prefix: object) -> str:
    """A sync plan for people, one line per package (``--dry-run``, and before asking)."""
    lines = [f"{lock_path} -> {prefix}:", *_sync_lines(plan)]
    if plan.protected:
        kept = ", ".join(f"{d.raw_name} {d.version}" for d in plan.protected)
        lines.append(f"  kept (not in the lock): {kept}")
    if plan.is_noop:
        lines.append("  nothing to do: the environment matches the lock")
    return "\n".join(line.rstrip() for line in lines)


def synced(plan: Plan) -> None:
    """The line after a sync that went through (or had nothing to do)."""
    if plan.is_noop:
        message("pipkit: the environment already matches the lock")
    else:
        message(summary(len(plan.install), len(plan.change), len(plan.remove)))


def cached_sync(result: CachedSync, *, as_json: bool) -> int:
    """A no-op ``pipkit sync`` answered from the cache: its notes, then the same line (or JSON)
    as a full no-op run; exit 0."""
    notes(result.notes)
    if as_json:
        print_json(result.to_json())
    else:
        message("pipkit: the environment already matches the lock")
    return 0


def sync_result(result: SyncResult, *, prefix: object, as_json: bool) -> int:
    """``pipkit sync``'s answer; the exit code: 1 when the plan was declined.

    A full run said its notes itself (``on_notes``), before asking.
    """
    if as_json:
        print_json(result.to_json())
    elif result.dry_run:
        _out(sync_plan(result.plan, lock_path=result.lock_path, prefix=prefix) + "\n")
    elif result.plan.is_noop or result.applied:
        synced(result.plan)
    else:
        message("pipkit: nothing changed")
        return 1
    return 0


def recover_result(result: RecoverResult) -> int:
    """``pipkit recover``'s line; the exit code: 1 when the recovery was declined."""
    messages = {
        "nothing": "pipkit: nothing to recover",
        "finished": f"pipkit: finished the interrupted `{result.command}` ({result.reason})",
        "undone": f"pipkit: undid the interrupted `{result.command}` ({result.reason})",
    }
    message(messages.get(result.action, "pipkit: nothing changed"))
    return 0 if result.action in messages else 1


# -- lock (pipkit.locking) ----------------------------------------------------------------------


def lock_written(result: LockResult) -> None:
    """One line on stderr saying what ``pipkit lock`` wrote."""
    from pipkit.core.words import plural

    message(
        f"Wrote {result.path} ({plural(result.packages, 'package')}, {result.format} format, "
        f"for Python {result.python_version} on {result.platform}; {result.method})"
    )


def lock_check(path: object, reasons: Sequence[str]) -> int:
    """``pipkit lock --check``: up to date (0) or stale with its reasons (1), on stdout."""
    if reasons:
        lines = [f"{path} is stale:", *(f"  - {reason}" for reason in reasons)]
        _out("\n".join(lines) + "\n")
        return 1
    _out(f"{path} is up to date with its inputs\n")
    return 0


# -- history and rollback (pipkit.history) ------------------------------------------------------


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def history_prune(result: PruneResult, *, as_json: bool) -> None:
    """``pipkit history prune``: what was dropped and what the store keeps."""
    if as_json:
        print_json(result.to_json())
        return
    for name in result.dropped:
        message(f"dropped {name}")
    from pipkit.core.words import plural

    message(
        f"pipkit: dropped {plural(len(result.dropped), 'wheel')}, {_mb(result.freed_bytes)}; "
        "the store "
        f"keeps {result.kept} ({_mb(result.kept_bytes)} of {_mb(result.cap_bytes)})"
    )


def history_entries(items: Sequence[Entry], *, as_json: bool) -> None:
    """``pipkit history``: a table oldest first, or a JSON list of summaries."""
    if as_json:
        print_json([e.summary_json() for e in items])
        return
    if not items:
        message("No history yet: pipkit has not changed this environment.")
        return
    out = table("ID", "Time (UTC)", "Command", "Added", "Changed", "Removed", "Result")
    for column in out.columns:
        column.no_wrap = column.header != "Command"  # only the command may wrap
    for item in items:
        counts = item.diff
        out.add_row(
            str(item.id),
            item.time.replace("T", " ").rstrip("Z"),
            item.command,
            str(len(counts.added)),
            str(len(counts.changed)),
            str(len(counts.removed)),
            item.result,
        )
    console().print(out)


def history_entry(item: Entry, *, as_json: bool) -> None:
    """``pipkit history show ID``: the entry's full diff."""
    if as_json:
        print_json(item.to_json())
        return
    lines = [
        f"Entry {item.id}: {item.command}",
        f"  time:    {item.time}",
        f"  result:  {item.result}",
    ]
    changes = item.diff
    lines += [f"  + {p.name} {p.describe()}" for p in changes.added]
    lines += [f"  ~ {a.name} {a.describe()} -> {b.describe()}" for a, b in changes.changed]
    lines += [f"  - {p.name} {p.describe()}" for p in changes.removed]
    if changes.empty:
        lines.append("  (no change)")
    _out("\n".join(lines) + "\n")


def rollback_plan(plan: RollbackPlan, *, dry_run: bool) -> None:
    """The rollback plan, one line per package: a dry run's output (stdout), else a message."""
    from pipkit.ops.rollback import INDEX, LOCAL, STORE

    lines = [f"Rollback to {plan.description}:"]
    where = {STORE: "from the wheel store", INDEX: "from the index", LOCAL: "local"}
    changes = plan.changes

    def source(key: Any) -> str:
        return f"  ({where.get(plan.sources.get(key, ''), '') or 'needs network'})"

    lines += [f"+ {p.name} {p.describe()}{source(p.key)}" for p in changes.added]
    lines += [
        f"~ {old.name} {old.describe()} -> {new.describe()}{source(new.key)}"
        for old, new in changes.changed
    ]
    lines += [f"- {p.name} {p.describe()}" for p in changes.removed]
    if changes.empty:
        lines.append("  nothing to do: the environment is already in that state")
    text = "\n".join(lines)
    if dry_run:
        _out(text + "\n")
    else:
        message(text)


def rollback_result(result: RollbackResult, *, dry_run: bool) -> int:
    """The line after a rollback; the exit code: 1 when it was declined."""
    if result.applied:
        changes = result.plan.changes
        message(summary(len(changes.added), len(changes.changed), len(changes.removed)))
        message(f"pipkit: rolled back to {result.plan.description}")
    elif not (dry_run or result.plan.changes.empty):
        message("pipkit: nothing changed")
        return 1
    return 0


# -- tree, why (pipkit.ops.tree) ----------------------------------------------------------------


def _tree_label(node: Node, *, reverse: bool) -> str:
    version = node.version if node.version is not None else "?"
    edge = node.edge
    if edge is None:
        return f"{node.package_name}=={version}"
    if reverse:  # the child requires the node above it
        text = f"{node.package_name}=={version} [requires: {edge.child}"
        text += f"{'' if edge.required == 'Any' else edge.required}"
    else:
        text = f"{node.package_name} [required: {edge.required}, installed: {version}"
    if edge.extra:
        text += f", extra: {edge.extra}"
    text += "]"
    marks = []
    if edge.status == "missing":
        marks.append("MISSING")
    elif edge.status == "conflict":
        marks.append("CONFLICT")
    if node.cycle:
        marks.append("(cycle)")
    if node.truncated:
        marks.append("...")
    return " ".join([text, *marks])


def tree_result(result: TreeResult, *, as_json: bool) -> int:
    """``pipkit tree``: the nested JSON, or pipdeptree's text tree; one line per unmet
    requirement on stderr. Exit 1 when a requirement shown is missing or conflicting."""
    if as_json:
        print_json(result.to_json())
    else:
        lines: list[str] = []

        def walk(node: Node, prefix: str, last: bool, top: bool) -> None:
            label = _tree_label(node, reverse=result.reverse)
            if top:
                lines.append(label)
                inner = ""
            else:
                lines.append(f"{prefix}{'└── ' if last else '├── '}{label}")
                inner = prefix + ("    " if last else "│   ")
            for index, child in enumerate(node.children):
                walk(child, inner, index == len(node.children) - 1, False)

        for root in result.roots:
            walk(root, "", True, True)
        if lines:
            _out("\n".join(lines) + "\n")
    for edge in result.problems:
        have = "not installed" if edge.status == "missing" else f"{edge.installed} installed"
        message(f"pipkit: {edge.parent} requires {edge.child}{_spec(edge)} ({have})")
    return 1 if result.problems else 0


def _spec(edge: Edge) -> str:
    return "" if edge.required == "Any" else edge.required


def why_result(result: WhyResult, *, as_json: bool) -> int:
    """``pipkit why PKG``: one line per chain, shortest first (or JSON). Exit 0 when PKG is
    installed, 1 when it is not (also when only the lock has it)."""
    if as_json:
        print_json(result.to_json())
        return 0 if result.installed is not None else 1
    if result.installed is None:
        if result.in_lock:
            message(
                f"pipkit: {result.package_name} is only in the lock ({_here(result.in_lock)}): "
                "it is not installed; `pipkit sync` installs it"
            )
            _lock_only_chains(result)
        else:
            message(f"pipkit: {result.package_name} is not installed")
        return 1
    lines: list[str] = []
    if result.is_root and result.roots_from != "top-level packages":
        lines.append(
            f"{result.package_name} {result.installed} is a lock input ({result.roots_from})"
        )
    elif result.top_level:
        lines.append(
            f"{result.package_name} {result.installed} is top-level: nothing installed requires it"
        )
    if result.chains:
        lines.append(
            f"{result.package_name} {result.installed} is required through "
            f"{len(result.chains)} chain(s) from the {result.roots_from}:"
        )
        for chain in result.chains:
            first = chain[0]
            parts: list[str] = [first.parent]
            for edge in chain:
                part = f"{edge.child_name}{_spec(edge)} ({edge.installed or 'missing'})"
                if edge.extra:
                    part += f" (extra {edge.extra})"
                parts.append(part)
            lines.append("  " + " -> ".join(parts))
        if result.more:
            lines.append("  ... (more chains left out)")
    elif not (result.top_level or result.is_root):
        lines.append(
            f"{result.package_name} {result.installed} is reached from none of the "
            f"{result.roots_from}"
        )
    _out("\n".join(lines) + "\n")
    return 0


def _lock_only_chains(result: WhyResult) -> None:
    """The chains the lock's own graph gives for a package only the lock has (or why none)."""
    lock = _here(result.lock or "the lock")
    if result.lock_graph is False:
        missing = "no package lists its dependencies" if lock.endswith(".toml") else "no `# via`"
        message(f"pipkit: {lock} carries no dependency graph ({missing}): no chain to show")
        return
    if not result.lock_chains:
        return
    pin = f" {result.locked_version}" if result.locked_version else ""
    lines = [
        f"{result.package_name}{pin} is pinned through {len(result.lock_chains)} chain(s) "
        f"in {lock}:"
    ]
    lines += ["  " + " -> ".join(chain) for chain in result.lock_chains]
    if result.more:
        lines.append("  ... (more chains left out)")
    _out("\n".join(lines) + "\n")


# -- diff (pipkit.ops.diff) ---------------------------------------------------------------------


def diff_result(result: DiffResult, *, as_json: bool) -> int:
    """``pipkit diff A B``: one line per difference (or JSON); exit 0 when the same, 1 when
    they differ."""
    if as_json:
        print_json(result.to_json())
        return 0 if result.same else 1
    changes = result.changes
    lines = [f"added    {item.raw_name} {item.describe()}" for item in changes.added]
    lines += [f"removed  {item.raw_name} {item.describe()}" for item in changes.removed]
    for change in changes.changed:
        arrow = {"up": ", up", "down": ", down"}.get(change.direction or "", "")
        lines.append(
            f"changed  {change.after.raw_name} {change.before.describe()} -> "
            f"{change.after.describe()} ({change.kind}{arrow})"
        )
    for _before, after in changes.hashes:
        lines.append(f"hashes   {after.raw_name} {after.describe()}: other hashes")
    for before, after in changes.markers:
        lines.append(
            f"marker   {after.raw_name} {after.describe()}: {before.marker or '(none)'} -> "
            f"{after.marker or '(none)'}"
        )
    if not lines:
        _out(f"No difference between {result.a} and {result.b}.\n")
        return 0
    _out("\n".join(lines) + "\n")
    return 1


# -- pipkit ui (issue 13) -----------------------------------------------------------------------


def ui_ready(url: str) -> None:
    """The one ready line, on stdout, flushed: scripts wait for it."""
    _out(f"pipkit ui: serving {url} (read-only; Ctrl-C to stop)\n")
    sys.stdout.flush()


def ui_stopped(result: UiResult) -> None:
    message(f"pipkit ui: stopped ({result.refreshes} refresh(es) of {result.url})")


# -- doctor (pipkit.ops.doctor) -----------------------------------------------------------------


def doctor_result(result: DoctorResult, *, as_json: bool) -> int:
    """``pipkit doctor``: each problem and note with its fix (or JSON); exit 1 on a problem."""
    if as_json:
        print_json(result.to_json())
        return 0 if result.healthy else 1
    lines: list[str] = []
    for finding in result.problems:
        lines += [f"problem  {finding.message}", f"         fix: {finding.fix}"]
    for finding in result.notes:
        lines += [f"note     {finding.message}", f"         fix: {finding.fix}"]
    problems, notes = len(result.problems), len(result.notes)
    if result.healthy:
        lines.append(
            f"No problems found in {result.prefix}"
            + (f" ({notes} note{'s' if notes != 1 else ''})." if notes else ".")
        )
    else:
        lines.append(
            f"{problems} problem{'s' if problems != 1 else ''}, "
            f"{notes} note{'s' if notes != 1 else ''} in {result.prefix}."
        )
    _out("\n".join(lines) + "\n")
    return 0 if result.healthy else 1


# -- convert (issue 14) ----------------------------------------------------------------------


def convert_result(result: ConvertResult, *, as_json: bool) -> int:
    """``pipkit convert``: the line saying what was written (or JSON); exit 0."""
    if as_json:
        print_json(result.to_json())
        return 0
    what = "pylock.toml" if result.format == "pylock" else "requirements lock"
    plural = "" if result.packages == 1 else "s"
    _out(
        f"Wrote {result.output} ({what}, {result.packages} package{plural}) from {result.source}.\n"
    )
    return 0


# -- outdated (issue 14) ---------------------------------------------------------------------


@contextlib.contextmanager
def progress_bar(text: str) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on stderr, fed ``(done, total)``; nothing when not a terminal."""
    if not sys.stderr.isatty():  # not even rich's import when nobody watches
        yield lambda done, total: None
        return
    from rich.console import Console

    con = Console(stderr=True)
    if not con.is_terminal:
        yield lambda done, total: None
        return
    from rich.progress import Progress

    with Progress(console=con, transient=True) as bar:
        task = bar.add_task(text, total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance


def outdated_result(result: OutdatedResult, *, as_json: bool) -> int:
    """``pipkit outdated``: a row per pin with a newer release (or JSON); exit 1 when any."""
    code = 1 if result.rows else 0
    if as_json:
        print_json(result.to_json())
        return code
    for name in result.not_found:
        message(f"pipkit: note: {name} is on none of the configured indexes")
    if result.skipped:
        message(f"pipkit: note: not looked up (no index pin): {', '.join(result.skipped)}")
    if not result.rows:
        message(f"All {_plural(result.checked, 'pin')} of {result.lock} are up to date.")
        return 0
    header = ["Package", "Locked", "Latest", "Bump", "Allowed"]
    cells = [
        [row.package_name, row.locked, row.latest, row.bump, row.allowed] for row in result.rows
    ]
    _out(columns(header, cells))
    for row in result.rows:
        if row.blocked_by:
            message(f"{row.package_name} {row.latest}: not allowed by {row.blocked_by}")
    allowed = [row.package_name for row in result.rows if row.allowed == "yes"]
    summary_line = f"{len(result.rows)} of {_plural(result.checked, 'pin')} of {result.lock} "
    summary_line += "have newer releases"
    if result.inputs is None:
        summary_line += " (no lock inputs found to judge them by)"
    elif allowed:
        summary_line += f"; `pipkit lock -P {allowed[0]}` takes one the inputs allow"
    message(summary_line + ".")
    return code


# -- init (issue 14) -------------------------------------------------------------------------


def init_result(result: InitResult, *, as_json: bool) -> int:
    """``pipkit init``: what was made, then the next steps (or JSON); exit 0."""
    if as_json:
        print_json(result.to_json())
        return 0
    wrote = f"wrote {result.inputs}" if result.wrote_inputs else f"read {result.inputs}"
    lines = [
        f"Created {result.venv} (Python {result.python}, {result.creator}), {wrote}, "
        f"locked {result.lock} ({_plural(len(result.packages))}), synced {result.venv}.",
        "Next steps:",
        *(f"  {line}" for line in result.next_steps),
    ]
    _out("\n".join(lines) + "\n")
    return 0

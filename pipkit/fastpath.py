"""The console script's first module: answers the fast paths with the standard library alone.

A no-op ``check`` / ``sync --yes`` is answered from its cache (:mod:`pipkit.ops.noop`), and
``freeze`` / ``list`` (plain or ``--json``) from the environment's metadata, before typer,
click, rich or packaging are imported; anything else, or a miss, hands the whole command line
to the full CLI (:mod:`pipkit.cli`), which then reports whatever is wrong itself. Output is made
by the same functions as the full path (:mod:`pipkit.render`, :mod:`pipkit.ops.family`), so
both say the same byte for byte (``tests/test_fastpath.py`` keeps it so).
``PIPKIT_NO_FASTPATH=1`` always takes the full path.

Part of the CLI layer (it renders): imports only the standard library at module level, and
inside :func:`answer` pipkit's stdlib-only modules (render, env.target, env.dists, ops.noop,
ops.family, core.freeze) or, in :func:`main`, pipkit.cli.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence


def answer(argv: Sequence[str]) -> int | None:
    """Answer ``[--python P] check [LOCK...] [--json]`` or ``[--python P] sync [LOCK...] --yes
    [--json]`` from the no-op cache before typer builds its command tree (~20 ms of a ~100 ms
    no-op); the exit code, or None for anything else or any miss: then the CLI runs as usual
    and reports whatever is wrong itself. Never changes anything.
    """
    args = list(argv)
    python: str | None = None
    # The global options a fast answer may carry. The installer engine does not change a
    # no-op, a freeze or a list, so `--installer uv check` is answered here too.
    while args and args[0].split("=", 1)[0] in ("--python", "--installer"):
        name, _, value = args[0].partition("=")
        if not value:
            if len(args) < 2:
                return None
            value, args = args[1], args[1:]
        args = args[1:]
        if name == "--python":
            python = value
        elif value not in ("pip", "uv"):
            return None  # the full CLI says what is wrong with it
    if args and args[0] in ("freeze", "list"):
        return _read_only(python, args[0], args[1:])
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
        from pipkit.env.target import FALLBACK, resolve_target
        from pipkit.ops import noop

        target = resolve_target(python, changing=command == "sync")
        if target.origin == FALLBACK:
            return None  # the full path says which interpreter it reads
        files = locks or noop.default_paths(os.getcwd()) or []
        if not files or noop.pending(target):
            return None
        if command == "check":
            found, _stamp = noop.cached("check", target, files, ())
            if found is None:
                return None
            if not locks:
                render.default_lock_note(noop.default_names(os.getcwd()))
            report = noop.CachedCheck(found)
            return render.check_report(report, as_json=as_json, locks=files, prefix=target.prefix)
        if target.modification_refusal():
            return None
        found, _stamp = noop.cached("sync", target, files, ())
        if found is None:
            return None
        render.target_line(target)  # as the full path says it first
        return render.cached_sync(noop.CachedSync(found), as_json=as_json)
    except Exception:  # a fast path only: the full path reports any problem properly
        return None


def _read_only(python: str | None, command: str, rest: Sequence[str]) -> int | None:
    """``freeze [--exclude-editable] [--all]`` and ``list [--json]``: read the environment and
    print; None for any other option (``-o``, ``--outdated``...) or any problem."""
    flags = set(rest)
    allowed = {"--exclude-editable", "--all"} if command == "freeze" else {"--json"}
    if len(flags) != len(rest) or not flags <= allowed:
        return None
    try:
        from pipkit.env.target import FALLBACK, resolve_target
        from pipkit.ops import family

        target = resolve_target(python)
        if target.origin == FALLBACK:
            return None  # the full path says which interpreter it reads
        if command == "freeze":
            text = family.freeze(
                target, exclude_editable="--exclude-editable" in flags, all_="--all" in flags
            )
            sys.stdout.write(text)
            return 0
        from pipkit import render

        rows = family.list_packages(target, outdated=False)
        render.package_list(rows, as_json="--json" in flags, outdated=False)
        return 0
    except Exception:  # a fast path only: the full path reports any problem properly
        return None


def main() -> None:
    """Console-script entry point: a fast answer, else the full CLI."""
    try:
        code = None if os.environ.get("PIPKIT_NO_FASTPATH") else answer(sys.argv[1:])
        if code is not None:
            sys.exit(code)
        from pipkit.cli import main as full

        full()
    except KeyboardInterrupt:
        # Ctrl-C while pipkit is still importing or building its commands (nothing has
        # changed yet: an interrupt inside a command is answered by cli._Group.invoke): the
        # same line and exit code as an interrupt later on, not a traceback.
        sys.stderr.write("pipkit: interrupted\n")
        sys.exit(130)

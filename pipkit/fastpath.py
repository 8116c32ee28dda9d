"""The console script's first module: answers the fast paths with the standard library alone.

First, a kept answer (:mod:`pipkit.env.answers`): a no-op ``check``/``sync --yes``, ``freeze``
or ``list`` that ran before with the same command line and inputs is replayed byte for byte
after a few hundred ``stat`` calls. On a miss, such a command runs with its output recorded
(:class:`_Tee`), and is kept when it exited 0 and changed nothing.

Then, a no-op ``check`` / ``sync --yes`` is answered from its cache (:mod:`pipkit.ops.noop`), and
``freeze`` / ``list`` (plain or ``--json``) from the environment's metadata, before typer,
click, rich or packaging are imported; anything else, or a miss, hands the whole command line
to the full CLI (:mod:`pipkit.cli`), which then reports whatever is wrong itself. Output is made
by the same functions as the full path (:mod:`pipkit.render`, :mod:`pipkit.ops.family`), so
both say the same byte for byte (``tests/test_fastpath.py`` keeps it so).
``PIPKIT_NO_FASTPATH=1`` always takes the full path.

Part of the CLI layer (it renders): imports only the standard library at module level, and
inside :func:`answer` pipkit's stdlib-only modules (render, env.config, env.target, env.dists,
ops.noop, ops.family, core.freeze) or, in :func:`main`, pipkit.cli. The configuration files
(``[tool.pipkit]``, the user file) are read here as the full CLI reads them, so a configured
``lock`` or ``keep`` gives the same answer; a configuration the full CLI would warn about or
refuse is left to it.
"""

from __future__ import annotations

import os
import sys

# typing costs the replay ~5 ms: mypy and ruff read this constant as typing's.
TYPE_CHECKING = False

if TYPE_CHECKING:  # collections.abc costs the replay milliseconds
    from collections.abc import Sequence

    from pipkit.core.config import Config
    from pipkit.env.answers import Chunk


class _Root:
    """The global options a fast answer may carry, and the command line after them."""

    __slots__ = ("installer", "python", "quiet", "rest")

    def __init__(self) -> None:
        self.python: str | None = None
        self.installer: str | None = None
        self.quiet = False
        self.rest: list[str] = []


def _root_options(argv: Sequence[str]) -> _Root | None:
    """``--python P``, ``--installer I`` and ``-q`` before the command (``=`` forms too);
    None for a form the full CLI must read (``-q=x``, an option missing its value)."""
    root = _Root()
    args = list(argv)
    while args and args[0].split("=", 1)[0] in ("--python", "--installer", "-q", "--quiet"):
        name, _, value = args[0].partition("=")
        if name in ("-q", "--quiet"):
            if value:
                return None
            root.quiet, args = True, args[1:]
            continue
        if not value:
            if len(args) < 2:
                return None
            value, args = args[1], args[1:]
        args = args[1:]
        if name == "--python":
            root.python = value
        else:
            root.installer = value
    root.rest = args
    return root


def answer(argv: Sequence[str]) -> int | None:
    """Answer ``[--python P] [-q] check [LOCK...] [--json]`` or ``[--python P] [-q] sync
    [LOCK...] --yes [--json]`` from the no-op cache before typer builds its command tree
    (~20 ms of a ~100 ms no-op); the exit code, or None for anything else or any miss: then
    the CLI runs as usual and reports whatever is wrong itself. Never changes anything.
    """
    # The installer engine does not change a no-op, a freeze or a list, so
    # `--installer uv check` is answered here too; -q is handed to render as the full CLI
    # hands it.
    root = _root_options(argv)
    if root is None or root.installer not in (None, "pip", "uv"):
        return None  # the full CLI says what is wrong with it
    python, quiet, args = root.python, root.quiet, root.rest
    try:
        settings = _settings()
    except Exception:  # a wrong configuration: the full CLI says what is wrong
        return None
    if settings is None:
        return None
    if quiet:
        from pipkit import render

        render.set_quiet(True)
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
        locks = locks or ([settings.lock] if settings.lock else [])
        files = locks or noop.default_paths(os.getcwd()) or []
        if not files or noop.pending(target):
            return None
        if command == "check":
            found, _stamp = noop.cached("check", target, files, settings.keep)
            if found is None:
                return None
            if not locks:
                render.default_lock_note(noop.default_names(os.getcwd()))
            report = noop.CachedCheck(found)
            return render.check_report(report, as_json=as_json, locks=files, prefix=target.prefix)
        if target.modification_refusal():
            return None
        found, _stamp = noop.cached("sync", target, files, settings.keep)
        if found is None:
            return None
        render.target_line(target)  # as the full path says it first
        return render.cached_sync(noop.CachedSync(found), as_json=as_json)
    except Exception:  # a fast path only: the full path reports any problem properly
        return None


def _settings() -> Config | None:
    """The configuration files' settings (:mod:`pipkit.env.config`, stdlib only: a walk up
    the folders and, only when a file may have pipkit's table, tomllib), or None when they
    carry a warning the full CLI prints (an unknown key)."""
    from pipkit.env.config import load

    settings = load()
    return None if settings.warnings else settings


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


class _Tee:
    """A text stream that writes through to ``stream`` and keeps a copy of each write, in order
    across stdout and stderr, for :func:`pipkit.env.answers.keep`."""

    def __init__(self, stream: object, number: int, chunks: list[Chunk]) -> None:
        self._stream = stream
        self._number = number
        self._chunks = chunks

    def write(self, text: str) -> int:
        self._chunks.append((self._number, text))
        return self._stream.write(text)  # type: ignore[attr-defined,no-any-return]

    def __getattr__(self, name: str) -> object:  # flush, isatty, fileno, encoding...
        return getattr(self._stream, name)


def _eligible(argv: Sequence[str]) -> tuple[str | None, str, list[str]] | None:
    """``(python, command, locks)`` for a command line whose answer may be kept, else None:
    the forms the fast path answers, behind ``--python``, ``--installer`` and ``-q``."""
    root = _root_options(argv)
    if root is None or not root.rest:
        return None
    python, args = root.python, root.rest
    command, rest = args[0], args[1:]
    flags = {a for a in rest if a.startswith("-")}
    plain = [a for a in rest if not a.startswith("-")]
    allowed = {
        "check": {"--json"},
        "sync": {"--json", "--yes", "-y"},
        "freeze": {"--exclude-editable", "--all"},
        "list": {"--json"},
    }.get(command)
    if allowed is None or not flags <= allowed:
        return None
    if command == "sync" and not flags & {"--yes", "-y"}:
        return None
    if command in ("freeze", "list") and plain:
        return None
    return python, command, plain


def _full(argv: Sequence[str]) -> int:
    """A fast answer (:func:`answer`), else the full CLI; the exit code either way."""
    code = answer(argv)
    if code is not None:
        return code
    from pipkit.cli import main as full

    try:
        full()
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        raise
    return 0


def _recorded(argv: Sequence[str]) -> int:
    """Run the command; keep its answer when it may be replayed (:mod:`pipkit.env.answers`)."""
    from pipkit.env import answers

    wanted = _eligible(argv)
    if wanted is None or os.environ.get("PIPKIT_NO_CACHE"):
        return _full(argv)
    try:
        python, command, locks = wanted
        deps = answers.deps_for(python, command, locks, changing=command == "sync")
        if deps is None:
            return _full(argv)
        key, before = answers.key(argv), answers.stamp(deps)
    except Exception:  # whatever is wrong, the full CLI says it
        return _full(argv)
    chunks: list[Chunk] = []
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Tee(out, 1, chunks), _Tee(err, 2, chunks)
    try:
        code = _full(argv)
    finally:
        sys.stdout, sys.stderr = out, err
    answers.keep(key, deps, before, chunks, code)
    return code


def main() -> None:
    """Console-script entry point: a kept answer, a fast answer, else the full CLI."""
    try:
        argv = sys.argv[1:]
        if os.environ.get("PIPKIT_NO_FASTPATH"):
            from pipkit.cli import main as full

            full()
            return
        from pipkit.env import answers

        code = answers.replay(argv)
        if code is None:
            code = _recorded(argv)
        sys.exit(code)
    except KeyboardInterrupt:
        # Ctrl-C while pipkit is still importing or building its commands (nothing has
        # changed yet: an interrupt inside a command is answered by cli._Group.invoke): the
        # same line and exit code as an interrupt later on, not a traceback.
        sys.stderr.write("pipkit: interrupted\n")
        sys.exit(130)

"""pipkit's command line: thin typer commands.

Each command turns its options into one call into a use case (:mod:`pipkit.ops`), renders the
result through :mod:`pipkit.render` and returns an exit code. This is the only module that
prompts, and with :mod:`pipkit.fastpath` the only caller of render. Domain errors
(:class:`pipkit.errors.PipkitError`) become one line on stderr and their exit code in one
place, :class:`_Group`; library warnings arrive through ``logging`` and are shown the same way.
Everything but typer is imported inside the commands, so ``pipkit --help`` costs little more
than typer.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

if TYPE_CHECKING:
    from pipkit.core.config import Config
    from pipkit.env.target import Target
    from pipkit.ops.save import SaveHooks
    from pipkit.ops.sync import SyncResult


PIP_ARGS = "pipkit.pip_args"


def pip_args(ctx: typer.Context) -> list[str]:
    """The arguments given after `--`, handed on to pip as they are."""
    return list(ctx.meta.get(PIP_ARGS, []))


class _Group(TyperGroup):
    """Turns pipkit's errors into one line and an exit code, never a traceback."""

    def invoke(self, ctx: Any) -> Any:
        from pipkit.errors import PipkitError

        try:
            return super().invoke(ctx)
        except PipkitError as exc:
            root = ctx.find_root().obj
            if exc.verbose_detail and isinstance(root, State) and root.verbose:  # under -v
                typer.echo(exc.verbose_detail.rstrip("\n"), err=True)
            if exc.detail:  # what a tool said (pip's captured output), then the one line
                typer.echo(exc.detail.rstrip("\n"), err=True)
            typer.echo(f"pipkit: error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt as exc:
            # Raised only once a change was undone, or (with its reason) once it was kept past
            # the point of no return (pipkit.env.transaction.KEPT): say which, exit 130.
            typer.echo(
                f"pipkit: interrupted: {exc}" if str(exc) else "pipkit: interrupted", err=True
            )
            raise typer.Exit(130) from None

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if ctx.parent is None:
            ctx.meta[ARGV] = list(args)  # the whole command line, for the history
        # Everything after `--` belongs to pip, untouched: keep it away from click, which
        # would otherwise feed it to a command's variadic argument.
        if "--" in args:
            cut = args.index("--")
            ctx.meta[PIP_ARGS] = args[cut + 1 :]
            args = args[:cut]
        return list(super().parse_args(ctx, args))

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)  # in the order they are defined, not alphabetical

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        return _resolve(self, ctx, args)

    def main(  # type: ignore[override]
        self,
        args: list[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        # Usage errors as one line, like every other pipkit error: click's own standalone
        # handling (typer's rich box) is replaced by ours.
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, **extra)
        argv = list(sys.argv[1:] if args is None else args)
        from typer._click import exceptions as click  # typer's own copy of click

        try:
            code = super().main(args, prog_name, complete_var, False, **extra)
        except click.NoArgsIsHelpError as exc:  # bare `pipkit`: the help (rich printed it)
            if exc.format_message().strip():
                exc.show()
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            typer.echo(f"pipkit: error: {usage_line(exc, argv)}", err=True)
            sys.exit(exc.exit_code)
        except typer.Abort:
            typer.echo("pipkit: interrupted", err=True)
            sys.exit(130)
        sys.exit(code if isinstance(code, int) else 0)


# -- usage errors: one line, as the rest of pipkit's errors ----------------------------------

# The commands whose extra options go to pip after `--`.
_PIP_COMMANDS = frozenset({"install", "upgrade"})


def _resolve(group: TyperGroup, ctx: Any, args: list[str]) -> Any:
    """A group's command lookup with one edit-distance suggestion instead of click's list."""
    from typer._click import exceptions as click

    from pipkit.core.suggest import closest

    name = args[0] if args else ""
    if args and not name.startswith("-") and group.get_command(ctx, name) is None:
        guess = closest(name, group.list_commands(ctx))
        hint = f" (did you mean {guess}?)" if guess else f" (see {ctx.command_path} --help)"
        raise click.UsageError(f"no such command {name}{hint}", ctx)
    return TyperGroup.resolve_command(group, ctx, args)


def usage_line(exc: Any, argv: list[str]) -> str:
    """click's usage error as one line: what was wrong, for which command, what to type."""
    from typer._click import exceptions as click

    ctx = getattr(exc, "ctx", None)
    command = " ".join(ctx.command_path.split()[1:]) if ctx is not None else ""
    if isinstance(exc, click.NoSuchOption):
        line = f"no such option {exc.option_name}" + (f" for {command}" if command else "")
        guesses = sorted(exc.possibilities or ())
        if guesses:
            from pipkit.core.suggest import closest

            guess = closest(exc.option_name, guesses) or guesses[0]
            return f"{line} (did you mean {guess}?)"
        if command in _PIP_COMMANDS:
            import shlex

            rest = [a for a in argv if a != exc.option_name]
            cut = rest.index("--") if "--" in rest else len(rest)
            fixed = ["pipkit", *rest[:cut], "--", *rest[cut + 1 :], exc.option_name]
            return f"{line} (pip's options go after --: {shlex.join(fixed)})"
        return line
    message = str(exc.format_message()).rstrip(".")
    message = message[:1].lower() + message[1:]
    if isinstance(exc, click.MissingParameter | click.BadParameter) and command:
        return f"{command}: {message}"
    return message


def _resolve_subgroup() -> type[TyperGroup]:
    """The class for sub-apps (history): the same one-suggestion command lookup."""

    class _SubGroup(TyperGroup):
        def resolve_command(self, ctx: Any, args: list[str]) -> Any:
            return _resolve(self, ctx, args)

        def list_commands(self, ctx: Any) -> list[str]:
            return list(self.commands)

    return _SubGroup


app = typer.Typer(
    name="pipkit",
    cls=_Group,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="Keep Python environments exactly in line with their lock files, safely and fast.\n\n"
    "Example: pipkit lock && pipkit check && pipkit sync --yes",
)


def _no_config() -> Config:
    from pipkit.core.config import Config

    return Config()


@dataclass
class State:
    """What the global options chose; the target is resolved on first use."""

    python: str | None = None
    quiet: bool = False
    verbose: int = 0
    installer: str = "pip"  # the engine of every install step: pip or uv
    config: Config = field(default_factory=_no_config)
    _target: Target | None = field(default=None, repr=False)

    def target(self, *, changing: bool = False) -> Target:
        """The target; ``changing``: refuse when no environment was named or found, and say
        ``target: PATH`` first. A read-only command without one reads pipkit's own
        interpreter, and says so."""
        if self._target is None:
            from pipkit import render
            from pipkit.env.target import FALLBACK, resolve_target

            self._target = resolve_target(self.python, changing=changing)
            if changing:
                render.target_line(self._target)
                if self.verbose:  # pip's output streams straight to the terminal: say it now
                    render.say_target()
            elif self._target.origin == FALLBACK:
                render.fallback_note(self._target)
        return self._target


def _state(ctx: typer.Context) -> State:
    state = ctx.find_root().obj
    assert isinstance(state, State)
    return state


def _version(value: bool) -> None:
    if value:
        from pipkit import __version__

        typer.echo(f"pipkit {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    ctx: typer.Context,
    python: Annotated[
        str | None,
        typer.Option(
            "--python",
            metavar="PATH",
            help="Target interpreter or venv folder "
            "(default: $PIPKIT_PYTHON, $VIRTUAL_ENV, .venv here or in a parent folder).",
        ),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print errors only (and asked-for data).")
    ] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="Show pip's own output in full.")
    ] = 0,
    no_history: Annotated[
        bool,
        typer.Option(
            "--no-history",
            help="Change without recording it in the history (when the history is locked).",
        ),
    ] = False,
    installer: Annotated[
        str | None,
        typer.Option(
            "--installer",
            metavar="pip|uv",
            help="What runs each install step inside pipkit's transaction "
            "(default: $PIPKIT_INSTALLER, else pip; uv: pip install 'pipkit\\[uv]').",
        ),
    ] = None,
) -> None:
    """pipkit: pip, pip-tools and a safety net in one tool, for any target interpreter."""
    from pipkit import render
    from pipkit.env.config import activate
    from pipkit.env.installer import choose

    if no_history:  # read by the transaction (pipkit.env.transaction.history_wanted)
        os.environ["PIPKIT_NO_HISTORY"] = "1"

    render.show_library_warnings()
    render.set_quiet(quiet)
    render.forget_target()
    settings = _configuration()
    activate(settings)
    ctx.obj = State(
        python=python,
        quiet=quiet,
        verbose=verbose,
        installer=choose(installer, os.environ, settings.installer),
        config=settings,
    )


# -- configuration: [tool.pipkit] in pyproject.toml, the user file -----------------------------


def _configuration() -> Config:
    """The configuration files, checked: a wrong value raises (one line, exit 2, before any
    command runs, so every command says the same); an unknown key is a warning."""
    from pipkit import render
    from pipkit.env.config import load

    settings = load()
    for line in settings.warnings:
        render.message(f"pipkit: warning: {line}")
    return settings


def _locks(state: State, locks: list[str] | None) -> list[str]:
    """The locks named, else the configured ``lock``, else none (the default names)."""
    if locks:
        return locks
    return [state.config.lock] if state.config.lock else []


def _keep(state: State, keep: list[str] | None) -> list[str]:
    """``--keep`` and the configured ``keep``, together (lists add up, as uv's do)."""
    names = list(keep or [])
    return names + [k for k in state.config.keep if k not in names]


def _installed_names(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion for uninstall/show/upgrade: the target's installed package names."""
    try:
        from pipkit.env.dists import installed
        from pipkit.env.target import resolve_target

        python = ctx.find_root().params.get("python")
        dists = installed(resolve_target(python).sys_path).values()
    except Exception:  # completion must never print a traceback into the user's shell
        return []
    # The shell keeps only words that start with what was typed, case and all: offer the
    # metadata's spelling, else the normalized one (pip takes either).
    names = (d.raw_name if d.raw_name.startswith(incomplete) else d.name for d in dists)
    return sorted(name for name in names if name.startswith(incomplete))


Json = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Print the plan, change nothing.")]
Exact = Annotated[
    bool,
    typer.Option("--exact", help="With --save: also remove what the lock does not list."),
]
BreakSystem = Annotated[
    bool,
    typer.Option(
        "--break-system-packages",
        help="Allow changing an interpreter that is not a venv or is externally managed.",
    ),
]


ARGV = "pipkit.argv"


def command_line(ctx: typer.Context | None = None) -> str:
    """The user's whole command line, as the history records it (``pipkit install --save
    idna``): the arguments the root command was given, else ``sys.argv``."""
    import shlex

    args = ctx.find_root().meta.get(ARGV) if ctx is not None else None
    return shlex.join(["pipkit", *(sys.argv[1:] if args is None else args)])


def _terminal() -> bool:
    """Whether a person can answer a question (stdin is a terminal); a test seam."""
    return sys.stdin.isatty()


def _confirmer(yes: bool) -> Callable[[str], bool]:
    """The one prompt rule of every changing command: ``--yes`` answers yes; without a
    terminal pipkit refuses at once (exit 2, nothing changed); Enter or y is yes, n or EOF
    is no (the command then says "nothing changed", exit 1); Ctrl-C exits 130."""

    def ask(question: str) -> bool:
        if yes:
            return True
        from pipkit.errors import UsageError

        if not _terminal():
            raise UsageError("no terminal to confirm: pass --yes")
        from pipkit import render

        render.say_target()  # where it acts, before asking
        try:  # the question inside too: Ctrl-C may come the moment it is shown
            sys.stderr.write(f"{question} [Y/n]: ")
            sys.stderr.flush()
            answer = sys.stdin.readline()
        except KeyboardInterrupt:
            sys.stderr.write("\npipkit: interrupted: nothing changed\n")
            raise typer.Exit(130) from None
        if not answer:  # EOF: nobody said yes
            sys.stderr.write("\n")
            return False
        return answer.strip().lower() in ("", "y", "yes")

    return ask


def _changing(state: State, dry_run: bool, break_system_packages: bool) -> Target:
    """The target of a changing command; a dry run may look at one it could not change."""
    return state.target(changing=True) if dry_run else _modifiable(state, break_system_packages)


def _no_blank(packages: list[str] | None) -> None:
    """``pipkit install ''`` names no package: a usage error, not pip's "Invalid requirement"."""
    from pipkit.errors import UsageError

    if any(not name.strip() for name in packages or ()):
        raise UsageError("empty package name: name a package, as in pipkit install requests")


def _modifiable(state: State, break_system_packages: bool) -> Target:
    from pipkit.errors import TargetError

    target = state.target(changing=True)
    refusal = target.modification_refusal()
    if refusal and not break_system_packages:
        raise TargetError(refusal)
    return target


# -- the pip family ---------------------------------------------------------------------------


@app.command()
def install(
    ctx: typer.Context,
    packages: Annotated[list[str] | None, typer.Argument(help="Requirements to install.")] = None,
    requirement: Annotated[
        list[str] | None,
        typer.Option(
            "--requirement", "-r", metavar="FILE", help="Install from a requirements file."
        ),
    ] = None,
    constraint: Annotated[
        list[str] | None,
        typer.Option("--constraint", "-c", metavar="FILE", help="Constrain versions with a file."),
    ] = None,
    editable: Annotated[
        list[str] | None,
        typer.Option(
            "--editable", "-e", metavar="PATH", help="Install a project in editable mode."
        ),
    ] = None,
    upgrade: Annotated[
        bool, typer.Option("--upgrade", "-U", help="Upgrade to the newest allowed.")
    ] = False,
    save: Annotated[
        bool, typer.Option("--save", help="Add to the lock inputs, relock, sync.")
    ] = False,
    exact: Exact = False,
    yes: Yes = False,
    dry_run: DryRun = False,
    break_system_packages: BreakSystem = False,
) -> None:
    """Install packages into the target (pip options go after `--`).

    Examples:

      pipkit install requests 'attrs>=23'

      pipkit install -r requirements.txt

      pipkit --python .venv install -e . -- --no-build-isolation

      pipkit install requests --dry-run
    """
    from pipkit import render
    from pipkit.ops import family

    _no_blank(packages)
    state = _state(ctx)
    target = _changing(state, dry_run and not save, break_system_packages)
    if save:
        from pipkit.ops import save as saving

        saved = saving.install_save(
            target,
            packages or [],
            extra=pip_args(ctx),
            command=command_line(ctx),
            hooks=_hooks(target, yes, verbose=state.verbose),
            exact=exact,
            installer=_state(ctx).installer,
        )
        raise typer.Exit(render.saved(saved))
    result = family.install(
        target,
        packages or [],
        requirements=requirement or [],
        constraints=constraint or [],
        editables=editable or [],
        upgrade=upgrade,
        extra=pip_args(ctx),
        command=command_line(ctx),
        dry_run=dry_run,
        capture_pip=not state.verbose,
        installer=_state(ctx).installer,
        progress=render.install_bar(),
    )
    raise typer.Exit(render.change_result(result))


@app.command()
def uninstall(
    ctx: typer.Context,
    packages: Annotated[
        list[str], typer.Argument(help="Packages to remove.", autocompletion=_installed_names)
    ],
    yes: Yes = False,
    force: Annotated[
        bool, typer.Option("--force", help="Also remove pip, or pipkit and its dependencies.")
    ] = False,
    save: Annotated[
        bool, typer.Option("--save", help="Remove from the lock inputs, relock, sync.")
    ] = False,
    exact: Exact = False,
    dry_run: DryRun = False,
    break_system_packages: BreakSystem = False,
) -> None:
    """Remove packages from the target.

    pip, and pipkit with its dependencies when pipkit runs inside the target, are never
    removed without --force.

    Examples: pipkit uninstall requests --yes; pipkit uninstall requests --dry-run
    """
    from pipkit import render
    from pipkit.ops import family

    _no_blank(packages)
    state = _state(ctx)
    target = _changing(state, dry_run and not save, break_system_packages)
    if save:
        from pipkit.ops import save as saving

        saved = saving.uninstall_save(
            target,
            packages,
            command=command_line(ctx),
            hooks=_hooks(target, yes, verbose=state.verbose),
            exact=exact,
            installer=_state(ctx).installer,
        )
        raise typer.Exit(render.saved(saved))
    result = family.uninstall(
        target,
        packages,
        yes=yes,
        force=force,
        confirm=_confirmer(yes),
        command=command_line(ctx),
        dry_run=dry_run,
    )
    raise typer.Exit(render.change_result(result))


@app.command()
def upgrade(
    ctx: typer.Context,
    packages: Annotated[
        list[str] | None,
        typer.Argument(help="Packages to upgrade.", autocompletion=_installed_names),
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Upgrade every package nothing else requires.")
    ] = False,
    yes: Yes = False,
    dry_run: DryRun = False,
    break_system_packages: BreakSystem = False,
) -> None:
    """Upgrade packages to their newest versions (one pip call; --all asks first).

    Examples: pipkit upgrade requests; pipkit upgrade --all --dry-run; pipkit upgrade --all -y
    """
    from pipkit import render
    from pipkit.ops import family

    state = _state(ctx)
    target = _changing(state, dry_run, break_system_packages)
    result = family.upgrade(
        target,
        packages or [],
        all_=all_,
        extra=pip_args(ctx),
        command=command_line(ctx),
        confirm=_confirmer(yes),
        dry_run=dry_run,
        capture_pip=not state.verbose,
        installer=state.installer,
        progress=render.install_bar(),
    )
    raise typer.Exit(render.change_result(result))


@app.command("list")
def list_(
    ctx: typer.Context,
    json_: Json = False,
    outdated: Annotated[
        bool, typer.Option("--outdated", help="Only packages with a newer version on the index.")
    ] = False,
    not_required: Annotated[
        bool, typer.Option("--not-required", help="Only packages no other package requires.")
    ] = False,
) -> None:
    """List installed packages (a table, or --json).

    Examples: pipkit list; pipkit list --outdated --json
    """
    from pipkit import render
    from pipkit.ops import family

    rows = family.list_packages(_state(ctx).target(), outdated=outdated, top_level=not_required)
    render.package_list(rows, as_json=json_, outdated=outdated)


@app.command()
def show(
    ctx: typer.Context,
    packages: Annotated[
        list[str], typer.Argument(help="Packages to describe.", autocompletion=_installed_names)
    ],
    json_: Json = False,
    files: Annotated[bool, typer.Option("--files", "-f", help="List installed files.")] = False,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Also classifiers, entry points, URLs (as pip)."),
    ] = False,
) -> None:
    """Show installed packages' details (exit 1 if one is not installed).

    Example: pipkit show requests --json
    """
    from pipkit import render
    from pipkit.ops import family

    target = _state(ctx).target()
    infos, missing = family.show(target, packages, files=files)
    pip = family.pip_version(target)
    raise typer.Exit(
        render.show(infos, missing, as_json=json_, verbose=verbose, files=files, pip_version=pip)
    )


@app.command()
def freeze(
    ctx: typer.Context,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write to FILE (atomically)."),
    ] = None,
    exclude_editable: Annotated[
        bool, typer.Option("--exclude-editable", help="Leave editable installs out.")
    ] = False,
    all_: Annotated[
        bool, typer.Option("--all", help="Include pip (and setuptools, wheel before 3.12).")
    ] = False,
) -> None:
    """Print installed packages in requirements format, byte for byte as `pip freeze`.

    Examples: pipkit freeze; pipkit freeze -o requirements.txt
    """
    from pipkit.ops import family

    text = family.freeze(_state(ctx).target(), exclude_editable=exclude_editable, all_=all_)
    if output:
        from pipkit.fsutil import atomic_write_text

        atomic_write_text(output, text)
    else:
        sys.stdout.write(text)


@app.command()
def search(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The project name to look up.")],
    json_: Json = False,
) -> None:
    """Look a project up on pip's configured indexes: versions, installed, similar names.

    Uses the Simple API of the index-url, extra-index-urls and find-links pip would use
    (pip.conf files, PIP_* variables). Exit 1 if no index has the project or none answers.

    Examples: pipkit search requests; pipkit search requests --json
    """
    from pipkit import render
    from pipkit.ops.search import search_target

    result = search_target(_state(ctx).target(), name)
    render.search_result(result, as_json=json_)
    if not result.found:
        raise result.not_found_error()


# -- the environment against its lock ----------------------------------------------------------

Locks = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="[LOCK]...",
        help="Lock file(s): requirements files or one pylock.toml "
        "(default: requirements.txt, else pylock.toml).",
        show_default=False,
    ),
]
Keep = Annotated[
    list[str] | None,
    typer.Option("--keep", metavar="PKG", help="Never remove PKG (repeatable)."),
]


@app.command()
def check(ctx: typer.Context, locks: Locks = None, json_: Json = False, keep: Keep = None) -> None:
    """Compare the target with its lock: missing, extra, changed, broken requirements.

    Exit 0 in sync, 1 on drift, 2 on bad input. Lint problems of the lock (unpinned entries,
    partial hashes, double pins) are warnings here and refusals in `sync`.

    Examples: pipkit check; pipkit check requirements.txt --json
    """
    import os

    from pipkit import render
    from pipkit.ops import noop

    state = _state(ctx)
    target = state.target()
    locks = _locks(state, locks)
    if not locks:
        render.default_lock_note(noop.default_names(os.getcwd()))
    report = noop.check_lock(target, locks, keep=_keep(state, keep))
    files = locks or noop.default_paths(os.getcwd()) or []
    code = render.check_report(report, as_json=json_, locks=files, prefix=target.prefix)
    raise typer.Exit(code)


@app.command("sync")
def sync_(
    ctx: typer.Context,
    locks: Locks = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan, change nothing.")
    ] = False,
    yes: Yes = False,
    json_: Json = False,
    keep: Keep = None,
    allow_empty: Annotated[
        bool,
        typer.Option("--allow-empty", help="Allow a lock with no packages (removes them all)."),
    ] = False,
    break_system_packages: BreakSystem = False,
) -> None:
    """Make the target exactly its lock, all or nothing.

    Installs what is missing or changed with ONE `pip install --no-deps` (uv's with
    --installer uv; --require-hashes when the lock has hashes), removes what the lock does
    not list (never pip, setuptools, wheel, nor pipkit and its dependencies when pipkit runs
    inside the target). Any failure, or Ctrl-C, leaves the environment exactly as it was;
    after a crash, `pipkit recover` finishes or undoes the change.

    Examples: pipkit sync --dry-run; pipkit sync requirements.txt --yes
    """
    from pipkit import render
    from pipkit.ops import noop

    state = _state(ctx)
    target = state.target(changing=True) if dry_run else _modifiable(state, break_system_packages)
    ask = _confirmer(yes)

    def confirm(pending: SyncResult) -> bool:
        plan = render.sync_plan(pending.plan, lock_path=pending.lock_path, prefix=target.prefix)
        render.message(plan)
        return ask("Apply these changes?")

    result = noop.sync_lock(
        target,
        _locks(state, locks),
        keep=_keep(state, keep),
        dry_run=dry_run,
        yes=False,  # the plan is shown even with --yes: confirm says it, then `ask` answers
        allow_empty=allow_empty,
        capture_pip=json_ or not state.verbose,
        command=command_line(ctx),
        confirm=confirm,
        on_notes=render.notes,
        installer=state.installer,
        progress=render.install_bar(as_json=json_),
    )
    if isinstance(result, noop.CachedSync):
        raise typer.Exit(render.cached_sync(result, as_json=json_))
    raise typer.Exit(render.sync_result(result, prefix=target.prefix, as_json=json_))


@app.command()
def recover(
    ctx: typer.Context, yes: Yes = False, break_system_packages: BreakSystem = False
) -> None:
    """Finish or undo a sync/install that was killed half-way (from its journal).

    If pip had finished and the environment matches the plan, the change is completed;
    otherwise the environment is put back exactly as it was before.

    Example: pipkit recover --yes
    """
    from pipkit import render
    from pipkit.ops import sync

    target = _modifiable(_state(ctx), break_system_packages)
    result = sync.recover(target, yes=yes, confirm=_confirmer(yes))
    raise typer.Exit(render.recover_result(result))


@app.command()
def lock(
    ctx: typer.Context,
    inputs: Annotated[
        list[str] | None,
        typer.Argument(help="requirements.in files or one pyproject.toml (default: found here)."),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "--output", "-o", metavar="FILE", help="The lock to write (default requirements.txt)."
        ),
    ] = None,
    upgrade: Annotated[
        bool, typer.Option("--upgrade", "-U", help="Ignore the existing pins: newest allowed.")
    ] = False,
    upgrade_package: Annotated[
        list[str] | None,
        typer.Option("--upgrade-package", "-P", metavar="PKG", help="Upgrade only PKG."),
    ] = None,
    no_hashes: Annotated[
        bool, typer.Option("--no-hashes", help="Leave out the hashes (and pip/setuptools).")
    ] = False,
    format_: Annotated[
        str | None,
        typer.Option(
            "--format", metavar="FORMAT", help="requirements or pylock (default: from -o)."
        ),
    ] = None,
    extra: Annotated[
        list[str] | None,
        typer.Option("--extra", metavar="NAME", help="Include a pyproject optional group."),
    ] = None,
    all_extras: Annotated[
        bool, typer.Option("--all-extras", help="Include every pyproject optional group.")
    ] = False,
    check_: Annotated[
        bool,
        typer.Option("--check", help="Exit 1 if the lock no longer matches its inputs (offline)."),
    ] = False,
    resolver: Annotated[
        str | None,
        typer.Option(
            "--resolver", metavar="NAME", help="pip-tools (default) or uv (uv pip compile)."
        ),
    ] = None,
) -> None:
    """Resolve requirements.in (or pyproject.toml dependencies) into a hashed lock.

    Resolution is pip-tools' (or uv's, with --resolver uv); the lock's header says how to
    remake it and fingerprints the inputs, so `--check` tells offline whether it is stale. The
    machine's pip.conf index settings are used but never written; index options in the inputs
    are kept.

    Examples: pipkit lock; pipkit lock pyproject.toml --extra dev -o requirements-dev.txt;
    pipkit lock --format pylock; pipkit lock --resolver uv; pipkit lock --check
    """
    from pipkit import render
    from pipkit.errors import UsageError
    from pipkit.ops import lock as locking

    spec = locking.LockSpec(
        inputs=tuple(inputs or ()),
        output=output,
        format=format_,
        upgrade=upgrade,
        upgrade_packages=tuple(upgrade_package or ()),
        hashes=False if no_hashes else None,
        extras=tuple(extra) if extra else None,
        all_extras=True if all_extras else None,
        resolver=resolver,
    )
    if check_:
        if upgrade or upgrade_package:
            raise UsageError("--check reads the lock: it cannot be combined with --upgrade")
        path, reasons = locking.stale(spec, environment=_state(ctx).target().marker_env)
        raise typer.Exit(render.lock_check(path, reasons))
    render.lock_written(locking.lock(_state(ctx).target(), spec, progress=render.spinner))


# -- questions about the environment: tree, why, doctor, diff ---------------------------------


@app.command()
def tree(
    ctx: typer.Context,
    packages: Annotated[
        list[str] | None, typer.Argument(metavar="[PKG]...", help="Start from these packages.")
    ] = None,
    reverse: Annotated[
        bool, typer.Option("--reverse", "-r", help="Show what requires each package instead.")
    ] = False,
    depth: Annotated[
        int | None, typer.Option("--depth", "-d", metavar="N", min=0, help="Stop N levels down.")
    ] = None,
    json_: Json = False,
) -> None:
    """The installed dependency tree: each requirement's specifier and installed version.

    Markers are evaluated for the target and extras followed (pipdeptree's edges); a cycle
    is shown once, missing and conflicting requirements are marked. Exit 1 when the tree
    shows one of those, 2 when a PKG is not installed.

    Examples: pipkit tree; pipkit tree requests --depth 1; pipkit tree --reverse idna --json
    """
    from pipkit import render
    from pipkit.ops import tree as trees

    result = trees.tree(_state(ctx).target(), packages or [], reverse=reverse, depth=depth)
    raise typer.Exit(render.tree_result(result, as_json=json_))


@app.command()
def why(
    ctx: typer.Context,
    package: Annotated[str, typer.Argument(metavar="PKG", help="The package to explain.")],
    lock_file: Annotated[
        str | None,
        typer.Option(
            "--lock",
            metavar="FILE",
            help="Start from this lock's inputs (default: requirements.txt, else pylock.toml "
            "here, if any).",
        ),
    ] = None,
    json_: Json = False,
) -> None:
    """Why PKG is installed: every chain down to it, shortest first.

    Chains start at the lock's inputs (requirements.in or pyproject.toml) when a lock is
    given or found here, else at the top-level packages. Exit 0 when PKG is installed,
    1 when it is not (or only the lock has it: then the chains of the lock's own graph,
    its `# via` lines or a pylock's dependencies).

    Examples: pipkit why idna; pipkit why urllib3 --lock requirements.txt --json
    """
    from pipkit import render
    from pipkit.ops import tree as trees

    result = trees.why(_state(ctx).target(), package, lock=lock_file)
    raise typer.Exit(render.why_result(result, as_json=json_))


@app.command()
def doctor(ctx: typer.Context, json_: Json = False) -> None:
    """The environment's health without a lock, each finding with its fix.

    Problems (exit 1): requirements not met (`pip check`'s lines), several metadata
    folders for one project, a .dist-info without RECORD, a console script whose file is
    gone, a pending pipkit journal. Notes (exit 0): .pth files that run code, packages
    shadowed by the user site or PYTHONPATH, an externally managed target, an old pip.

    Examples: pipkit doctor; pipkit --python .venv doctor --json
    """
    from pipkit import render
    from pipkit.ops import doctor as doctors

    raise typer.Exit(render.doctor_result(doctors.doctor(_state(ctx).target()), as_json=json_))


@app.command()
def diff(
    ctx: typer.Context,
    a: Annotated[
        str, typer.Argument(metavar="A", help="A lock file, a history entry @ID, or env.")
    ],
    b: Annotated[
        str, typer.Argument(metavar="B", help="A lock file, a history entry @ID, or env.")
    ],
    json_: Json = False,
) -> None:
    """What changed from A to B: added, removed, changed (major/minor/patch), hashes, markers.

    A and B are each a lock file (requirements or pylock.toml), a history entry (`@3`: the
    environment right after entry 3) or `env` (the target now). `diff LOCK env` finds what
    `check` finds. Exit 0 when they are the same, 1 when they differ.

    Examples: pipkit diff old/requirements.txt requirements.txt; pipkit diff @3 @7;
    pipkit diff requirements.txt env --json
    """
    from pipkit import render
    from pipkit.ops import diff as diffs

    result = diffs.diff(_state(ctx).target(), a, b)
    raise typer.Exit(render.diff_result(result, as_json=json_))


# -- convert (issue 14) ----------------------------------------------------------------------


@app.command()
def convert(
    ctx: typer.Context,
    lock: Annotated[
        str, typer.Argument(metavar="LOCK", help="A requirements lock or a pylock.toml.")
    ],
    output: Annotated[
        str,
        typer.Option(
            "-o", "--output", metavar="OUT", help="The lock to write, in the other format."
        ),
    ],
    json_: Json = False,
) -> None:
    """A requirements lock with pins and hashes to a pylock.toml, or back, without resolving.

    The formats come from the names (pylock.toml, pylock.NAME.toml). Each pin's files are
    looked up on the configured indexes by their hashes; a line the other format cannot say
    (unpinned, no hashes, a VCS ref without a commit) is refused with its FILE:LINE (exit 2).

    Examples: pipkit convert requirements.txt -o pylock.toml;
    pipkit convert pylock.toml -o requirements.txt
    """
    from pipkit import render
    from pipkit.ops import convert as converts

    result = converts.convert(_state(ctx).target(), lock, output)
    raise typer.Exit(render.convert_result(result, as_json=json_))


# -- outdated, init (issue 14) ---------------------------------------------------------------


@app.command()
def outdated(
    ctx: typer.Context,
    lock_file: Annotated[
        str | None,
        typer.Argument(
            metavar="[LOCK]",
            help="A lock file (default: [tool.pipkit] lock, else requirements.txt, else "
            "pylock.toml).",
            show_default=False,
        ),
    ] = None,
    pre: Annotated[bool, typer.Option("--pre", help="Count pre-releases too.")] = False,
    json_: Json = False,
) -> None:
    """The lock's pins that have newer releases the target can install.

    Asks the configured indexes once per project (Requires-Python honoured, yanked files
    skipped, pre-releases only with --pre or for a pre-release pin) and says whether the
    lock's inputs allow each (so `pipkit lock -P NAME` would take it). Exit 0 when nothing
    is outdated, 1 when something is, 2 on bad input.

    Examples: pipkit outdated; pipkit outdated pylock.toml --pre --json
    """
    from pipkit import render
    from pipkit.ops import outdated as outdate

    state = _state(ctx)
    target = state.target()
    chosen = _locks(state, [lock_file] if lock_file else None)  # as check takes it
    with render.progress_bar("Asking the indexes") as progress:
        result = outdate.outdated(target, chosen[0] if chosen else None, pre=pre, progress=progress)
    raise typer.Exit(render.outdated_result(result, as_json=json_))


@app.command()
def init(
    ctx: typer.Context,
    packages: Annotated[
        list[str] | None,
        typer.Argument(metavar="[PKG]...", help="Requirements for a new requirements.in."),
    ] = None,
    python: Annotated[
        str | None,
        typer.Option(
            "--python",
            metavar="PY",
            help="Interpreter for the new .venv (default: the one running pipkit).",
        ),
    ] = None,
    json_: Json = False,
) -> None:
    """A new project here in one command: .venv, requirements.in, its lock, synced.

    Creates .venv (stdlib venv; `uv venv` with --installer uv), writes requirements.in
    with PKG... when it is missing, locks it into requirements.txt and syncs .venv with it,
    then prints the next steps. Refuses to overwrite anything (exit 2); a failed step or
    Ctrl-C removes everything init made.

    Examples: pipkit init requests 'rich>=13'; pipkit init --python python3.12
    """
    from pipkit import render
    from pipkit.errors import UsageError
    from pipkit.ops import init as inits

    if _state(ctx).python is not None:  # the target is the .venv init makes
        raise UsageError("init makes its own .venv: choose its interpreter with init --python PY")
    result = inits.init(
        python=python,
        packages=packages or [],
        installer=_state(ctx).installer,
        progress=render.spinner,
    )
    raise typer.Exit(render.init_result(result, as_json=json_))


# -- the live self-test -----------------------------------------------------------------------


@app.command()
def demo(
    ctx: typer.Context,
    yes: Yes = False,
    serve: Annotated[
        bool,
        typer.Option("--serve", help="Keep both servers running after the test, until Ctrl-C."),
    ] = False,
    json_: Json = False,
    port_threaded: Annotated[
        int,
        typer.Option(
            "--port-threaded", metavar="N", min=0, max=65535, help="Threaded server port (0: any)."
        ),
    ] = 0,
    port_coroutine: Annotated[
        int,
        typer.Option(
            "--port-coroutine", metavar="N", min=0, max=65535, help="gevent server port (0: any)."
        ),
    ] = 0,
    break_system_packages: BreakSystem = False,
) -> None:
    """Prove the target works: install gevent, run pipkit's two HTTP servers, load them.

    Installs greenlet and gevent if missing (asking first unless --yes), starts the
    threaded and the gevent server under the target interpreter on 127.0.0.1, checks pages,
    JSON, an echo round trip, 50 concurrent slow requests, a burst of 300 requests and
    gevent's patching from inside, then prints the results. Exit 0 only if all passed.

    Examples: pipkit demo --yes; pipkit --python .venv demo --serve --port-threaded 8001
    """
    from pipkit import render
    from pipkit.ops.demo import run

    report = run(
        _state(ctx).target(changing=True),
        yes=yes,
        serve=serve,
        ports={"threaded": port_threaded, "coroutine": port_coroutine},
        break_system_packages=break_system_packages,
        confirm=_confirmer(yes),
        log=render.message,
        show=lambda result: render.demo_report(result, as_json=json_),
        quiet_stdout=json_,
        command=command_line(ctx),
        installer=_state(ctx).installer,
    )
    raise typer.Exit(0 if report.ok else 1)


# -- the live dashboard (issue 13) ------------------------------------------------------------


@app.command()
def ui(
    ctx: typer.Context,
    port: Annotated[
        int, typer.Option("--port", metavar="N", min=0, max=65535, help="Port (0: any free one).")
    ] = 0,
    open_: Annotated[
        bool, typer.Option("--open", help="Open the dashboard in the default browser.")
    ] = False,
    lock: Annotated[
        str | None,
        typer.Option("--lock", metavar="FILE", help="Lock to compare with (default: as check)."),
    ] = None,
) -> None:
    """Serve a live, read-only dashboard of the target on 127.0.0.1 until Ctrl-C.

    Shows the target, drift against the lock (with the command that fixes each package),
    the dependency graph and the history; it refreshes itself when the environment or the
    lock changes on disk. Installs nothing. Prints one line with the URL.

    Examples: pipkit ui --open; pipkit --python .venv ui --port 8765 --lock requirements.txt
    """
    from pipkit import render
    from pipkit.ops import ui as dashboard

    def ready(url: str) -> None:
        render.ui_ready(url)
        if open_:
            import webbrowser

            webbrowser.open(url)

    state = _state(ctx)
    result = dashboard.serve(
        state.target(), lock=lock, port=port, on_ready=ready, installer=state.installer
    )
    render.ui_stopped(result)


# -- history and rollback ---------------------------------------------------------------------

history_app = typer.Typer(
    name="history",
    cls=_resolve_subgroup(),
    no_args_is_help=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help="What pipkit changed in the target, entry by entry.\n\n"
    "Examples: pipkit history; pipkit history show 3; pipkit history prune --max-mb 100",
)
app.add_typer(history_app)


@history_app.callback(invoke_without_command=True)
def history(
    ctx: typer.Context,
    json_: Json = False,
    limit: Annotated[
        int | None,
        typer.Option("--limit", "-n", metavar="N", min=1, help="Only the last N entries."),
    ] = None,
) -> None:
    """Every change to the target, oldest first, with added / changed / removed counts.

    Changes made behind pipkit's back (plain pip) show up as "(outside pipkit)" entries.
    Subcommands: `show ID` for one entry's full diff, `prune` to shrink the wheel store.

    Examples: pipkit history; pipkit history --json --limit 5; pipkit history show 3
    """
    if ctx.invoked_subcommand is not None:
        return
    from pipkit import render
    from pipkit.ops import history as hist

    render.history_entries(hist.entries(_state(ctx).target(), limit=limit), as_json=json_)


@history_app.command("show")
def history_show(
    ctx: typer.Context,
    entry_id: Annotated[int, typer.Argument(metavar="ID", help="The entry to show.")],
    json_: Json = False,
) -> None:
    """One entry's full diff: what it added, changed and removed.

    Example: pipkit history show 3 --json
    """
    from pipkit import render
    from pipkit.ops import history as hist

    render.history_entry(hist.entry(_state(ctx).target(), entry_id), as_json=json_)


@history_app.command("prune")
def history_prune(
    ctx: typer.Context,
    max_mb: Annotated[
        float | None,
        typer.Option(
            "--max-mb",
            metavar="MB",
            min=0,
            help="Shrink the store to MB (default: $PIPKIT_STORE_MAX_MB, else 500).",
        ),
    ] = None,
    json_: Json = False,
) -> None:
    """Drop the oldest wheels kept for offline rollback until the store fits its cap.

    Example: pipkit history prune --max-mb 100
    """
    from pipkit import render
    from pipkit.ops import history as hist

    render.history_prune(hist.prune(_state(ctx).target(), max_mb=max_mb), as_json=json_)


@app.command()
def rollback(
    ctx: typer.Context,
    entry_id: Annotated[
        int | None,
        typer.Argument(metavar="[ID]", help="Go to the state right after this history entry."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan, change nothing.")
    ] = False,
    yes: Yes = False,
    force: Annotated[
        bool, typer.Option("--force", help="Go to a state even if it is itself broken.")
    ] = False,
    break_system_packages: BreakSystem = False,
) -> None:
    """Return the target to an earlier state from its history, all or nothing.

    With ID, the environment becomes exactly what it was right after that entry; without,
    the last entry is undone. Packages come from pipkit's wheel store first (no index
    needed), then the configured index; anything found nowhere is named before anything
    changes. A state that is itself broken (a missing dependency) is named with its chain and
    refused, by --dry-run too (exit 1), unless --force. The rollback is recorded too, so it
    can itself be undone.

    Examples: pipkit rollback --dry-run; pipkit rollback 3 --yes
    """
    from pipkit import render
    from pipkit.ops import rollback as rolling

    state = _state(ctx)
    target = state.target(changing=True) if dry_run else _modifiable(state, break_system_packages)
    result = rolling.rollback(
        target,
        entry_id,
        dry_run=dry_run,
        yes=yes,
        confirm=_confirmer(yes),
        command=command_line(ctx),
        show=lambda plan: render.rollback_plan(plan, dry_run=dry_run),
        force=force,
        installer=state.installer,
        capture_pip=not state.verbose,
        progress=render.install_bar(),
    )
    raise typer.Exit(render.rollback_result(result, dry_run=dry_run))


def _hooks(target: Target, yes: bool, *, verbose: int = 0) -> SaveHooks:
    """How ``--save`` shows its relock: a spinner, the line naming the lock written, then the
    sync's plan and the question, then the install's bar (pip's output captured unless -v)."""
    from pipkit import render
    from pipkit.ops.save import SaveHooks

    ask = _confirmer(yes)

    def confirm(pending: SyncResult) -> bool:
        render.message(
            render.sync_plan(pending.plan, lock_path=pending.lock_path, prefix=target.prefix)
        )
        return ask("Apply these changes?")

    return SaveHooks(
        progress=render.spinner,
        on_locked=render.lock_written,
        confirm=confirm,
        capture_pip=not verbose,
        install_progress=render.install_bar(),
    )


# The root options before a command name: those that take a value, and plain flags. A command
# line with anything else before its command builds every command (as it always may).
_ROOT_VALUES = ("--python", "--installer")
_ROOT_FLAGS = ("-q", "--quiet", "-v", "-vv", "-vvv", "--verbose", "--no-history")


def invoked_command(argv: list[str]) -> str | None:
    """The command a command line names, behind the root options, or None when unsure."""
    args = list(argv)
    while args and args[0].startswith("-"):
        option = args[0].split("=", 1)[0]
        if option in _ROOT_VALUES:
            args = args[1:] if "=" in args[0] else args[2:]
        elif args[0] in _ROOT_FLAGS:
            args = args[1:]
        else:
            return None
    return args[0] if args else None


def _build_only(name: str | None) -> None:
    """Register only the command ``name`` names (when it is one): typer turns every registered
    command into a click command on each run, ~0.2 s for pipkit's two dozen, and a command
    line runs one. Help, completion, and a name that is not a command build them all."""
    from typer.main import get_command_name

    if name is None or any(key.startswith("_PIPKIT_COMPLETE") for key in os.environ):
        return
    named = [
        info
        for info in app.registered_commands
        if (info.name or get_command_name(info.callback.__name__ if info.callback else "")) == name
    ]
    if named:
        app.registered_commands = named
        app.registered_groups = []
    else:
        groups = [
            g
            for g in app.registered_groups
            if g.typer_instance is not None and g.typer_instance.info.name == name
        ]
        if groups:
            app.registered_commands = []
            app.registered_groups = groups


def main() -> None:
    """The full CLI (the console script enters through :func:`pipkit.fastpath.main`)."""
    _build_only(invoked_command(sys.argv[1:]))
    app(prog_name="pipkit")

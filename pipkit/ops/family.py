"""The pip family as plain typed functions: install, uninstall, upgrade, list, show, freeze.

The CLI calls one of these and renders what it returns (:class:`ChangeResult`,
:class:`PackageRow`, :class:`ShowInfo`, freeze's text). Reading the environment goes
through ``pipkit.env.dists`` (never pip); every change goes through :func:`change`, the one
door through which pip modifies a target (so the mutex, the journal and the history see
every change). Never prints or prompts: confirmation comes in as a callback.

Imports pipkit.env, pipkit.core and pipkit.errors.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipkit.core.model import InstalledDist
from pipkit.core.names import canonicalize_name
from pipkit.env.target import Target
from pipkit.errors import OperationError, TargetError, UsageError

if TYPE_CHECKING:
    from packaging.utils import NormalizedName

    from pipkit.core.showfmt import ShowFields
    from pipkit.env.transaction import Session
    from pipkit.ops.progress import Reporter

Confirm = Callable[[str], bool]


@dataclass(frozen=True)
class ChangeResult:
    """What one change through pip did.

    ``installed``: (name, version) of what pip installed new; ``changed``: (name, old, new)
    of what it replaced; ``removed``: what was uninstalled; ``skipped``: names asked for but
    not installed; ``declined``: the user said no, nothing changed; ``dry_run``: only the plan,
    nothing changed; ``code``: the exit code (a pip run other than install/uninstall may fail).
    """

    installed: tuple[tuple[str, str | None], ...] = ()
    changed: tuple[tuple[str, str, str | None], ...] = ()
    dry_run: bool = False
    removed: tuple[InstalledDist, ...] = ()
    skipped: tuple[str, ...] = ()
    declined: bool = False
    code: int = 0
    already_satisfied: bool = False  # pip had nothing to install


def installed(target: Target) -> dict[NormalizedName, InstalledDist]:
    from pipkit.env.dists import installed as read

    return read(target.sys_path)


def _require_report(target: Target, doing: str) -> None:
    """Refuse, in one line and before pip runs, a target whose pip has no ``--dry-run
    --report`` (exit 2): the plan of an install is pip's report."""
    from pipkit.core.pipneeds import DRY_RUN_REPORT, too_old

    refusal = too_old(
        pip_version(target), DRY_RUN_REPORT, prefix=target.prefix, python=target.python, doing=doing
    )
    if refusal:
        raise TargetError(refusal)


def change(
    target: Target,
    pip_args: list[str],
    *,
    command: str,
    dry_run: bool = False,
    capture_pip: bool = True,
    installer: str = "pip",
    doing: str = "pipkit install",
    progress: Reporter | None = None,
) -> ChangeResult:
    """Run one modifying pip command on ``target``, all or nothing; 0 on success.

    ``progress`` is told the packages of an install as pip reaches them
    (:mod:`pipkit.ops.progress`; only when pip's output is captured).

    ``doing`` names the pipkit command in the refusal when the target's pip is too old for
    the plan (:mod:`pipkit.core.pipneeds`).

    Inside the environment lock and the history's recording, as one transaction
    (:mod:`pipkit.env.transaction`): ``install`` first asks pip what it would install
    (``--dry-run --report``), stashes the installed distributions it would replace, then runs
    the install for real through ``installer`` ("pip" or "uv": with uv the planning stays
    pip's dry run, whose report is the one exact answer to "what will this install", and only
    the install step is uv's: uv installs the same request with the same options, and the
    verification then checks that what was planned is what is there); ``uninstall`` stashes
    the named distributions (stashing *is* the removal). Any
    failure undoes the change and raises OperationError (exit 1); Ctrl-C undoes it and
    re-raises. ``command`` is the user's command line, for the history. ``dry_run``: only
    what pip would install (its report), no lock taken, nothing changed. ``capture_pip``:
    pip's output is kept and shown only when it fails (else it streams).
    """
    from pipkit.env import proc, transaction

    subcommand = pip_args[0] if pip_args else ""
    if subcommand == "install":  # planned with pip's --dry-run --report: a new enough pip
        _require_report(target, doing)
    if dry_run and subcommand == "install":
        return _install_plan(target, _pip_report(target, pip_args), dry_run=True)
    with transaction.session(target, command) as sess:
        if subcommand == "uninstall":
            return _uninstall_transaction(sess, pip_args[1:])
        if subcommand == "install":
            return _install_transaction(
                sess, pip_args, capture_pip=capture_pip, installer=installer, progress=progress
            )
        # Anything else pip may be asked to do: one recorded run, under the lock.
        result = proc.pip(target.python, pip_args, pass_fds=(sess.mutex.fd,))
        sess.recorder.set_result("ok" if result.returncode == 0 else "failed")
        return ChangeResult(code=0 if result.returncode == 0 else 1)


def _uninstall_transaction(sess: Session, args: list[str]) -> ChangeResult:
    from pipkit.env import transaction

    target = sess.target
    dists = installed(target)
    names = [canonicalize_name(a) for a in args if not a.startswith("-")]
    present = [dists[n] for n in dict.fromkeys(names) if n in dists]
    if not present:
        sess.recorder.set_result("ok")
        return ChangeResult()

    def stashable(dist: InstalledDist) -> bool:
        return transaction.stash_refusal(target, [dist]) is None

    # What cannot be stashed (egg-info, no RECORD) is left to pip's own uninstall, in the
    # same transaction: if pip fails, the stashed ones come back too.
    legacy = [d.raw_name for d in present if not stashable(d)]
    transaction.execute(
        sess,
        stash=[d for d in present if stashable(d)],
        pip_args=["uninstall", "--yes", *legacy] if legacy else None,
        expect_present={},
        expect_absent=[d.name for d in present],
        plan={"remove": [{"name": d.name, "version": d.version} for d in present]},
    )
    return ChangeResult(removed=tuple(present))


def _pip_report(target: Target, pip_args: list[str]) -> dict[NormalizedName, str | None]:
    """What ``pip install ARGS`` would install (``--dry-run --report``): name -> version."""
    import json
    import tempfile

    from pipkit.env import proc

    with tempfile.TemporaryDirectory(prefix="pipkit-report-") as folder:
        report_path = os.path.join(folder, "report.json")
        # Not --quiet: pip explains a conflict's causes on stdout, at its normal level.
        dry = proc.pip(
            target.python,
            ["install", "--dry-run", "--report", report_path, *pip_args[1:]],
            capture=True,
        )
        if dry.returncode != 0:
            from pipkit.ops.pipfail import pip_failure

            raise pip_failure(
                target, dry.stdout + dry.stderr, returncode=dry.returncode, pip_args=pip_args
            )
        try:
            with open(report_path, encoding="utf-8") as handle:
                report = json.load(handle)
        except (OSError, ValueError) as exc:
            raise OperationError(f"pip's --report could not be read ({exc})") from None
    planned: dict[NormalizedName, str | None] = {}
    for item in report.get("install") or ():
        metadata = item.get("metadata") or {}
        if metadata.get("name"):
            planned[canonicalize_name(metadata["name"])] = metadata.get("version")
    return planned


def _install_plan(
    target: Target, planned: dict[NormalizedName, str | None], *, dry_run: bool = False
) -> ChangeResult:
    """The plan as a result: new packages, and the ones replaced with their old versions."""
    if not planned:
        return ChangeResult(already_satisfied=True, dry_run=dry_run)
    dists = installed(target)
    planned = dict(sorted(planned.items()))
    return ChangeResult(
        installed=tuple((str(n), v) for n, v in planned.items() if n not in dists),
        changed=tuple(
            (dists[n].raw_name, dists[n].version, v) for n, v in planned.items() if n in dists
        ),
        dry_run=dry_run,
    )


def _install_transaction(
    sess: Session,
    pip_args: list[str],
    *,
    capture_pip: bool,
    installer: str = "pip",
    progress: Reporter | None = None,
) -> ChangeResult:
    from pipkit.env import transaction

    target = sess.target
    try:
        planned = _pip_report(target, pip_args)
    except OperationError:
        sess.recorder.set_result("failed")
        raise
    result = _install_plan(target, planned)
    if not planned:
        sess.recorder.set_result("ok")
        return result
    # A package installed twice: pip would replace one copy and leave the other (the
    # verification after pip would find it, but only after the change), so say it now.
    twice = transaction.duplicates(target, planned)
    if twice:
        sess.recorder.set_result("failed")
        raise OperationError(
            f"{twice}: remove the stray copy first (pipkit doctor names it); nothing was changed"
        )
    dists = installed(target)

    def verify() -> str | None:
        # What the dry run planned is what is there (uv resolves the request itself).
        from packaging.version import InvalidVersion, Version

        after = installed(target)
        for name, version in planned.items():
            dist = after.get(name)
            if dist is None:
                return f"{name} was planned but is not installed"
            try:
                same = version is None or Version(dist.version) == Version(version)
            except InvalidVersion:
                same = dist.version == version
            if not same:
                return f"{name} is {dist.version} after the install, not {version} as planned"
        return None

    on_line = None
    if progress is not None and capture_pip:
        from pipkit.ops.progress import lines_to

        on_line = lines_to(progress, len(planned))
    try:
        transaction.execute(
            sess,
            stash=[dists[n] for n in planned if n in dists],
            pip_args=pip_args,
            expect_present={str(n): v for n, v in planned.items()},
            plan={"install": [{"name": n, "version": v} for n, v in planned.items()]},
            installs={str(n): v for n, v in planned.items()},
            capture_pip=capture_pip,
            verify=verify,
            installer=installer,
            on_line=on_line,
        )
    except OperationError as exc:
        from pipkit.ops.pipfail import after_change

        # pip's captured output: one line naming the cause, the whole of it in a log file.
        failure = after_change(exc, target, captured=capture_pip, pip_args=pip_args)
        if failure is None:
            raise
        raise failure from None
    finally:
        if on_line is not None and progress is not None:
            from pipkit.ops.progress import ProgressEvent

            progress(ProgressEvent("done"))
    return result


def install(
    target: Target,
    packages: Sequence[str],
    *,
    requirements: Sequence[str] = (),
    constraints: Sequence[str] = (),
    editables: Sequence[str] = (),
    upgrade: bool = False,
    extra: Sequence[str] = (),
    command: str = "pipkit install",
    dry_run: bool = False,
    capture_pip: bool = True,
    installer: str = "pip",
    doing: str = "pipkit install",
    progress: Reporter | None = None,
) -> ChangeResult:
    """``pip install`` into the target; ``command`` is the user's command line (history);
    ``dry_run``: only the plan (pip's report), nothing changed; ``installer`` ("pip"/"uv")
    runs the install step (:func:`change`)."""
    if not (packages or requirements or editables):
        raise UsageError("install: name at least one package, -r FILE or -e PATH")
    for path in [*requirements, *constraints]:
        if not os.path.isfile(path):
            raise UsageError(f"{path}: no such requirements file")
    args = ["install", *packages]
    for path in requirements:
        args += ["-r", path]
    for path in constraints:
        args += ["-c", path]
    for path in editables:
        args += ["-e", path]
    if upgrade:
        args.append("--upgrade")
    args += list(extra)
    return change(
        target,
        args,
        command=command,
        dry_run=dry_run,
        capture_pip=capture_pip,
        installer=installer,
        doing=doing,
        progress=progress,
    )


def protected(target: Target, dists: dict[NormalizedName, InstalledDist]) -> set[NormalizedName]:
    """What pipkit never removes from ``target`` without --force (:mod:`pipkit.core.plan`)."""
    from pipkit.core.plan import protected_names

    return protected_names(dists, target.marker_env, runs_pipkit=target.runs_pipkit)


def uninstall(
    target: Target,
    packages: Sequence[str],
    *,
    yes: bool,
    force: bool,
    confirm: Confirm | None = None,
    command: str = "pipkit uninstall",
    dry_run: bool = False,
) -> ChangeResult:
    """``pip uninstall`` from the target, refusing pip and pipkit's own without force.

    Without ``yes``, ``confirm`` is asked first (no callback: declined). ``dry_run``: what
    would be removed, nothing changed.
    """
    dists = installed(target)
    wanted = list(dict.fromkeys(canonicalize_name(p) for p in packages))
    if not force:
        refused = sorted(set(wanted) & protected(target, dists))
        if refused:
            raise OperationError(
                f"refusing to remove {', '.join(refused)}: the environment (or pipkit) needs "
                "it; pass --force to remove it anyway"
            )
    present = [n for n in wanted if n in dists]
    skipped = tuple(str(name) for name in wanted if name not in dists)
    if not present:
        return ChangeResult(skipped=skipped)
    if dry_run:
        return ChangeResult(removed=tuple(dists[n] for n in present), skipped=skipped, dry_run=True)
    if not yes:
        listing = ", ".join(f"{dists[n].raw_name} {dists[n].version}" for n in present)
        if confirm is None or not confirm(f"Remove {listing}?"):
            return ChangeResult(skipped=skipped, declined=True, code=1)
    result = change(target, ["uninstall", "--yes", *present], command=command)
    return dataclasses.replace(result, skipped=skipped)


def upgrade(
    target: Target,
    packages: Sequence[str],
    *,
    all_: bool,
    extra: Sequence[str] = (),
    command: str = "pipkit upgrade",
    confirm: Confirm | None = None,
    dry_run: bool = False,
    capture_pip: bool = True,
    installer: str = "pip",
    progress: Reporter | None = None,
) -> ChangeResult:
    """Upgrade named packages, or with ``all_`` every top-level one, in one pip call.

    ``--all`` asks ``confirm`` first, naming the packages (no callback: go ahead)."""
    if all_ and packages:
        raise UsageError("upgrade: give package names or --all, not both")
    if not all_ and not packages:
        raise UsageError("upgrade: name packages to upgrade, or pass --all")
    if all_:
        from pipkit.core.health import not_required

        _require_report(target, "pipkit upgrade")  # before the question

        dists = installed(target)
        tops = not_required(dists, target.marker_env)
        names = sorted(
            dists[n].raw_name for n in tops if not dists[n].editable and dists[n].direct_url is None
        )
        if not names:
            return ChangeResult()
        if not dry_run and confirm is not None and not confirm(f"Upgrade {', '.join(names)}?"):
            return ChangeResult(declined=True, code=1)
    else:
        names = list(packages)
    args = ["install", "--upgrade", *names, *extra]
    return change(
        target,
        args,
        command=command,
        dry_run=dry_run,
        capture_pip=capture_pip,
        installer=installer,
        doing="pipkit upgrade",
        progress=progress,
    )


@dataclass(frozen=True)
class PackageRow:
    """One row of ``pipkit list``."""

    name: str
    version: str
    location: str
    installer: str | None
    editable_location: str | None
    latest: str | None = None
    latest_filetype: str | None = None  # "wheel" or "sdist", as pip list --outdated says

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "version": self.version}
        if self.editable_location:
            data["editable_project_location"] = self.editable_location
        data["location"] = self.location
        data["installer"] = self.installer or ""
        if self.latest is not None:
            data["latest_version"] = self.latest
        if self.latest_filetype is not None:
            data["latest_filetype"] = self.latest_filetype
        return data


def list_packages(target: Target, *, outdated: bool, top_level: bool = False) -> list[PackageRow]:
    """Installed packages, sorted by name; only outdated ones, or only top-level ones."""
    dists = installed(target)
    names = sorted(dists)  # by normalized name, as pip list sorts
    if top_level:
        from pipkit.core.health import not_required

        keep = not_required(dists, target.marker_env)
        names = [n for n in names if n in keep]
    rows = [
        PackageRow(
            name=dists[n].raw_name,
            version=dists[n].version,
            location=dists[n].location,
            installer=dists[n].installer,
            editable_location=dists[n].editable_location,
        )
        for n in names
    ]
    if not outdated:
        return rows
    from packaging.version import InvalidVersion, Version

    from pipkit.env.index import latest_releases
    from pipkit.env.pipconfig import load_pip_config

    # An editable or a direct-URL install is not an older release of a same-named project.
    candidates = [n for n in names if not dists[n].editable and dists[n].direct_url is None]
    config = load_pip_config("list", site_prefix=target.prefix, environ=os.environ)
    python = target.marker_env.get("python_full_version")
    latest = latest_releases(candidates, config, python_version=python)
    out: list[PackageRow] = []
    for row, name in zip(rows, names, strict=True):
        found = latest.get(name)
        if found is None:
            continue
        newest, filetype = found
        try:
            if Version(str(newest)) <= Version(row.version):
                continue
        except InvalidVersion:
            continue
        out.append(
            PackageRow(**{**row.__dict__, "latest": str(newest), "latest_filetype": filetype})
        )
    return out


@dataclass(frozen=True)
class ShowInfo:
    """What ``pipkit show`` reports for one package."""

    name: str
    version: str
    summary: str
    home_page: str
    author: str
    license: str
    location: str
    requires: list[str]
    required_by: list[str]
    installer: str | None
    editable_location: str | None
    files: list[str] | None = field(default=None)
    # pip show's own fields, raw (the text layout: pipkit.core.showfmt); not in --json.
    fields: ShowFields | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        del data["fields"]
        if data["files"] is None:
            del data["files"]
        data["editable_project_location"] = data.pop("editable_location")
        return data


def show(
    target: Target, packages: Sequence[str], *, files: bool
) -> tuple[list[ShowInfo], list[str]]:
    """Details of the named packages, and the names that are not installed."""
    import csv
    from email.parser import HeaderParser

    from pipkit.core.health import requirements_of
    from pipkit.core.model import marker_holds
    from pipkit.core.showfmt import ShowFields

    dists = installed(target)
    infos: list[ShowInfo] = []
    missing: list[str] = []
    for package in packages:
        dist = dists.get(canonicalize_name(package))
        if dist is None:
            missing.append(package)
            continue
        meta_path = (
            os.path.join(dist.metadata_dir, "METADATA")
            if dist.kind == "dist-info"
            else os.path.join(dist.metadata_dir, "PKG-INFO")
        )
        try:
            with open(meta_path, encoding="utf-8", errors="replace") as handle:
                meta = HeaderParser().parse(handle)
        except OSError:
            meta = HeaderParser().parsestr("")
        env = target.marker_env
        requires = [req.name for req in requirements_of(dist) if marker_holds(req.marker, env)]
        required_by = [
            other.raw_name
            for other in dists.values()
            if any(
                canonicalize_name(req.name) == dist.name and marker_holds(req.marker, env)
                for req in requirements_of(other)
            )
        ]
        file_list: list[str] | None = None
        if files:
            record = os.path.join(dist.metadata_dir, "RECORD")
            file_list = []
            if os.path.isfile(record):
                try:
                    with open(record, encoding="utf-8", newline="") as handle:
                        file_list = [row[0] for row in csv.reader(handle) if row]
                except (UnicodeDecodeError, csv.Error) as exc:
                    raise OperationError(
                        f"cannot list the files of {dist.raw_name} {dist.version}: its RECORD "
                        f"is unreadable ({exc})",
                        location=record,
                    ) from None
            file_list.sort()  # as pip show prints them
        try:
            with open(
                os.path.join(dist.metadata_dir, "entry_points.txt"), encoding="utf-8"
            ) as handle:
                entry_points = handle.read().splitlines()
        except (OSError, UnicodeDecodeError):
            entry_points = []
        raw = ShowFields(
            name=dist.raw_name,
            version=dist.version,
            summary=meta.get("Summary", "") or "",
            home_page=meta.get("Home-page", "") or "",
            author=meta.get("Author", "") or "",
            author_email=meta.get("Author-email", "") or "",
            license=meta.get("License", "") or "",
            license_expression=meta.get("License-Expression", "") or "",
            location=dist.location,
            editable_location=dist.editable_location,
            requires=sorted(requires, key=str.lower),
            required_by=sorted(required_by, key=str.lower),
            metadata_version=meta.get("Metadata-Version", "") or "",
            installer=dist.installer or "",
            classifiers=meta.get_all("Classifier") or [],
            entry_points=entry_points,
            project_urls=meta.get_all("Project-URL") or [],
            files=file_list,
        )
        infos.append(
            ShowInfo(
                name=dist.raw_name,
                version=dist.version,
                summary=meta.get("Summary", "") or "",
                home_page=meta.get("Home-page", "") or "",
                author=meta.get("Author", "") or meta.get("Author-email", "") or "",
                license=meta.get("License", "") or meta.get("License-Expression", "") or "",
                location=dist.location,
                requires=sorted(set(requires), key=str.lower),
                required_by=sorted(required_by, key=str.lower),
                installer=dist.installer,
                editable_location=dist.editable_location,
                files=file_list,
                fields=raw,
            )
        )
    return infos, missing


def pip_version(target: Target) -> str | None:
    """The target's pip version (``show`` prints as that pip does), or None without pip."""
    dist = installed(target).get(canonicalize_name("pip"))
    return dist.version if dist else None


def freeze(target: Target, *, exclude_editable: bool, all_: bool) -> str:
    """The target's ``pip freeze`` output, made without pip."""
    from pipkit.core.freeze import freeze as render_freeze
    from pipkit.env.dists import iter_distributions
    from pipkit.env.vcs import git_checkout

    return render_freeze(
        iter_distributions(target.sys_path),
        python_version=(target.version[0], target.version[1]),
        vcs_lookup=git_checkout,
        exclude_editable=exclude_editable,
        include_all=all_,
    )

"""``pipkit lock``: resolve lock inputs through pip-tools into a lock that says how it was made.

pip-compile resolves; this module decides everything around it:

* **Inputs** are ``requirements.in`` (pip's requirements format, read by
  :mod:`pipkit.core.reqfile`, includes and options and all) or the static ``[project]``
  dependencies of a ``pyproject.toml`` (plus optional groups chosen with ``--extra`` /
  ``--all-extras``). A pyproject's dependencies are handed to pip-compile as a generated
  requirements file: reading them statically needs no build backend and no network, and is
  exactly what the fingerprint covers.
* **Index settings**: pip-compile runs with ``--no-emit-index-url --no-emit-find-links
  --no-emit-trusted-host --no-emit-options`` so the machine's pip.conf and ``PIP_*`` settings
  (used for resolving, as pip would) never land in the file; the options the *inputs* give are
  written back from what :mod:`pipkit.core.reqfile` read.
* **Header** (:func:`pipkit.core.reqfile.format_header`, or ``[tool.pipkit]`` in a pylock): the
  regenerate command, a fingerprint of the normalized inputs and the options that shape the
  result, and the Python version and platform the lock was made for.
* **Staleness** (:func:`staleness`, offline): the fingerprint changed, an input is not
  satisfied by its pin (name, specifier, extras, marker), or a pin is reached by no input any
  more (pip-compile's ``# via`` annotations). Locks without a fingerprint (plain pip-compile,
  uv) are judged by the last two rules alone.
* **pylock.toml** out: through the target's ``pip lock`` when its pip has it (>= 25.1), else
  built from the resolved set with file URLs from the index matched against the hashes
  pip-compile computed; validated by ``packaging.pylock`` before it is written.
* ``install --save`` / ``uninstall --save`` (:func:`install_save`, :func:`uninstall_save`):
  edit the input (a text edit of a pyproject's ``dependencies = [...]`` that keeps formatting
  and comments), relock, sync; all or nothing.

Every file is written atomically. Processes run only through :mod:`pipkit.env.proc`. Must not
import pip or piptools (they run in a child process, under the right interpreter); what it
says (the spinner, the line naming what was written) is :mod:`pipkit.render`'s.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shlex
import sys
import tempfile
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.markers import Marker, default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from pipkit.core.model import Lock, LockEntry, LockHeader, LockOptions
from pipkit.errors import InputError, OperationError, TargetError, UsageError

if TYPE_CHECKING:
    from pipkit.env.target import Target

__all__ = [
    "FORMATS",
    "INPUT_NAMES",
    "Inputs",
    "LockResult",
    "LockSpec",
    "add_pyproject_dependency",
    "check",
    "find_inputs",
    "fingerprint",
    "install_save",
    "lock",
    "read_inputs",
    "remove_pyproject_dependency",
    "spec_from_header",
    "staleness",
    "uninstall_save",
]

FORMATS = ("requirements", "pylock")
# Looked for in this order when no input is named.
INPUT_NAMES = ("requirements.in", "pyproject.toml")
# The first pip that has ``pip lock``.
_PIP_LOCK_VERSION = Version("25.1")
_FINGERPRINT_VERSION = 1  # bump when the normalization changes: old locks then read as stale


# --------------------------------------------------------------------------------------------
# What to lock


@dataclass(frozen=True)
class LockSpec:
    """What ``pipkit lock`` was asked to do.

    ``None`` means "not given": :func:`lock` uses the default, :func:`check` takes the value
    the lock's own header recorded (so ``pipkit lock --check`` works without repeating options).
    """

    inputs: tuple[str, ...] = ()
    output: str | None = None
    format: str | None = None  # "requirements" or "pylock"; None: from the output's name
    upgrade: bool = False
    upgrade_packages: tuple[str, ...] = ()
    hashes: bool | None = None  # default True
    extras: tuple[str, ...] | None = None
    all_extras: bool | None = None


@dataclass(frozen=True)
class LockResult:
    """What :func:`lock` wrote."""

    path: Path
    format: str
    packages: int
    fingerprint: str
    python_version: str
    platform: str
    method: str  # "pip-compile" or "pip-compile + pip lock"


@dataclass(frozen=True)
class Inputs:
    """The lock inputs, read and normalized: what pip-compile resolves, the fingerprint covers."""

    kind: str  # "requirements" or "pyproject"
    files: tuple[str, ...]  # as given (relative to the working directory, or absolute)
    requirements: tuple[LockEntry, ...]
    constraints: tuple[LockEntry, ...] = ()
    options: LockOptions = dataclasses.field(default_factory=LockOptions)
    project_name: str | None = None
    extras: tuple[str, ...] = ()  # the optional groups included (pyproject)

    @property
    def names(self) -> frozenset[NormalizedName]:
        return frozenset(entry.name for entry in self.requirements)


def find_inputs(directory: str | os.PathLike[str] = ".") -> Path | None:
    """``requirements.in`` in *directory*, else ``pyproject.toml``, else None."""
    for name in INPUT_NAMES:
        candidate = Path(directory) / name
        if candidate.is_file():
            return candidate
    return None


def _is_pyproject(path: str) -> bool:
    return path.lower().endswith(".toml")


def read_inputs(
    paths: Sequence[str],
    *,
    extras: Sequence[str] = (),
    all_extras: bool = False,
) -> Inputs:
    """Read the lock inputs (requirements files, or one pyproject.toml).

    Raises UsageError for a bad combination or a missing file, InputError (``FILE:LINE``) for
    a malformed one.
    """
    if not paths:
        raise UsageError("no lock input: give a requirements.in or pyproject.toml")
    for path in paths:
        if not os.path.isfile(path):
            raise UsageError(f"{path}: no such input file")
    pyprojects = [path for path in paths if _is_pyproject(path)]
    if pyprojects:
        if len(paths) > 1:
            raise UsageError(f"{pyprojects[0]}: a pyproject.toml is locked on its own")
        return _read_pyproject(pyprojects[0], extras=extras, all_extras=all_extras)
    if extras or all_extras:
        raise UsageError("--extra/--all-extras select optional groups of a pyproject.toml input")
    from pipkit.core.reqfile import read_requirements

    read = read_requirements(list(paths))
    return Inputs(
        kind="requirements",
        files=tuple(paths),
        requirements=read.entries,
        constraints=read.constraints,
        options=read.options,
    )


def _first_line(exc: Exception) -> str:
    """packaging's parse errors span several lines (a caret diagram): keep the message."""
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def _load_toml(text: str, path: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        location = f"{path}:{match.group(1)}" if match else path
        raise InputError(f"not valid TOML ({exc})", location=location) from None


def _line_of(text: str, needle: str) -> int:
    """The 1-based line where *needle* (a dependency string) first appears, else 1."""
    for quoted in (json.dumps(needle), f"'{needle}'", needle):
        index = text.find(quoted)
        if index >= 0:
            return text.count("\n", 0, index) + 1
    return 1


def _read_pyproject(path: str, *, extras: Sequence[str], all_extras: bool) -> Inputs:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputError("not UTF-8 text", location=path) from None
    data = _load_toml(text, path)
    project = data.get("project")
    if not isinstance(project, dict):
        raise InputError("no [project] table to lock the dependencies of", location=path)
    if "dependencies" in (project.get("dynamic") or []):
        raise InputError(
            "[project] dependencies are dynamic: pipkit locks static dependencies only "
            "(list them in the dependencies array, or lock a requirements.in)",
            location=path,
        )
    raw_name = project.get("name")
    project_name = canonicalize_name(raw_name) if isinstance(raw_name, str) else None
    optional = project.get("optional-dependencies") or {}
    if not isinstance(optional, dict):
        raise InputError("[project.optional-dependencies] must be a table", location=path)
    groups: dict[str, str] = {canonicalize_name(key): key for key in optional}
    if all_extras:
        chosen = list(groups)
    else:
        chosen = []
        for extra in extras:
            key = canonicalize_name(extra)
            if key not in groups:
                known = ", ".join(sorted(groups)) or "none"
                raise UsageError(
                    f"--extra {extra}: {path} has no optional dependency group {extra!r} "
                    f"(it has: {known})"
                )
            chosen.append(key)
    entries: list[LockEntry] = []
    seen_groups: set[str] = set()

    def add(strings: object, where: str, pending: list[str]) -> None:
        if not isinstance(strings, list) or not all(isinstance(s, str) for s in strings):
            raise InputError(f"{where} must be an array of strings", location=path)
        for string in strings:
            location = f"{path}:{_line_of(text, string)}"
            try:
                req = Requirement(string)
            except InvalidRequirement as exc:
                raise InputError(
                    f"invalid requirement {string!r}: {_first_line(exc)}", location=location
                ) from None
            name = canonicalize_name(req.name)
            if project_name is not None and name == project_name:
                # "myproject[test]" inside an optional group: that group's dependencies too.
                pending.extend(canonicalize_name(e) for e in req.extras)
                continue
            entries.append(
                LockEntry(
                    name=name,
                    raw_name=req.name,
                    source=location,
                    specifier=req.specifier,
                    extras=frozenset(canonicalize_name(e) for e in req.extras),
                    marker=req.marker,
                    url=req.url,
                    line=str(req),
                )
            )

    pending: list[str] = []
    add(project.get("dependencies", []), "[project] dependencies", pending)
    pending.extend(chosen)
    while pending:
        group = pending.pop(0)
        if group in seen_groups:
            continue
        seen_groups.add(group)
        if group not in groups:
            raise InputError(f"no optional dependency group {group!r}", location=path)
        add(optional[groups[group]], f"optional-dependencies.{groups[group]}", pending)
    return Inputs(
        kind="pyproject",
        files=(path,),
        requirements=tuple(entries),
        project_name=project_name,
        extras=tuple(sorted(seen_groups)),
    )


# --------------------------------------------------------------------------------------------
# Fingerprint


def _entry_key(entry: LockEntry) -> str:
    extras = ",".join(sorted(entry.extras))
    text = entry.name + (f"[{extras}]" if extras else "")
    if entry.editable:
        text = "-e " + text
    if entry.url:
        text += " @ " + entry.url
    text += str(entry.specifier)  # packaging sorts the clauses
    if entry.marker is not None:
        text += " ; " + str(entry.marker)
    if entry.config_settings:
        text += " -C " + " -C ".join(entry.config_settings)
    if entry.hashes:
        text += " --hash " + " --hash ".join(sorted(entry.hashes))
    return text


def fingerprint(inputs: Inputs, *, format: str, hashes: bool) -> str:
    """``sha256:<hex>`` of the normalized inputs and the options that shape the lock.

    Normalized: requirement order, comments, spelling of names (``Foo_Bar`` / ``foo-bar``) and
    of specifiers do not count; what pip-compile would resolve differently does. The file names
    do not count either, so a project can be moved or renamed without its lock going stale.
    """
    folder = os.path.abspath(os.path.dirname(inputs.files[0])) if inputs.files else ""
    links = tuple(
        os.path.relpath(link, folder)
        if folder and os.path.isabs(link) and os.path.commonpath([link, folder]) == folder
        else link
        for link in inputs.options.find_links
    )
    # A find-links folder beside the inputs counts by its relative path: moving the project
    # does not make its lock stale.
    options = dataclasses.asdict(dataclasses.replace(inputs.options, find_links=links))
    payload = {
        "v": _FINGERPRINT_VERSION,
        "kind": inputs.kind,
        "requirements": sorted(_entry_key(e) for e in inputs.requirements),
        "constraints": sorted(_entry_key(e) for e in inputs.constraints),
        # Index options keep their order: it is pip's search order.
        "options": {key: value for key, value in options.items() if value},
        "extras": sorted(inputs.extras),
        "format": format,
        "hashes": hashes,
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(blob.encode()).hexdigest()


# --------------------------------------------------------------------------------------------
# The regenerate command, written into the header and read back


def _command(inputs: Sequence[str], output: Path, spec: LockSpec, fmt: str) -> str:
    """``pipkit lock ...`` with paths relative to the lock's folder (run it from there)."""
    base = output.parent

    def rel(path: str) -> str:
        return os.path.relpath(os.path.abspath(path), os.path.abspath(base))

    words = ["pipkit", "lock", *(rel(path) for path in inputs), "-o", rel(str(output))]
    if fmt == "pylock":
        words += ["--format", "pylock"]
    elif spec.hashes is False:
        words.append("--no-hashes")
    if spec.all_extras:
        words.append("--all-extras")
    else:
        for extra in spec.extras or ():
            words += ["--extra", extra]
    return shlex.join(words)


def spec_from_header(command: str | None, lock_path: str | os.PathLike[str]) -> LockSpec | None:
    """The LockSpec a lock's ``pipkit lock ...`` header command describes (paths made relative
    to the working directory again), or None when the lock was not made by pipkit."""
    if not command:
        return None
    try:
        words = shlex.split(command)
    except ValueError:
        return None
    if words[:2] != ["pipkit", "lock"]:
        return None
    base = os.path.dirname(os.fspath(lock_path))
    inputs: list[str] = []
    output: str | None = None
    fmt: str | None = None
    hashes = True
    extras: list[str] = []
    all_extras = False
    rest = iter(words[2:])
    for word in rest:
        if word in ("-o", "--output"):
            output = next(rest, None)
        elif word == "--format":
            fmt = next(rest, None)
        elif word == "--no-hashes":
            hashes = False
        elif word == "--extra":
            value = next(rest, None)
            if value:
                extras.append(value)
        elif word == "--all-extras":
            all_extras = True
        elif word == "--upgrade-package":
            next(rest, None)
        elif not word.startswith("-"):
            inputs.append(word)

    def here(path: str) -> str:
        return os.path.normpath(os.path.join(base, path)) if base else path

    return LockSpec(
        inputs=tuple(here(path) for path in inputs),
        output=here(output) if output else None,
        format=fmt,
        hashes=hashes,
        extras=tuple(extras),
        all_extras=all_extras,
    )


# --------------------------------------------------------------------------------------------
# Locking


def _resolve_paths(spec: LockSpec) -> tuple[list[str], Path, str]:
    """The inputs (as given), the output path and the format, with defaults applied."""
    from pipkit.core.lockfile import is_pylock

    inputs = list(spec.inputs)
    if not inputs:
        found = find_inputs(".")
        if found is None:
            raise UsageError(
                "no requirements.in or pyproject.toml here: name the lock inputs "
                "(pipkit lock FILE...)"
            )
        inputs = [str(found)]
    fmt = spec.format
    if fmt is not None and fmt not in FORMATS:
        raise UsageError(f"--format {fmt}: choose one of {', '.join(FORMATS)}")
    if spec.output:
        output = Path(spec.output)
        if fmt is None:
            fmt = "pylock" if is_pylock(output) else "requirements"
    else:
        fmt = fmt or "requirements"
        folder = Path(inputs[0]).parent
        output = folder / ("pylock.toml" if fmt == "pylock" else "requirements.txt")
    if fmt == "pylock" and not is_pylock(output):
        raise UsageError(f"-o {output}: a PEP 751 lock is named pylock.toml or pylock.NAME.toml")
    if fmt == "requirements" and output.suffix.lower() == ".toml":
        raise UsageError(f"-o {output}: a requirements lock cannot be a .toml file")
    if any(os.path.abspath(output) == os.path.abspath(path) for path in inputs):
        raise UsageError(f"-o {output}: the lock would overwrite its own input")
    from packaging.pylock import is_valid_pylock_path

    if fmt == "pylock" and not is_valid_pylock_path(output):
        raise UsageError(f"-o {output}: a PEP 751 lock is named pylock.toml or pylock.NAME.toml")
    return inputs, output, fmt


def _platform(target: Target | None) -> tuple[str, str]:
    """(python version, platform) the lock is made for: the target's."""
    if target is not None:
        return target.python_version, target.platform_tag or target.marker_env["sys_platform"]
    import sysconfig

    return f"{sys.version_info[0]}.{sys.version_info[1]}", sysconfig.get_platform()


def _compile_python(target: Target | None) -> str:
    """The interpreter pip-compile runs under: pipkit's own when it is the target's kind of
    Python, else the target itself (which then needs pip-tools), else a clear refusal."""
    if target is None:
        return sys.executable
    env = target.marker_env
    same = (
        target.version[:2] == sys.version_info[:2]
        and env.get("implementation_name", sys.implementation.name) == sys.implementation.name
        and env.get("sys_platform", sys.platform) == sys.platform
    )
    if same:
        return sys.executable
    from pipkit.env import proc

    result = proc.run([target.python, "-c", "import piptools"], timeout=120)
    if result.returncode != 0:
        raise TargetError(
            f"{target.python} is Python {target.python_version}, pipkit runs on "
            f"{sys.version_info[0]}.{sys.version_info[1]}: the lock must be resolved under the "
            "target, which has no pip-tools (install it there first: "
            f"pipkit --python {target.python} install pip-tools)"
        )
    return target.python


_EXCEPTION_PREFIX_RE = re.compile(r"^(?:[A-Za-z_][\w]*\.)+[A-Za-z_]\w*: ")


def _tail(text: str, lines: int = 6) -> str:
    """The end of a tool's error output, without its noise, for a short error message.

    pip-compile may end in a traceback (the real message is its last line); tracebacks,
    warnings and "The above exception..." chatter are dropped, exception class paths too.
    """
    kept: list[str] = []
    for line in text.strip().splitlines():
        if not line.strip() or line[0].isspace() or line.startswith(("WARNING:", "Traceback")):
            continue
        if line.startswith(("The above exception", "During handling of")):
            continue
        kept.append(_EXCEPTION_PREFIX_RE.sub("", line))
    if any(not line.startswith(("[", "Requirements conflict")) for line in kept):
        kept = [line for line in kept if not line.startswith(("[", "Requirements conflict"))]
    return "\n".join(dict.fromkeys(kept[-lines:])) or "(no output)"


@contextlib.contextmanager
def _scratch(folder: Path, suffix: str) -> Iterator[Path]:
    """A hidden temp file in *folder*, removed afterwards (relative paths keep their meaning)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".pipkit-lock-", suffix=suffix, dir=folder)
    os.close(fd)
    path = Path(name)
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _seed_pins(output: Path, fmt: str, scratch: Path) -> None:
    """Put the existing lock's pins where pip-compile looks for them (its ``-o`` file)."""
    if not output.is_file():
        return
    if fmt == "requirements":
        scratch.write_bytes(output.read_bytes())
        return
    from pipkit.core.lockfile import read_lock

    try:
        existing = read_lock(output)
    except (InputError, UsageError):
        return  # a broken old lock only loses its pins
    lines = [
        f"{entry.raw_name}=={entry.pinned_version}"
        for entry in existing.entries
        if entry.pinned_version and not entry.url
    ]
    scratch.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _option_lines(options: LockOptions, output: Path) -> list[str]:
    """The inputs' own pip options, one per line, for the top of the lock."""
    folder = os.path.abspath(output.parent)
    find_links = []
    for link in options.find_links:
        # reqfile made a find-links path that exists next to the input absolute; written back
        # relative to the lock (pip reads it relative to the file) when it lies below it.
        if os.path.isabs(link) and os.path.commonpath([link, folder]) == folder:
            link = os.path.relpath(link, folder)
        find_links.append(link)
    args = dataclasses.replace(options, find_links=tuple(find_links)).pip_args()
    lines: list[str] = []
    it = iter(args)
    for arg in it:
        if arg in (
            "--no-index",
            "--pre",
            "--prefer-binary",
            "--require-hashes",
            "--no-require-hashes",
        ):
            lines.append(arg)
        else:
            lines.append(f"{arg} {shlex.quote(next(it))}")
    return lines


def _pip_compile(
    python: str,
    inputs: Inputs,
    compile_args: list[str],
    out: Path,
    spec: LockSpec,
    *,
    hashes: bool,
) -> None:
    from pipkit.env import proc
    from pipkit.env.target import cache_dir

    argv = [
        python, "-m", "piptools", "compile", "--quiet", "--no-config", "--no-header",
        "--annotation-style=split", "--no-strip-extras",
        # The machine's index settings are for resolving, not for the file.
        "--no-emit-index-url", "--no-emit-find-links", "--no-emit-trusted-host",
        "--no-emit-options",
        "--cache-dir", str(cache_dir() / "pip-tools"),
        "--output-file", str(out),
    ]  # fmt: skip
    if hashes:
        # pip accepts a hashed file only when every package is pinned: pip and setuptools too.
        argv += ["--generate-hashes", "--allow-unsafe"]
    if spec.upgrade:
        argv.append("--upgrade")
    for package in spec.upgrade_packages:
        argv += ["--upgrade-package", package]
    argv += compile_args
    result = proc.run(argv)
    if result.returncode != 0:
        raise OperationError("pip-compile could not resolve the inputs:\n" + _tail(result.stderr))


def _via_name(inputs: Inputs, display: str) -> str:
    return f"{inputs.project_name or 'project'} ({display})"


def lock(target: Target | None, spec: LockSpec, *, progress: bool = True) -> LockResult:
    """Resolve the inputs and write the lock (atomically). See the module docstring.

    Raises UsageError/InputError (exit 2) for bad options or inputs, OperationError (exit 1)
    when resolving or writing fails; the old lock is then untouched.
    """
    try:
        return _lock(target, spec, progress=progress)
    except OSError as exc:
        where = exc.filename or spec.output or "the lock"
        raise OperationError(f"{where}: {exc.strerror or exc}") from None


def _lock(target: Target | None, spec: LockSpec, *, progress: bool) -> LockResult:
    from pipkit import render

    inputs_given, output, fmt = _resolve_paths(spec)
    inputs = read_inputs(inputs_given, extras=spec.extras or (), all_extras=bool(spec.all_extras))
    hashes = spec.hashes is not False or fmt == "pylock"
    python = _compile_python(target)
    python_version, platform = _platform(target)
    fp = fingerprint(inputs, format=fmt, hashes=hashes)
    header = LockHeader(
        python_version=python_version,
        platform=platform,
        fingerprint=fp,
        command=_command(inputs_given, output, spec, fmt),
    )
    folder = output.parent if str(output.parent) else Path(".")
    with contextlib.ExitStack() as stack:
        compiled = stack.enter_context(_scratch(folder, ".txt"))
        if not spec.upgrade:
            _seed_pins(output, fmt, compiled)
        if inputs.kind == "pyproject":
            generated = stack.enter_context(_scratch(folder, ".in"))
            lines = [entry.line for entry in inputs.requirements]
            generated.write_text("\n".join(lines) + "\n", encoding="utf-8")
            compile_args = [str(generated)]
        else:
            compile_args = list(inputs_given)
        label = ", ".join(inputs_given)
        with render.status(f"Resolving {label} with pip-compile...", progress):
            _pip_compile(python, inputs, compile_args, compiled, spec, hashes=hashes)
        body = compiled.read_text(encoding="utf-8")
        if inputs.kind == "pyproject":
            # The generated file stands for the pyproject in the "# via" annotations.
            body = body.replace(f"-r {compile_args[0]}", _via_name(inputs, inputs_given[0]))
        options = _option_lines(inputs.options, output)
        if fmt == "requirements":
            from pipkit.core.reqfile import format_header

            text = format_header(header) + "\n"
            if options:
                text += "\n".join(options) + "\n\n"
            text += body
            count = _write_requirements(output, text)
            method = "pip-compile"
        else:
            pins = "\n".join(options) + "\n\n" + body if options else body
            compiled.write_text(pins, encoding="utf-8")
            with render.status("Writing pylock.toml...", progress):
                count, method = _write_pylock(target, inputs, compiled, output, header)
    return LockResult(
        path=output,
        format=fmt,
        packages=count,
        fingerprint=fp,
        python_version=python_version,
        platform=platform,
        method=method,
    )


def _write_requirements(output: Path, text: str) -> int:
    """Write a requirements lock after reading it back (a file pip would refuse is not written)."""
    from pipkit.core.reqfile import read_requirements

    folder = output.parent if str(output.parent) else Path(".")
    with _scratch(folder, ".txt") as scratch:
        scratch.write_text(text, encoding="utf-8")
        try:
            written = read_requirements(scratch)
        except InputError as exc:
            raise OperationError(f"pip-compile wrote a lock pipkit cannot read ({exc})") from None
        _atomic_replace(scratch, output)
    return len(written.entries)


def _atomic_replace(source: Path, dest: Path) -> None:
    """Rename a finished scratch file over *dest*, keeping dest's permissions."""
    from pipkit.fsutil import atomic_write_bytes

    atomic_write_bytes(dest, source.read_bytes())


# --------------------------------------------------------------------------------------------
# pylock.toml


def _target_pip_version(target: Target | None) -> Version | None:
    if target is None:
        return None
    from pipkit.env.dists import installed

    dist = installed(target.sys_path).get(canonicalize_name("pip"))
    if dist is None:
        return None
    try:
        return Version(dist.version)
    except InvalidVersion:
        return None


def _write_pylock(
    target: Target | None, inputs: Inputs, pins: Path, output: Path, header: LockHeader
) -> tuple[int, str]:
    """Write *output* as a PEP 751 lock of the pinned requirements file *pins*."""
    from pipkit.core.reqfile import read_requirements

    resolved = read_requirements(pins)
    pip_version = _target_pip_version(target)
    if target is not None and pip_version is not None and pip_version >= _PIP_LOCK_VERSION:
        document = _pip_lock(target, resolved, pins)
        method = "pip-compile + pip lock"
    else:
        document = _pylock_from_index(target, resolved)
        method = "pip-compile + index"
    document["created-by"] = "pipkit"
    tool = dict(document.get("tool") or {})
    tool["pipkit"] = {
        key: value
        for key, value in (
            ("fingerprint", header.fingerprint),
            ("python", header.python_version),
            ("platform", header.platform),
            ("command", header.command),
        )
        if value
    }
    document["tool"] = tool
    text = dump_toml(document)
    _validate_pylock(text, output)
    from pipkit.fsutil import atomic_write_text

    atomic_write_text(output, text)
    return len(document.get("packages", [])), method


def _validate_pylock(text: str, output: Path) -> None:
    from packaging.pylock import Pylock, PylockValidationError

    try:
        Pylock.from_dict(tomllib.loads(text))
    except (PylockValidationError, tomllib.TOMLDecodeError) as exc:
        raise OperationError(f"{output}: the pylock.toml made is not valid ({exc})") from None


def _pip_lock(target: Target, resolved: Lock, pins: Path) -> dict[str, Any]:
    """The target's own ``pip lock`` of the exact pins (``--no-deps``: already resolved)."""
    from pipkit.env import proc

    folder = pins.parent
    with _scratch(folder, ".toml") as out:
        result = proc.pip(
            target.python,
            ["lock", "--quiet", "--no-deps", "-r", str(pins), "-o", str(out)],
            capture=True,
        )
        if result.returncode != 0:
            raise OperationError("pip lock failed:\n" + _tail(result.stderr))
        document = tomllib.loads(out.read_text(encoding="utf-8"))
    markers = {entry.name: entry.marker for entry in resolved.entries if entry.marker}
    for package in document.get("packages", []):
        marker = markers.get(canonicalize_name(str(package.get("name", ""))))
        if marker is not None and "marker" not in package:
            package["marker"] = str(marker)
    return document


def _file_sha256(path: str) -> str | None:
    try:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()
    except OSError:
        return None


def _pylock_from_index(target: Target | None, resolved: Lock) -> dict[str, Any]:
    """Each pin's files from the index (as pip's configuration and the inputs name it), kept
    when their sha256 is one pip-compile computed: what was resolved is what gets locked."""
    from pipkit.env import index
    from pipkit.env.dists import url_to_path
    from pipkit.env.pipconfig import load_pip_config

    config = load_pip_config(
        site_prefix=target.prefix if target else sys.prefix, environ=os.environ
    )
    opts = resolved.options
    config = dataclasses.replace(
        config,
        index_url=opts.index_url or config.index_url,
        extra_index_urls=(*config.extra_index_urls, *opts.extra_index_urls),
        find_links=(*config.find_links, *opts.find_links),
        trusted_hosts=(*config.trusted_hosts, *opts.trusted_hosts),
        no_index=config.no_index or opts.no_index,
    )
    names = [entry.raw_name for entry in resolved.entries if not entry.url]
    found = index.lookup_projects(names, config) if names else {}
    packages: list[dict[str, Any]] = []
    for entry in resolved.entries:
        if entry.url or entry.editable:
            raise UsageError(
                f"{entry.source}: {entry.raw_name} is a direct reference ({entry.url}); "
                "--format pylock locks index packages only here (use a target whose pip has "
                "`pip lock`, pip >= 25.1)"
            )
        version = entry.pinned_version
        if version is None:
            raise OperationError(f"{entry.source}: {entry.raw_name} is not pinned")
        wanted = {h.partition(":")[2] for h in entry.hashes if h.startswith("sha256:")}
        info = found.get(entry.raw_name)
        files: list[Any] = []
        if info is not None:
            for project_version in info.versions:
                if project_version.version == Version(version):
                    files = list(project_version.files)
        wheels: list[dict[str, Any]] = []
        sdist: dict[str, Any] | None = None
        for dist_file in files:
            digest = dist_file.hash_map.get("sha256")
            if digest is None and dist_file.url.startswith("file:"):
                digest = _file_sha256(url_to_path(dist_file.url))
            if digest is None or digest not in wanted:
                continue
            item = {"name": dist_file.filename, "url": dist_file.url, "hashes": {"sha256": digest}}
            if dist_file.kind == "wheel":
                wheels.append(item)
            elif sdist is None:
                sdist = item
        if not wheels and sdist is None:
            raise OperationError(
                f"no file of {entry.raw_name}=={version} on the index matches the hashes "
                "pip-compile resolved"
            )
        package: dict[str, Any] = {"name": entry.name, "version": version}
        if entry.marker is not None:
            package["marker"] = str(entry.marker)
        if sdist is not None:
            package["sdist"] = sdist
        if wheels:
            package["wheels"] = sorted(wheels, key=lambda w: str(w["name"]))
        packages.append(package)
    return {"lock-version": "1.0", "created-by": "pipkit", "packages": packages}


_BARE_KEY_RE = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY_RE.match(key) else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON escapes are valid TOML basic strings
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{" + inner + "}" if inner else "{}"
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def dump_toml(document: Mapping[str, Any]) -> str:
    """A small TOML writer for lock documents: tables and arrays of tables as sections,
    scalars and arrays of scalars inline (the layout ``pip lock`` writes)."""
    out: list[str] = []

    def is_table_list(value: Any) -> bool:
        return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)

    def table(data: Mapping[str, Any], path: list[str]) -> None:
        for key, value in data.items():
            if not isinstance(value, dict) and not is_table_list(value):
                out.append(f"{_toml_key(key)} = {_toml_value(value)}")
        for key, value in data.items():
            sub = [*path, _toml_key(key)]
            if isinstance(value, dict):
                scalars = [v for v in value.values() if not isinstance(v, dict)]
                if scalars or not value:  # a table of tables needs no header of its own
                    out.append("")
                    out.append("[" + ".".join(sub) + "]")
                table(value, sub)
            elif is_table_list(value):
                for item in value:
                    out.append("")
                    out.append("[[" + ".".join(sub) + "]]")
                    table(item, sub)

    table(document, [])
    return "\n".join(out).lstrip("\n") + "\n"


# --------------------------------------------------------------------------------------------
# Staleness


def _check_spec(spec: LockSpec, lock_path: Path, recorded: LockSpec | None) -> LockSpec:
    """*spec* with what it does not say taken from the lock's header."""
    base = recorded or LockSpec()
    return LockSpec(
        inputs=spec.inputs or base.inputs,
        output=str(lock_path),
        format=spec.format or base.format,
        hashes=spec.hashes if spec.hashes is not None else base.hashes,
        extras=spec.extras if spec.extras is not None else base.extras,
        all_extras=spec.all_extras if spec.all_extras is not None else base.all_extras,
    )


def check(
    spec: LockSpec, *, environment: Mapping[str, str] | None = None
) -> tuple[Path, list[str]]:
    """``pipkit lock --check``: the lock and why it is stale (empty: up to date). Offline.

    The lock is ``-o`` if given, else ``requirements.txt`` (or ``pylock.toml``) beside the
    first input or in the working directory. What *spec* leaves unsaid comes from the lock.
    """
    from pipkit.core.lockfile import default_lock_path

    if spec.output:
        output = Path(spec.output)
    else:
        folder = Path(spec.inputs[0]).parent if spec.inputs else Path(".")
        output = folder / "pylock.toml" if spec.format == "pylock" else default_lock_path(folder)
    if not output.is_file():
        raise UsageError(f"{output}: no such lock (make it with pipkit lock)")
    if not spec.inputs:
        from pipkit.core.lockfile import read_lock

        recorded = spec_from_header(read_lock(output).header.command, output)
        recorded_inputs = recorded.inputs if recorded else ()
        if not any(os.path.isfile(p) for p in recorded_inputs) and not find_inputs(output.parent):
            raise UsageError(f"{output}: no lock inputs found to check it against (name them)")
    reasons = staleness(output, list(spec.inputs) or None, spec=spec, environment=environment)
    return output, reasons


def staleness(
    lock_path: str | os.PathLike[str],
    inputs: Sequence[str | os.PathLike[str]] | None = None,
    *,
    spec: LockSpec | None = None,
    environment: Mapping[str, str] | None = None,
) -> list[str]:
    """Why the lock at *lock_path* no longer matches its inputs; [] when it does. No network.

    *inputs* default to those the lock's header names (``pipkit lock`` locks), else the
    ``requirements.in`` / ``pyproject.toml`` next to the lock; with none found, [] (nothing to
    compare with). *environment* is the marker environment inputs' markers are evaluated in
    (default: the running interpreter's). Each reason is one line, naming the file.
    Raises InputError for a malformed lock or input.
    """
    from pipkit.core.lockfile import read_lock

    lock_file = Path(lock_path)
    lock_obj = read_lock(lock_file)
    recorded = spec_from_header(lock_obj.header.command, lock_file)
    effective = _check_spec(spec or LockSpec(), lock_file, recorded)
    paths = [os.fspath(p) for p in inputs] if inputs else list(effective.inputs)
    paths = [p for p in paths if os.path.isfile(p)] if not inputs else paths
    if not paths:
        found = find_inputs(lock_file.parent)
        if found is None:
            return []
        paths = [str(found)]
    read = read_inputs(paths, extras=effective.extras or (), all_extras=bool(effective.all_extras))
    reasons: list[str] = []
    if lock_obj.header.fingerprint:
        fmt = lock_obj.format
        hashes = effective.hashes is not False or fmt == "pylock"
        now = fingerprint(read, format=fmt, hashes=hashes)
        if now != lock_obj.header.fingerprint:
            was = lock_obj.header.fingerprint.removeprefix("sha256:")[:12]
            reasons.append(
                f"{lock_file}: the inputs or lock options changed since it was made "
                f"({', '.join(paths)}: "
                f"fingerprint {now[7:19]}, was {was})"
            )
    env: dict[str, str] = (
        dict(environment) if environment is not None else dict(default_environment())  # type: ignore[arg-type]
    )
    # uv's requirements output and pylock.toml do not say which extras a pin was resolved with.
    uv = (lock_obj.header.command or "").startswith("uv ")
    # pip-compile's --strip-extras (its default from 8.0) drops them too: a lock without a
    # pipkit fingerprint is held to extras only when some pin in it carries extras.
    check_extras = (
        not uv
        and lock_obj.format == "requirements"
        and (bool(lock_obj.header.fingerprint) or any(e.extras for e in lock_obj.entries))
    )
    reasons += _unsatisfied(read, lock_obj, env, check_extras=check_extras)
    if lock_obj.format == "requirements":
        reasons += _unreached(read, lock_file)
    return reasons


def _marker_holds(marker: Marker | None, env: Mapping[str, str]) -> bool:
    return marker is None or marker.evaluate({**env, "extra": ""})


def _unsatisfied(
    inputs: Inputs, lock_obj: Lock, env: Mapping[str, str], *, check_extras: bool
) -> list[str]:
    pins: dict[NormalizedName, list[LockEntry]] = {}
    for entry in lock_obj.entries:
        pins.setdefault(entry.name, []).append(entry)
    reasons: list[str] = []
    for req in (*inputs.requirements, *inputs.constraints):
        is_constraint = req in inputs.constraints
        if not _marker_holds(req.marker, env):
            continue
        candidates = pins.get(req.name)
        shown = req.line or req.raw_name
        if not candidates:
            if not is_constraint:
                reasons.append(f"{req.source}: {shown} is not in the lock")
            continue
        applicable = [pin for pin in candidates if pin.applies(dict(env))]
        pin = (applicable or candidates)[0]
        version = pin.pinned_version
        if req.url or pin.url:
            if (req.url or "").rstrip("/") != (pin.url or "").rstrip("/"):
                reasons.append(
                    f"{req.source}: {shown} is locked as {pin.line or pin.raw_name} ({pin.source})"
                )
            continue
        if version is None:
            reasons.append(f"{req.source}: {pin.raw_name} is not pinned in the lock ({pin.source})")
            continue
        if not req.specifier.contains(version, prereleases=True):
            reasons.append(
                f"{req.source}: {shown} is not satisfied by the lock's "
                f"{pin.raw_name}=={version} ({pin.source})"
            )
        if is_constraint:
            continue
        missing = sorted(req.extras - pin.extras) if check_extras else []
        if missing:
            reasons.append(
                f"{req.source}: {shown} asks for extra(s) {', '.join(missing)} the lock's "
                f"{pin.raw_name} was not resolved with ({pin.source})"
            )
        if not applicable:
            reasons.append(
                f"{req.source}: {shown} applies here but the lock's {pin.raw_name} only applies "
                f"where {pin.marker} ({pin.source})"
            )
        elif (
            pin.marker is not None
            and pin.dependency_groups is None
            # pip-compile copies an input's marker onto its pin: a different one means the
            # input's marker changed (or was dropped) since.
            and (req.marker is None or str(req.marker) != str(pin.marker))
        ):
            reasons.append(
                f"{req.source}: {shown} has a different marker than the lock's "
                f"{pin.raw_name} ; {pin.marker} ({pin.source})"
            )
    return reasons


_INPUT_REF_RE = re.compile(r"^(-r\s+\S.*|.+\(\S*\.toml\))$")


def _unreached(inputs: Inputs, lock_file: Path) -> list[str]:
    """Pins that no input reaches any more, following pip-compile's ``# via`` annotations."""
    from pipkit.core.reqfile import read_via

    via = read_via(lock_file)
    if not via:
        return []
    children: dict[NormalizedName, set[NormalizedName]] = {}
    roots: set[NormalizedName] = set()
    for name, items in via.items():
        for item in items:
            if item.startswith("-c ") or _INPUT_REF_RE.match(item):
                continue  # input references: whether the input still names it is below
            parent = re.split(r"[\[\s(]", item, maxsplit=1)[0]
            children.setdefault(canonicalize_name(parent), set()).add(name)
    roots = {name for name in via if name in inputs.names}
    reached: set[NormalizedName] = set()
    stack = list(roots)
    while stack:
        name = stack.pop()
        if name in reached:
            continue
        reached.add(name)
        stack.extend(children.get(name, ()))
    return [
        f"{lock_file}: {name} is reached by no input any more (was via {', '.join(items)})"
        for name, items in via.items()
        if name not in reached
    ]


# --------------------------------------------------------------------------------------------
# Editing the inputs: requirements.in


def _requirement_name(line: str) -> NormalizedName | None:
    """The project a plain requirements-file line names (None for options, comments, URLs
    without a name)."""
    text = re.sub(r"(^|\s+)#.*$", "", line).strip()
    if not text or text.startswith("-"):
        return None
    text = text.split(" -", 1)[0].strip()
    try:
        return canonicalize_name(Requirement(text).name)
    except InvalidRequirement:
        match = re.search(r"[#&]egg=([A-Za-z0-9._-]+)", text)
        return canonicalize_name(match.group(1)) if match else None


def add_requirement_line(text: str, spec: str) -> str:
    """*text* (a requirements.in) with *spec* added, or replacing the line naming its project."""
    name = canonicalize_name(Requirement(spec).name)
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if _requirement_name(line) == name:
            comment = re.search(r"\s+#.*$", line.rstrip("\r\n"))
            ending = line[len(line.rstrip("\r\n")) :]
            lines[index] = spec + (comment.group(0) if comment else "") + (ending or "\n")
            return "".join(lines)
    if text and not text.endswith("\n"):
        text += "\n"
    return text + spec + "\n"


def remove_requirement_line(text: str, name: str) -> str | None:
    """*text* without the lines naming *name*; None when no line does."""
    key = canonicalize_name(name)
    lines = text.splitlines(keepends=True)
    kept = [line for line in lines if _requirement_name(line) != key]
    return None if len(kept) == len(lines) else "".join(kept)


# --------------------------------------------------------------------------------------------
# Editing the inputs: pyproject.toml, as text


@dataclass(frozen=True)
class _Item:
    start: int  # the string literal's span in the file
    end: int
    value: str


def _scan_string(text: str, i: int) -> tuple[int, str]:
    """A TOML string literal starting at *i*: (index after it, its value)."""
    quote = text[i]
    triple = text.startswith(quote * 3, i)
    delim = quote * 3 if triple else quote
    j = i + len(delim)
    while j < len(text):
        if quote == '"' and text[j] == "\\":
            j += 2
            continue
        if text.startswith(delim, j):
            end = j + len(delim)
            literal = text[i:end]
            try:
                value = tomllib.loads(f"v = {literal}")["v"]
            except tomllib.TOMLDecodeError:
                raise InputError(f"cannot read the string {literal!r}") from None
            return end, str(value)
        if not triple and text[j] == "\n":
            break
        j += 1
    raise InputError("unterminated string in the dependencies array")


def _scan_array(text: str, start: int) -> tuple[int, list[_Item]]:
    """The array whose ``[`` is at *start*: (index after its ``]``, its top-level strings)."""
    items: list[_Item] = []
    depth = 0
    i = start
    while i < len(text):
        char = text[i]
        if char == "#":
            newline = text.find("\n", i)
            i = len(text) if newline < 0 else newline
            continue
        if char in "\"'":
            end, value = _scan_string(text, i)
            if depth == 1:
                items.append(_Item(i, end, value))
            i = end
            continue
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                return i + 1, items
        i += 1
    raise InputError("unterminated dependencies array")


_TABLE_RE = re.compile(r"^[ \t]*\[\[?[ \t]*([^\]\n]+?)[ \t]*\]\]?[ \t]*(?:#.*)?$", re.MULTILINE)
_DEPS_KEY_RE = re.compile(r"^[ \t]*(?:dependencies|\"dependencies\")[ \t]*=[ \t]*", re.MULTILINE)


def _project_table(text: str, path: str = "pyproject.toml") -> tuple[int, int]:
    """The span of the ``[project]`` table's body (after its header, to the next table)."""
    headers = list(_TABLE_RE.finditer(text))
    for index, match in enumerate(headers):
        if match.group(1).strip() in ("project", '"project"'):
            end = headers[index + 1].start() if index + 1 < len(headers) else len(text)
            return match.end(), end
    raise InputError("no [project] table", location=path)


def _dependencies_array(
    text: str, path: str = "pyproject.toml"
) -> tuple[int, int, list[_Item]] | None:
    """(start of ``[``, index after ``]``, items) of ``[project] dependencies``, or None."""
    body_start, body_end = _project_table(text, path)
    position = body_start
    while True:
        match = _DEPS_KEY_RE.search(text, position, body_end)
        if match is None:
            return None
        if text[match.end() : match.end() + 1] == "[":
            end, items = _scan_array(text, match.end())
            return match.end(), end, items
        position = match.end()


def _dependency_name(value: str) -> NormalizedName | None:
    try:
        return canonicalize_name(Requirement(value).name)
    except InvalidRequirement:
        return None


def _checked(new_text: str, expected: list[str], path: str) -> str:
    """*new_text*, after making sure it parses to exactly the *expected* dependencies."""
    try:
        deps = tomllib.loads(new_text).get("project", {}).get("dependencies")
    except tomllib.TOMLDecodeError as exc:
        raise OperationError(
            f"{path}: editing the dependencies would break the file ({exc})"
        ) from None
    if deps != expected:
        raise OperationError(f"{path}: could not edit the dependencies array safely")
    return new_text


def add_pyproject_dependency(text: str, spec: str, *, path: str = "pyproject.toml") -> str:
    """*text* with *spec* in ``[project] dependencies`` (replacing an entry for the same
    project), edited as text: formatting and comments stay as they are."""
    current = list(_load_toml(text, path).get("project", {}).get("dependencies", []))
    name = canonicalize_name(Requirement(spec).name)
    literal = json.dumps(spec)
    found = _dependencies_array(text, path)
    if found is None:
        start, end = _project_table(text, path)
        block = f"dependencies = [\n    {literal},\n]\n"
        # After the table's last non-blank line.
        insert_at = start + len(text[start:end].rstrip()) if text[start:end].strip() else start
        rest = text[insert_at:].lstrip("\n")
        new_text = text[:insert_at] + "\n" + block + ("\n" + rest if rest else "")
        return _checked(new_text, [spec], path)
    open_at, close_end, items = found
    for item in items:
        if _dependency_name(item.value) == name:
            expected = [spec if v == item.value else v for v in current]
            new_text = text[: item.start] + literal + text[item.end :]
            return _checked(new_text, expected, path)
    expected = [*current, spec]
    inner = text[open_at + 1 : close_end - 1]
    if not items:
        if "\n" in inner:
            new_text = text[: open_at + 1] + f"\n    {literal},\n" + text[close_end - 1 :]
        else:
            new_text = text[:open_at] + f"[{literal}]" + text[close_end:]
        return _checked(new_text, expected, path)
    last = items[-1]
    multiline = "\n" in text[open_at : last.start]
    if not multiline:
        new_text = text[: last.end] + f", {literal}" + text[last.end :]
        return _checked(new_text, expected, path)
    line_start = text.rfind("\n", 0, last.start) + 1
    leading = re.match(r"[ \t]*", text[line_start:])
    indent = leading.group(0) if leading else ""
    after = text[last.end : close_end - 1]
    comma = re.match(r"[ \t]*,", after)
    head = text[: last.end]
    if comma is None:
        head += ","
        rest_start = last.end
    else:
        head = text[: last.end + comma.end()]
        rest_start = last.end + comma.end()
    # Past a comment that ends the last item's line.
    newline = text.find("\n", rest_start, close_end)
    if newline < 0:  # "]" on the last item's line
        new_text = head + f"\n{indent}{literal},\n" + text[rest_start:].lstrip(" \t")
        return _checked(new_text, expected, path)
    new_text = head + text[rest_start:newline] + f"\n{indent}{literal}," + text[newline:]
    return _checked(new_text, expected, path)


def remove_pyproject_dependency(
    text: str, package: str, *, path: str = "pyproject.toml"
) -> str | None:
    """*text* without the ``[project] dependencies`` entries naming *package*; None if none."""
    key = canonicalize_name(package)
    _load_toml(text, path)  # a broken file is reported as such, not half-scanned
    found = _dependencies_array(text, path)
    if found is None:
        return None
    _open_at, _close_end, items = found
    doomed = [item for item in items if _dependency_name(item.value) == key]
    if not doomed:
        return None
    current = list(_load_toml(text, path).get("project", {}).get("dependencies", []))
    expected = [v for v in current if _dependency_name(v) != key]
    new_text = text
    for item in reversed(doomed):
        line_start = new_text.rfind("\n", 0, item.start) + 1
        line_end = new_text.find("\n", item.end)
        line_end = len(new_text) if line_end < 0 else line_end
        before = new_text[line_start : item.start]
        after = new_text[item.end : line_end]
        if not before.strip() and re.fullmatch(r"[ \t]*,?[ \t]*(#.*)?", after):
            new_text = new_text[:line_start] + new_text[line_end + 1 :]  # the whole line
            continue
        following = re.match(r"[ \t]*,[ \t]*", new_text[item.end :])
        if following is not None:
            new_text = new_text[: item.start] + new_text[item.end + following.end() :]
        else:
            preceding = re.search(r",[ \t]*$", new_text[: item.start])
            cut = preceding.start() if preceding else item.start
            new_text = new_text[:cut] + new_text[item.end :]
    return _checked(new_text, expected, path)


# --------------------------------------------------------------------------------------------
# install --save / uninstall --save


@contextlib.contextmanager
def _all_or_nothing(paths: Sequence[Path]) -> Iterator[None]:
    """Restore *paths* (contents, or absence) if the block fails in any way."""
    from pipkit.fsutil import atomic_write_bytes

    saved = {path: path.read_bytes() if path.is_file() else None for path in paths}
    try:
        yield
    except BaseException:
        for path, data in saved.items():
            with contextlib.suppress(OSError):
                if data is None:
                    path.unlink(missing_ok=True)
                else:
                    atomic_write_bytes(path, data)
        raise


def _save_context(create: bool) -> tuple[list[Path], Path, LockSpec]:
    """The input files (the first is where new packages go), the lock to remake, and how it
    was made last time (its header), so the relock keeps its options."""
    lock_path = next(
        (Path(name) for name in ("requirements.txt", "pylock.toml") if Path(name).is_file()),
        Path("requirements.txt"),
    )
    recorded: LockSpec | None = None
    if lock_path.is_file():
        from pipkit.core.lockfile import read_lock

        recorded = spec_from_header(read_lock(lock_path).header.command, lock_path)
    if recorded is not None and recorded.inputs:
        existing = [Path(p) for p in recorded.inputs if os.path.isfile(p)]
        if existing and len(existing) == len(recorded.inputs):
            return existing, lock_path, dataclasses.replace(recorded, output=str(lock_path))
    found = find_inputs(".")
    if found is None:
        if not create:
            raise UsageError("no requirements.in or pyproject.toml here to remove packages from")
        found = Path("requirements.in")
    base = recorded or LockSpec()
    spec = dataclasses.replace(base, inputs=(str(found),), output=str(lock_path))
    return [found], lock_path, spec


def _sync(target: Target, lock_path: Path, command: str) -> None:
    """Bring the target in line with the new lock (``pipkit.sync``, itself all or nothing).

    Failures are raised (OperationError...), so the caller's undo restores the files. An empty
    lock is allowed: removing the last input is asked for explicitly.
    """
    from pipkit import render, sync

    result = sync.sync(
        target, sync.load_lock([str(lock_path)]), yes=True, allow_empty=True, command=command
    )
    render.synced(result.plan)


def _parse_specs(packages: Sequence[str]) -> list[tuple[str, NormalizedName]]:
    specs = []
    for package in packages:
        try:
            req = Requirement(package)
        except InvalidRequirement as exc:
            raise UsageError(f"{package!r} is not a requirement ({_first_line(exc)})") from None
        specs.append((str(req), canonicalize_name(req.name)))
    return specs


def _relock_and_sync(
    target: Target,
    edits: Mapping[Path, str],
    lock_path: Path,
    spec: LockSpec,
    command: str,
) -> None:
    """Write the edited inputs, relock, sync: on any failure every file is put back."""
    from pipkit import render
    from pipkit.fsutil import atomic_write_text

    with _all_or_nothing([*edits, lock_path]):
        for path, text in edits.items():
            atomic_write_text(path, text)
        render.lock_written(lock(target, spec))
        _sync(target, lock_path, command)


def install_save(target: Target, packages: Sequence[str], *, extra: Sequence[str] = ()) -> int:
    """``pipkit install PKG... --save``: add to the input, relock, sync; all or nothing.

    The input is ``requirements.in`` (created if there is no input yet) or ``pyproject.toml``
    (or the first input the lock's header names); the lock is the ``requirements.txt`` (else
    ``pylock.toml``) here, remade with the options its header recorded and the new packages
    upgraded to their newest allowed versions.
    """
    if extra:
        raise UsageError(
            f"pip options ({' '.join(extra)}) cannot be saved in the lock inputs: "
            "install without --save, or put index options in requirements.in"
        )
    if not packages:
        raise UsageError("--save needs the packages to add")
    specs = _parse_specs(packages)
    inputs, lock_path, spec = _save_context(create=True)
    spec = dataclasses.replace(spec, upgrade_packages=tuple(name for _, name in specs))
    input_path = inputs[0]
    text = input_path.read_text(encoding="utf-8") if input_path.is_file() else ""
    for requirement, _name in specs:
        if _is_pyproject(str(input_path)):
            text = add_pyproject_dependency(text, requirement, path=str(input_path))
        else:
            text = add_requirement_line(text, requirement)
    _relock_and_sync(target, {input_path: text}, lock_path, spec, "pipkit install --save")
    return 0


def uninstall_save(target: Target, packages: Sequence[str]) -> int:
    """``pipkit uninstall PKG... --save``: remove from the inputs, relock, sync; all or nothing.

    A package no input lists is an error (exit 2): nothing is changed.
    """
    if not packages:
        raise UsageError("--save needs the packages to remove")
    inputs, lock_path, spec = _save_context(create=False)
    texts = {path: path.read_text(encoding="utf-8") for path in inputs}
    for package in packages:
        found = False
        for path, text in texts.items():
            if _is_pyproject(str(path)):
                edited = remove_pyproject_dependency(text, package, path=str(path))
            else:
                edited = remove_requirement_line(text, package)
            if edited is not None:
                texts[path] = edited
                found = True
        if not found:
            where = ", ".join(str(path) for path in inputs)
            raise UsageError(f"{where}: {package} is not listed there")
    edits = {path: text for path, text in texts.items() if text != path.read_text(encoding="utf-8")}
    _relock_and_sync(target, edits, lock_path, spec, "pipkit uninstall --save")
    return 0

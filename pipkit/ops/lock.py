"""``pipkit lock`` and ``pipkit lock --check``: resolve lock inputs into a lock that says how
it was made, and tell offline whether it is stale.

pip-compile resolves (or ``uv pip compile``, with ``--resolver uv``); this module decides
everything around it, the same for both resolvers:

* **Inputs** (:mod:`pipkit.core.inputs`): ``requirements.in`` or the static dependencies of a
  ``pyproject.toml``; a pyproject's are handed to pip-compile as a generated requirements file.
* **Index settings**: pip-compile runs with ``--no-emit-index-url --no-emit-find-links
  --no-emit-trusted-host --no-emit-options`` so the machine's pip.conf and ``PIP_*`` settings
  (used for resolving, as pip would) never land in the file; the options the *inputs* give are
  written back from what :mod:`pipkit.core.reqfile` read. uv reads no pip.conf: the same
  settings reach it as flags (:func:`pipkit.env.installer.uv_index_args`).
* **Header** (:func:`pipkit.core.reqfile.format_header`, or ``[tool.pipkit]`` in a pylock): the
  regenerate command, a fingerprint of the normalized inputs and the options that shape the
  result, and the Python version and platform the lock was made for.
* **Staleness** (:mod:`pipkit.core.staleness`, offline) for ``--check``.
* **pylock.toml** out: through the target's ``pip lock`` when its pip has it (>= 25.1), else
  built from the resolved set with file URLs from the index matched against the hashes
  pip-compile computed; validated by ``packaging.pylock`` before it is written
  (:mod:`pipkit.core.tomlwrite` writes it).

Every file is written atomically. Processes run only through :mod:`pipkit.env.proc`. Must not
import pip or piptools (they run in a child process, under the right interpreter), and never
prints: slow steps are announced through the ``progress`` callback.

Imports pipkit.env, pipkit.core, pipkit.fsutil and pipkit.errors.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import re
import shlex
import sys
import tempfile
import tomllib
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from pipkit.core.inputs import (
    FORMATS,
    RESOLVERS,
    Inputs,
    LockSpec,
    command_for,
    find_inputs,
    fingerprint,
    read_inputs,
    spec_from_header,
)
from pipkit.core.lockfile import default_lock_path, is_pylock, read_lock
from pipkit.core.model import Lock, LockHeader, LockOptions
from pipkit.core.reqfile import format_header, read_requirements
from pipkit.core.staleness import staleness
from pipkit.core.tomlwrite import dump_toml
from pipkit.errors import InputError, OperationError, TargetError, UsageError
from pipkit.fsutil import atomic_write_bytes, atomic_write_text

if TYPE_CHECKING:
    from pipkit.env.pipconfig import PipConfig
    from pipkit.env.target import Target

_log = logging.getLogger(__name__)

__all__ = ["LockResult", "LockSpec", "Progress", "lock", "stale"]

# Entered around each slow step with a line saying what it does.
Progress = Callable[[str], AbstractContextManager[None]]

# The first pip that has ``pip lock``.
_PIP_LOCK_VERSION = Version("25.1")


@contextlib.contextmanager
def _quiet(text: str) -> Iterator[None]:
    yield


@dataclass(frozen=True)
class LockResult:
    """What :func:`lock` wrote."""

    path: Path
    format: str
    packages: int
    fingerprint: str
    python_version: str
    platform: str
    method: str  # "pip-compile", "uv pip compile", "... + pip lock", "... + index"


# --------------------------------------------------------------------------------------------
# Locking


def _resolve_paths(spec: LockSpec) -> tuple[list[str], Path, str]:
    """The inputs (as given), the output path and the format, with defaults applied."""
    inputs = list(spec.inputs)
    if not inputs:
        found = find_inputs(".")
        if found is None:
            raise UsageError(
                "no requirements.in or pyproject.toml here: name the lock inputs "
                "(pipkit lock FILE...)"
            )
        inputs = [str(found)]
    if spec.resolver is not None and spec.resolver not in RESOLVERS:
        raise UsageError(f"--resolver {spec.resolver}: choose one of {', '.join(RESOLVERS)}")
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
    if fmt == "pylock":
        from packaging.pylock import is_valid_pylock_path

        if not is_valid_pylock_path(output):
            raise UsageError(
                f"-o {output}: a PEP 751 lock is named pylock.toml or pylock.NAME.toml"
            )
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


def _index_config(target: Target | None, opts: LockOptions) -> PipConfig:
    """pip's index settings for the target, with the lock's (or inputs') own options first."""
    from pipkit.env.pipconfig import load_pip_config

    config = load_pip_config(
        site_prefix=target.prefix if target else sys.prefix, environ=os.environ
    )
    return dataclasses.replace(
        config,
        index_url=opts.index_url or config.index_url,
        extra_index_urls=tuple(dict.fromkeys((*config.extra_index_urls, *opts.extra_index_urls))),
        find_links=tuple(dict.fromkeys((*config.find_links, *opts.find_links))),
        trusted_hosts=tuple(dict.fromkeys((*config.trusted_hosts, *opts.trusted_hosts))),
        no_index=config.no_index or opts.no_index,
    )


def _uv_compile(
    target: Target | None,
    inputs: Inputs,
    compile_args: list[str],
    out: Path,
    spec: LockSpec,
    *,
    hashes: bool,
) -> None:
    """``uv pip compile`` for the target's interpreter, writing what pip-compile would: the
    same split annotations, extras and hashes, pip's index settings translated to uv's flags
    (uv reads no pip.conf), none of them emitted into the file."""
    from pipkit.env import proc
    from pipkit.env.installer import find_uv, uv_environment, uv_index_args

    config = _index_config(target, inputs.options)
    index_args, warnings = uv_index_args(config)
    for warning in warnings:
        _log.warning(warning)
    argv = [
        find_uv(), "pip", "compile", "--quiet", "--no-config", "--no-header", "--color", "never",
        "--no-progress", "--annotation-style", "split", "--no-strip-extras",
        "--no-strip-markers",
        "--python", target.python if target is not None else sys.executable,
        "--output-file", str(out),
        *index_args,
    ]  # fmt: skip
    if inputs.options.pre:
        argv += ["--prerelease", "allow"]
    if hashes:
        argv.append("--generate-hashes")  # uv pins pip and setuptools as it finds them
    if spec.upgrade:
        argv.append("--upgrade")
    for package in spec.upgrade_packages:
        argv += ["--upgrade-package", package]
    argv += compile_args
    result = proc.run(argv, env=uv_environment(config))
    if result.returncode != 0:
        raise OperationError("uv could not resolve the inputs:\n" + _uv_tail(result.stderr))


def _uv_tail(text: str, lines: int = 6) -> str:
    """uv's error without its box drawing and hints, for a short message."""
    kept: list[str] = []
    for line in text.splitlines():
        line = line.strip().lstrip("\u00d7\u2570\u2500\u25b6\u2502 ").strip()
        if line and not line.startswith(("hint:", "warning:")):
            kept.append(line)
    return "\n".join(dict.fromkeys(kept[-lines:])) or "(no output)"


def _via_name(inputs: Inputs, display: str) -> str:
    return f"{inputs.project_name or 'project'} ({display})"


def lock(target: Target | None, spec: LockSpec, *, progress: Progress | None = None) -> LockResult:
    """Resolve the inputs and write the lock (atomically). See the module docstring.

    Raises UsageError/InputError (exit 2) for bad options or inputs, OperationError (exit 1)
    when resolving or writing fails; the old lock is then untouched. ``progress`` is entered
    around each slow step with a line saying what it does (the CLI shows a spinner).
    """
    try:
        return _lock(target, spec, progress=progress)
    except OSError as exc:
        where = exc.filename or spec.output or "the lock"
        raise OperationError(f"{where}: {exc.strerror or exc}") from None


def _lock(target: Target | None, spec: LockSpec, *, progress: Progress | None) -> LockResult:
    step = progress or _quiet
    inputs_given, output, fmt = _resolve_paths(spec)
    inputs = read_inputs(inputs_given, extras=spec.extras or (), all_extras=bool(spec.all_extras))
    hashes = spec.hashes is not False or fmt == "pylock"
    use_uv = spec.resolver == "uv"
    python = "" if use_uv else _compile_python(target)
    python_version, platform = _platform(target)
    fp = fingerprint(inputs, format=fmt, hashes=hashes)
    header = LockHeader(
        python_version=python_version,
        platform=platform,
        fingerprint=fp,
        command=command_for(inputs_given, output, spec, fmt),
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
        resolver = "uv pip compile" if use_uv else "pip-compile"
        with step(f"Resolving {label} with {resolver}..."):
            if use_uv:
                _uv_compile(target, inputs, compile_args, compiled, spec, hashes=hashes)
            else:
                _pip_compile(python, inputs, compile_args, compiled, spec, hashes=hashes)
        body = compiled.read_text(encoding="utf-8")
        if inputs.kind == "pyproject":
            # The generated file stands for the pyproject in the "# via" annotations (uv
            # names it relative to the working directory).
            via = _via_name(inputs, inputs_given[0])
            for name in dict.fromkeys((compile_args[0], os.path.relpath(compile_args[0]))):
                body = body.replace(f"-r {name}", via)
        options = _option_lines(inputs.options, output)
        if fmt == "requirements":
            text = format_header(header) + "\n"
            if options:
                text += "\n".join(options) + "\n\n"
            text += body
            count = _write_requirements(output, text, resolver)
            method = resolver
        else:
            pins = "\n".join(options) + "\n\n" + body if options else body
            compiled.write_text(pins, encoding="utf-8")
            with step("Writing pylock.toml..."):
                count, method = _write_pylock(target, inputs, compiled, output, header)
                method = method.replace("pip-compile", resolver, 1)
    return LockResult(
        path=output,
        format=fmt,
        packages=count,
        fingerprint=fp,
        python_version=python_version,
        platform=platform,
        method=method,
    )


def _write_requirements(output: Path, text: str, resolver: str = "pip-compile") -> int:
    """Write a requirements lock after reading it back (a file pip would refuse is not written)."""
    folder = output.parent if str(output.parent) else Path(".")
    with _scratch(folder, ".txt") as scratch:
        scratch.write_text(text, encoding="utf-8")
        try:
            written = read_requirements(scratch)
        except InputError as exc:
            raise OperationError(f"{resolver} wrote a lock pipkit cannot read ({exc})") from None
        _atomic_replace(scratch, output)
    return len(written.entries)


def _atomic_replace(source: Path, dest: Path) -> None:
    """Rename a finished scratch file over *dest*, keeping dest's permissions."""
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

    config = _index_config(target, resolved.options)
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


# --------------------------------------------------------------------------------------------
# lock --check


def stale(
    spec: LockSpec, *, environment: Mapping[str, str] | None = None
) -> tuple[Path, list[str]]:
    """``pipkit lock --check``: the lock and why it is stale (empty: up to date). Offline.

    The lock is ``-o`` if given, else ``requirements.txt`` (or ``pylock.toml``) beside the
    first input or in the working directory. What *spec* leaves unsaid comes from the lock.
    """
    if spec.output:
        output = Path(spec.output)
    else:
        folder = Path(spec.inputs[0]).parent if spec.inputs else Path(".")
        output = folder / "pylock.toml" if spec.format == "pylock" else default_lock_path(folder)
    if not output.is_file():
        raise UsageError(f"{output}: no such lock (make it with pipkit lock)")
    if not spec.inputs:
        recorded = spec_from_header(read_lock(output).header.command, output)
        recorded_inputs = recorded.inputs if recorded else ()
        if not any(os.path.isfile(p) for p in recorded_inputs) and not find_inputs(output.parent):
            raise UsageError(f"{output}: no lock inputs found to check it against (name them)")
    reasons = staleness(output, list(spec.inputs) or None, spec=spec, environment=environment)
    return output, reasons

"""The target interpreter: which one, and what it looks like.

Every command acts on one interpreter, chosen by ``--python`` (an interpreter or a venv
folder), else ``PIPKIT_PYTHON``, else ``$VIRTUAL_ENV``, else a ``.venv`` in the working folder
or one of its parents (as uv looks for it). When none is found, a command that changes an
environment is refused (:class:`NoEnvironment`); a read-only one reads the interpreter running
pipkit, and the target says so (``origin``), so the CLI can tell the user. What pipkit needs
from it (paths, marker environment) comes from one run of ``probe.py``, cached on disk keyed
by the interpreter's path, size and mtime and the mtimes of its site-packages, so a warm
command starts no Python but pipkit's own. Effectful (reads files, runs the probe through
``pipkit.env.proc``).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipkit.errors import TargetError

_PROBE_VERSION = 2


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """pipkit's cache folder: ``$PIPKIT_CACHE_DIR``, else ``$XDG_CACHE_HOME/pipkit``."""
    from pipkit.env.cachedir import cache_root

    return Path(cache_root(environ))


FALLBACK = "pipkit's own interpreter"  # the origin of a target nobody named


class NoEnvironment(TargetError):
    """No --python, PIPKIT_PYTHON, $VIRTUAL_ENV nor .venv: nothing to change (exit 2)."""

    def __init__(self, cwd: str) -> None:
        super().__init__(
            f"no virtual environment found (looked for .venv in {cwd} and its parents): "
            "create one with python -m venv .venv, or pass --python"
        )


@dataclass(frozen=True)
class Target:
    """One interpreter pipkit reads and changes, as its probe described it."""

    python: str  # the interpreter path pipkit runs (``<python> -m pip``)
    prefix: str
    base_prefix: str
    version: tuple[int, int, int]
    in_venv: bool
    externally_managed: bool
    purelib: str
    platlib: str
    scripts: str
    sys_path: tuple[str, ...]
    user_site: str | None
    platform_tag: str
    marker_env: dict[str, str]
    data: str = ""  # pip's data scheme path (the prefix, for a venv)
    headers: str = ""  # pip's headers scheme path (without the project's name)
    origin: str = ""  # where the choice came from: --python, PIPKIT_PYTHON, ... or FALLBACK

    @property
    def python_version(self) -> str:
        return f"{self.version[0]}.{self.version[1]}"

    @property
    def runs_pipkit(self) -> bool:
        """Whether pipkit itself runs inside this environment (so must not break itself)."""
        return os.path.realpath(self.prefix) == os.path.realpath(sys.prefix)

    @property
    def state_dir(self) -> Path:
        """Where pipkit keeps its journal, history and lock for this environment.

        Inside the venv for a venv; for another interpreter a per-interpreter folder in the
        user's data dir (a system prefix is rarely writable).
        """
        if self.in_venv:
            return Path(self.prefix) / "pipkit"
        data = os.environ.get("XDG_DATA_HOME") or os.path.join(
            os.path.expanduser("~"), ".local", "share"
        )
        key = hashlib.sha256(os.path.realpath(self.python).encode()).hexdigest()[:16]
        return Path(data) / "pipkit" / "interpreters" / key

    def scheme_dirs(self) -> tuple[str, ...]:
        """Every folder pip's install scheme writes into: purelib, platlib, scripts, data,
        headers (the data folder is the prefix itself for a venv)."""
        dirs = (self.purelib, self.platlib, self.scripts, self.data, self.headers)
        return tuple(dict.fromkeys(d for d in dirs if d))

    def site_dirs(self) -> tuple[str, ...]:
        """purelib and platlib, deduplicated: where installs land."""
        return tuple(dict.fromkeys((self.purelib, self.platlib)))

    def modification_refusal(self) -> str | None:
        """Why this target must not be changed without --break-system-packages, or None."""
        if self.externally_managed:
            return (
                f"{self.python} is externally managed (PEP 668); "
                "use a venv or pass --break-system-packages"
            )
        if not self.in_venv:
            return (
                f"{self.python} is not a virtual environment; "
                "pass --break-system-packages to change it anyway"
            )
        return None


def _interpreter_in(folder: Path) -> Path | None:
    for candidate in ("bin/python", "bin/python3", "Scripts/python.exe"):
        path = folder / candidate
        if path.exists():
            return path
    return None


def choose_interpreter(
    python: str | None,
    environ: Mapping[str, str] | None = None,
    cwd: str | None = None,
    *,
    changing: bool = False,
) -> tuple[str, str]:
    """The interpreter path to use and where that choice came from (for messages).

    With nothing named and no ``.venv`` found, ``changing`` raises :class:`NoEnvironment`;
    otherwise the interpreter running pipkit is returned with origin :data:`FALLBACK`.
    """
    env = os.environ if environ is None else environ
    here = Path(cwd or os.getcwd())
    choices: list[tuple[str | None, str]] = [
        (python, "--python"),
        (env.get("PIPKIT_PYTHON"), "PIPKIT_PYTHON"),
        (env.get("VIRTUAL_ENV"), "VIRTUAL_ENV"),
    ]
    for value, origin in choices:
        if not value:
            continue
        path = Path(value).expanduser()
        if not path.is_absolute():
            path = here / path
        if path.is_dir():
            found = _interpreter_in(path)
            if found is None:
                raise TargetError(f"{origin} {value}: no Python interpreter in this folder")
            return str(found), origin
        if path.is_file() and os.access(path, os.X_OK):
            return str(path), origin
        raise TargetError(f"{origin} {value}: not a Python interpreter or venv folder")
    for folder in (here, *here.parents):
        dotvenv = folder / ".venv"
        if dotvenv.is_dir() and (found := _interpreter_in(dotvenv)) is not None:
            return str(found), ".venv" if folder == here else f"{dotvenv}"
    if changing:
        raise NoEnvironment(str(here))
    return sys.executable, FALLBACK


def _stamp(python: str, extra_dirs: tuple[str, ...] = ()) -> list[Any]:
    """What must be unchanged for a cached probe to be trusted: stat results only."""
    real = os.stat(python)
    stamp: list[Any] = [os.path.abspath(python), real.st_size, real.st_mtime_ns, real.st_ino]
    cfg = Path(python).parent.parent / "pyvenv.cfg"
    stamp.append(cfg.stat().st_mtime_ns if cfg.exists() else None)
    for folder in extra_dirs:
        # .pth files there can extend sys.path, so a change there means re-probe.
        try:
            stamp.append(os.stat(folder).st_mtime_ns)
        except OSError:
            stamp.append(None)
    return stamp


def _run_probe(python: str) -> dict[str, Any]:
    from pipkit.env import proc

    # Passed with -c, not by path: a script's folder would land on the probed sys.path.
    source = Path(__file__).with_name("probe.py").read_text()
    try:
        result = proc.run([python, "-E", "-c", source], timeout=60)
    except Exception as exc:
        raise TargetError(f"{python}: not a working Python interpreter ({exc})") from exc
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["exit code " + str(result.returncode)])[-1]
        raise TargetError(f"{python}: not a working Python interpreter ({last})")
    try:
        data: dict[str, Any] = json.loads(result.stdout)
    except ValueError as exc:
        raise TargetError(f"{python}: not a working Python interpreter (bad probe output)") from exc
    return data


def probe(python: str, *, use_cache: bool = True) -> dict[str, Any]:
    """The probe's answer for ``python``, from the disk cache when still valid."""
    key = hashlib.sha256(os.path.abspath(python).encode()).hexdigest()[:24]
    cache_file = cache_dir() / "probe" / f"{key}.json"
    if use_cache:
        try:
            cached = json.loads(cache_file.read_text())
            dirs = tuple(cached["data"].get("_site_dirs", ()))
            if cached.get("v") == _PROBE_VERSION and cached["stamp"] == _stamp(python, dirs):
                data: dict[str, Any] = cached["data"]
                return data
        except (OSError, ValueError, KeyError, TypeError):
            pass
    data = _run_probe(python)
    dirs = tuple(dict.fromkeys(p for p in (data.get("purelib"), data.get("platlib")) if p))
    data["_site_dirs"] = list(dirs)
    try:
        from pipkit.fsutil import atomic_write_text

        payload = {"v": _PROBE_VERSION, "stamp": _stamp(python, dirs), "data": data}
        atomic_write_text(cache_file, json.dumps(payload))
    except OSError:
        pass  # a read-only cache only costs speed
    return data


def resolve_target(
    python: str | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: str | None = None,
    *,
    changing: bool = False,
) -> Target:
    """Choose the target interpreter (:func:`choose_interpreter`) and describe it."""
    path, origin = choose_interpreter(python, environ, cwd, changing=changing)
    data = probe(path)
    return Target(
        python=path,
        prefix=data["prefix"],
        base_prefix=data["base_prefix"],
        version=(data["version"][0], data["version"][1], data["version"][2]),
        in_venv=bool(data["in_venv"]),
        externally_managed=bool(data["externally_managed"]),
        purelib=data["purelib"],
        platlib=data["platlib"],
        scripts=data["scripts"],
        sys_path=tuple(data["sys_path"]),
        user_site=data.get("user_site"),
        platform_tag=data.get("platform_tag", ""),
        marker_env=dict(data["marker_env"]),
        data=data.get("data") or data["prefix"],
        headers=data.get("headers") or "",
        origin=origin,
    )


# Run under the target with pipkit's own packaging put first on its path (packaging is pure
# Python): the tags the target's own pip would accept, in its order of preference.
_TAGS_SOURCE = """
import json, sys
sys.path.insert(0, sys.argv[1])
try:
    from packaging.tags import sys_tags
    sys.stdout.write(json.dumps([str(tag) for tag in sys_tags()]))
except Exception:
    sys.stdout.write("null")
"""


def supported_tags(target: Target) -> tuple[str, ...]:
    """The wheel tags ``target`` accepts, most preferred first (``packaging.tags.sys_tags``
    computed inside the target), cached on disk like the probe but apart from it: only a
    pylock sync needs them, and every other command reads the probe's cache.

    When the target cannot run pipkit's packaging, the tags are computed here from what the
    probe knows (its Python version and platform: pure-Python wheels and the platform's
    plain tag), so a binary wheel may then lose to the sdist.
    """
    import packaging

    key = hashlib.sha256(os.path.abspath(target.python).encode()).hexdigest()[:24]
    cache_file = cache_dir() / "tags" / f"{key}.json"
    stamp = _stamp(target.python)
    try:
        cached = json.loads(cache_file.read_text())
        if cached.get("v") == _PROBE_VERSION and cached["stamp"] == stamp:
            return tuple(cached["tags"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    from pipkit.env import proc

    where = os.path.dirname(os.path.dirname(os.path.abspath(packaging.__file__)))
    tags: list[str] | None = None
    try:
        result = proc.run([target.python, "-E", "-c", _TAGS_SOURCE, where], timeout=60)
        if result.returncode == 0:
            tags = json.loads(result.stdout)
    except Exception:  # a target that cannot run it: the fallback below
        tags = None
    if not tags:
        tags = _tags_from_probe(target)
    try:
        from pipkit.fsutil import atomic_write_text

        atomic_write_text(
            cache_file, json.dumps({"v": _PROBE_VERSION, "stamp": stamp, "tags": tags})
        )
    except OSError:
        pass
    return tuple(tags)


def _tags_from_probe(target: Target) -> list[str]:
    from packaging.tags import compatible_tags, cpython_tags

    version = (target.version[0], target.version[1])
    platform = target.platform_tag.replace("-", "_").replace(".", "_")
    found = []
    if target.marker_env.get("implementation_name") == "cpython":
        found += [str(t) for t in cpython_tags(version, platforms=[platform])]
    found += [str(t) for t in compatible_tags(version, platforms=[platform])]
    return list(dict.fromkeys(found))

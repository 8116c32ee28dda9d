"""Whole answers kept: a read-only command's exact output, replayed while nothing it read changed.

The daily commands a CI job or a shell prompt runs again and again (a no-op ``check`` or
``sync --yes``, ``freeze``, ``list``) give the same bytes as long as their inputs are the same.
When one of them succeeds and changed nothing, the console script (:mod:`pipkit.fastpath`)
keeps what it wrote (stdout and stderr, in order) and its exit code under two things:

* a **key**: the command line, the working directory, the environment variables pipkit, pip
  and uv read, whether each stream is a terminal (and its width), pipkit's version;
* the **dependencies** (:class:`Deps`): every file whose bytes the answer read (the lock, the
  lock's inputs, the config files), every path whose presence decided something (a ``.venv``
  nearer than the one taken, a second default lock, a pending journal), the stat of the
  interpreter and of every ``sys.path`` folder, and the names and mtimes of the
  ``*.dist-info`` / ``*.egg-info`` / ``.pth`` / ``.egg-link`` entries of the site dirs (any
  install, removal or upgrade changes one of those).

The next run with the same key recomputes the dependencies' stamp with nothing but ``os``
calls and replays the answer when it matches: start-up plus a few hundred ``stat`` calls,
no import beyond the standard library's ``os``, ``sys`` and ``marshal``. An answer is
never kept when it did not exit 0, when the stamp moved while the command ran (it changed
something), when a lock includes other files (``-r``/``-c``) or expands ``${VARS}``, when the
target has an editable install (its ``freeze`` line follows a checkout pipkit does not stamp),
or when the target is pipkit's own interpreter by fallback. ``PIPKIT_NO_CACHE=1`` (or
``PIPKIT_NO_FASTPATH=1``) turns it off.

Layer: env. Imports only the standard library at module level (the fast path counts
milliseconds); :func:`deps_for` imports :mod:`pipkit.env.target`, :mod:`pipkit.env.config` and
:mod:`pipkit.core.defaults` when it runs, after a miss, on the slow path.
"""

from __future__ import annotations

import marshal
import os
import stat  # already imported by os
import sys

from pipkit.env.cachedir import cache_root

# typing costs the replay ~5 ms: mypy and ruff read this constant as typing's.
TYPE_CHECKING = False

if TYPE_CHECKING:  # typing and collections cost milliseconds the replay does not have
    from collections.abc import Sequence
    from typing import Any

_FORMAT = 1
# The environment variables an answer may depend on: pipkit's, pip's and uv's own, the target
# choice, colour and width, where caches and configs live, and what changes Python's I/O.
_ENV_PREFIXES = ("PIPKIT_", "PIP_", "UV_")
_ENV_NAMES = (
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "NO_COLOR",
    "FORCE_COLOR",
    "CLICOLOR",
    "CLICOLOR_FORCE",
    "TERM",
    "COLUMNS",
    "LINES",
    "HOME",
    "XDG_CACHE_HOME",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONNOUSERSITE",
    "PYTHONIOENCODING",
    "PYTHONUTF8",
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
)
_ENTRY_SUFFIXES = (".dist-info", ".egg-info", ".pth", ".egg-link")
_MAX_FILE = 4 * 1024 * 1024  # a bigger input is compared by nobody: not kept
# (patterns compiled on the slow path only: importing re costs the replay ~8 ms)
_UNCACHEABLE = rb"(?m)^\s*(?:-r|-c|--requirement|--constraint)\b|\$\{"
_REGENERATE = rb"(?m)^#\s+(pipkit lock\b.*)$"

if TYPE_CHECKING:
    # A chunk of output: 1 for stdout, 2 for stderr, and the text written.
    Chunk = tuple[int, str]


class Deps:
    """What an answer read: files (by bytes), paths (by presence), stats, and site dirs."""

    __slots__ = ("exists", "files", "scans", "stats")

    def __init__(
        self,
        files: Sequence[str] = (),
        exists: Sequence[str] = (),
        stats: Sequence[str] = (),
        scans: Sequence[str] = (),
    ) -> None:
        self.files = tuple(files)
        self.exists = tuple(exists)
        self.stats = tuple(stats)
        self.scans = tuple(scans)

    def as_tuple(self) -> tuple[tuple[str, ...], ...]:
        return (self.files, self.exists, self.stats, self.scans)


class Uncacheable(Exception):
    """An input the stamp cannot vouch for (too big, including other files, an editable)."""


def key(argv: Sequence[str]) -> bytes:
    """Everything outside the files that decides what a command line prints."""
    from pipkit import __version__

    installed = _own_code_stamp()
    env = sorted(
        (name, value)
        for name, value in os.environ.items()
        if name.startswith(_ENV_PREFIXES) or name in _ENV_NAMES
    )
    ttys = []
    for stream in (sys.stdout, sys.stderr):
        try:
            tty = stream.isatty()
            width = os.get_terminal_size(stream.fileno()).columns if tty else None
        except (AttributeError, OSError, ValueError):
            tty, width = False, None
        ttys.append((tty, width))
    # Version 0: no interning flags and no back-references, whose use follows refcounts (so
    # the same key would marshal to other bytes after other imports).
    return marshal.dumps(
        (
            _FORMAT,
            __version__,
            installed,
            sys.version,
            tuple(argv),
            os.getcwd(),
            tuple(env),
            tuple(ttys),
        ),
        0,
    )


def _own_code_stamp() -> tuple[int, int]:
    """The newest mtime and the number of pipkit's own modules: an upgrade of pipkit, or an
    edit of an editable checkout, makes every kept answer a miss."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    newest = count = 0
    for sub in ("", "ops", "env", "core"):
        try:
            with os.scandir(os.path.join(package, sub)) as entries:
                for item in entries:
                    if item.name.endswith(".py"):
                        newest = max(newest, item.stat().st_mtime_ns)
                        count += 1
        except OSError:
            continue
    return newest, count


def _answer_file(key_bytes: bytes) -> str:
    # FNV-1a, 64 bits: a stable name without importing zlib or hashlib (the whole key is
    # kept in the file and compared, so a collision is only a miss).
    digest = 0xCBF29CE484222325
    for byte in key_bytes:
        digest = ((digest ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    name = f"{digest:016x}"
    return os.path.join(cache_root(), "answers", f"{name}.marshal")


def _read_regular(path: str) -> bytes | None:
    """The bytes of a regular file, None when absent; never opens a FIFO or a device (which
    could block), and refuses what is too big to compare."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise Uncacheable(path)
        with open(path, "rb") as handle:
            data = handle.read(_MAX_FILE + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise Uncacheable(path) from exc
    if len(data) > _MAX_FILE:
        raise Uncacheable(path)
    return data


def stamp(deps: Deps) -> tuple[Any, ...]:
    """The state of every dependency now: bytes, presence, stats, site-dir entries."""
    out: list[Any] = []
    for path in deps.files:
        out.append(_read_regular(path))
    for path in deps.exists:
        out.append(os.path.exists(path))
    for path in deps.stats:
        try:
            info = os.stat(path)
            out.append((info.st_mtime_ns, info.st_size, info.st_ino))
        except OSError:
            out.append(None)
    for folder in deps.scans:
        try:
            with os.scandir(folder) as entries:
                found = sorted(
                    (item.name, item.stat().st_mtime_ns, _metadata_mtime(item.path))
                    for item in entries
                    if item.name.endswith(_ENTRY_SUFFIXES)
                )
            out.append(tuple(found))
        except OSError:
            out.append(None)
    return tuple(out)


def _metadata_mtime(path: str) -> int | None:
    """A metadata file edited in place leaves its folder's mtime alone: stat it too."""
    name = "METADATA" if path.endswith(".dist-info") else "PKG-INFO"
    try:
        return os.stat(os.path.join(path, name)).st_mtime_ns
    except OSError:
        return None


def installed_stamp(sys_path: Sequence[str], site_dirs: Sequence[str]) -> tuple[Any, ...]:
    """What is installed, cheaply: the ``sys.path`` folders' stats and the site dirs' metadata
    entries. Equal stamps: nothing was installed, removed or upgraded in between."""
    return stamp(Deps(stats=sys_path, scans=site_dirs))


def replay(argv: Sequence[str]) -> int | None:
    """Write the kept answer for ``argv`` and return its exit code, or None on any miss."""
    if os.environ.get("PIPKIT_NO_CACHE"):
        return None
    try:
        wanted = key(argv)
        with open(_answer_file(wanted), "rb") as handle:
            kept_key, deps, kept_stamp, chunks, code = marshal.load(handle)
        if kept_key != wanted or stamp(Deps(*deps)) != kept_stamp:
            return None
    except Exception:  # a missing, torn or foreign file is a miss, never an error
        return None
    streams = {1: sys.stdout, 2: sys.stderr}
    for stream, text in chunks:
        streams[stream].write(text)
    sys.stdout.flush()
    sys.stderr.flush()
    return int(code)


def keep(
    key_bytes: bytes, deps: Deps, before: tuple[Any, ...], chunks: list[Chunk], code: int
) -> bool:
    """Store an answer when it is safe to replay: exit 0 and nothing moved while it ran."""
    if code != 0 or os.environ.get("PIPKIT_NO_CACHE"):
        return False
    try:
        if stamp(deps) != before:
            return False  # the command changed something (or something else did)
        data = marshal.dumps((key_bytes, deps.as_tuple(), before, tuple(chunks), code))
        from pipkit.fsutil import atomic_write_bytes

        atomic_write_bytes(_answer_file(key_bytes), data)
    except (OSError, ValueError, Uncacheable):
        return False  # a read-only cache only costs speed
    return True


def lock_inputs(lock_path: str, data: bytes) -> list[str]:
    """The files a lock's staleness note depends on: those its ``pipkit lock`` header names,
    and a ``requirements.in`` / ``pyproject.toml`` beside it. A cheap superset; nothing parsed."""
    import contextlib
    import re
    import shlex

    folder = os.path.dirname(os.path.abspath(lock_path))
    names = ["requirements.in", "pyproject.toml"]
    match = re.search(_REGENERATE, data[:4096])
    if match:
        with contextlib.suppress(ValueError):
            names += [w for w in shlex.split(match.group(1).decode(errors="replace"))[2:]]
    found = (os.path.join(folder, name) for name in names if not name.startswith("-"))
    return sorted({path for path in found if os.path.isfile(path)})


def uncacheable_lock(data: bytes) -> bool:
    """A lock whose meaning is more than its own bytes: it includes files or expands variables."""
    import re

    return re.search(_UNCACHEABLE, data) is not None


def _config_files(cwd: str) -> list[str]:
    """Every file a pipkit config could come from: the user file and each pyproject.toml from
    the working folder up (by bytes, so a new one or an edit is seen)."""
    config_home = os.environ.get("XDG_CONFIG_HOME") or os.path.join(
        os.path.expanduser("~"), ".config"
    )
    found = [os.path.join(config_home, "pipkit", "config.toml")]
    folder = cwd
    while True:
        found.append(os.path.join(folder, "pyproject.toml"))
        parent = os.path.dirname(folder)
        if parent == folder:
            return found
        folder = parent


def _has_editable(site_dirs: Sequence[str]) -> bool:
    """An editable install (PEP 610 ``dir_info.editable``, or a legacy ``.egg-link``)."""
    from pipkit.env.dists import declares_editable

    for folder in site_dirs:
        try:
            with os.scandir(folder) as entries:
                names = [item.name for item in entries]
        except OSError:
            continue
        for name in names:
            if name.endswith(".egg-link"):
                return True
            if name.endswith(".dist-info") and declares_editable(os.path.join(folder, name)):
                return True
    return False


def deps_for(
    python: str | None, command: str, locks: Sequence[str], *, changing: bool
) -> Deps | None:
    """What the answer of ``command`` on this target depends on, or None when it must not be
    kept. Resolves the target as the full CLI does (the probe is cached by then)."""
    from pipkit.core.defaults import DEFAULT_LOCK_NAMES
    from pipkit.env.target import FALLBACK, choose_interpreter, probe

    cwd = os.getcwd()
    try:
        interpreter, origin = choose_interpreter(python, changing=changing)
    except Exception:
        return None
    if origin == FALLBACK:
        return None
    data = probe(interpreter)
    site_dirs = tuple(dict.fromkeys(p for p in (data["purelib"], data["platlib"]) if p))
    if _has_editable(site_dirs):
        return None
    exists: list[str] = []
    if python is None and not os.environ.get("PIPKIT_PYTHON") and not os.environ.get("VIRTUAL_ENV"):
        # The .venv search from here up: a nearer one appearing changes the target.
        folder = cwd
        stop = os.path.dirname(os.path.dirname(os.path.dirname(interpreter)))
        while True:
            exists.append(os.path.join(folder, ".venv"))
            parent = os.path.dirname(folder)
            if folder == stop or parent == folder:
                break
            folder = parent
    prefix = data["prefix"]
    state_dir = os.path.join(prefix, "pipkit") if data.get("in_venv") else None
    if state_dir is not None:
        exists.append(os.path.join(state_dir, "transaction", "journal.json"))
    elif command in ("check", "sync"):
        return None  # the journal's place outside a venv is the target module's business
    files = _config_files(cwd)
    if command in ("check", "sync"):
        exists += [os.path.join(cwd, name) for name in DEFAULT_LOCK_NAMES]
        chosen = list(locks)
        if not chosen:  # the configured lock (pipkit.env.config), as the full CLI takes it
            from pipkit.env.config import load

            try:
                configured = load(cwd).lock
            except Exception:
                return None
            chosen = [configured] if configured else []
        if not chosen:
            chosen = [n for n in DEFAULT_LOCK_NAMES if os.path.isfile(os.path.join(cwd, n))][:1]
        for lock in chosen:
            path = os.path.join(cwd, lock)
            content = _read_regular(path)  # Uncacheable for a FIFO, a device, a huge file
            if content is None or uncacheable_lock(content):
                return None
            files.append(path)
            files += lock_inputs(path, content)
    cfg = os.path.join(os.path.dirname(os.path.dirname(interpreter)), "pyvenv.cfg")
    stats = [interpreter, cfg, *data["sys_path"]]
    return Deps(files=files, exists=exists, stats=stats, scans=site_dirs)

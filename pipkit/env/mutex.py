"""The environment mutex: one pipkit at a time changes a given environment.

An ``fcntl`` lock on ``<state_dir>/lock``. The kernel drops it when the holder dies (even by
SIGKILL), so a stale lock file never blocks anyone: only a live holder does. A second pipkit
polls for a bounded time (``PIPKIT_LOCK_TIMEOUT`` seconds, else the configuration's
``lock-timeout``, default 10) and then raises
:class:`~pipkit.errors.LockedError` naming the holder's pid and command. Readers (``check``,
``list``) do not take it: they never change anything.

Effectful (creates the state folder and the lock file). Imports only the standard library,
``pipkit.errors``, ``pipkit.env.config`` (lazily) and (for typing) ``pipkit.env.target``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pipkit.errors import LockedError, UsageError

if TYPE_CHECKING:
    from pipkit.env.target import Target

DEFAULT_TIMEOUT = 10.0
_POLL = 0.05


def lock_timeout(environ: dict[str, str] | None = None) -> float:
    """The wait from ``PIPKIT_LOCK_TIMEOUT`` (seconds, >= 0), else the configuration's
    ``lock-timeout`` (:mod:`pipkit.env.config`), else the default."""
    env = os.environ if environ is None else environ
    raw = env.get("PIPKIT_LOCK_TIMEOUT", "").strip()
    if not raw:
        from pipkit.env.config import active

        configured = active().lock_timeout
        return DEFAULT_TIMEOUT if configured is None else configured
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(f"PIPKIT_LOCK_TIMEOUT={raw!r}: not a number of seconds") from None
    if value < 0 or value != value:  # NaN too
        raise UsageError(f"PIPKIT_LOCK_TIMEOUT={raw!r}: must be >= 0")
    return value


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip()
    except OSError:
        return ""
    return text


@dataclass(frozen=True)
class Mutex:
    """A held environment mutex; ``fd`` is handed to pip (``pass_fds``) so that a pip which
    outlives a killed pipkit keeps the environment locked until it exits."""

    fd: int
    path: Path


@contextlib.contextmanager
def hold(target: Target, *, timeout: float | None = None) -> Iterator[Mutex]:
    """Hold ``target``'s environment lock for the ``with`` block (waits up to ``timeout``)."""
    wait = lock_timeout() if timeout is None else timeout
    folder = target.state_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise LockedError(
            f"cannot create the environment lock in {folder}: {exc.strerror or exc}"
        ) from None
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    who = _holder(fd)
                    raise LockedError(
                        f"another pipkit ({who or 'unknown process'}) is changing "
                        f"{target.prefix}; waited {wait:g} s (set PIPKIT_LOCK_TIMEOUT to wait "
                        "longer)"
                    ) from None
                time.sleep(_POLL)
        # Who holds it, for the message a waiting pipkit prints. Not a lock itself.
        info = f"pid {os.getpid()}: pipkit {' '.join(sys.argv[1:])}".strip()
        os.ftruncate(fd, 0)
        os.pwrite(fd, info.encode("utf-8", "replace"), 0)
        try:
            yield Mutex(fd, folder / "lock")
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)

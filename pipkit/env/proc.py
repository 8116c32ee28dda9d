"""The one place pipkit starts processes.

Everything that runs a program (pip under the target interpreter, uv, the interpreter probe,
pip-compile, the demo's servers) goes through here, so the environment scrubbing, the
streaming and the Ctrl-C behaviour are decided once. pip's own ``PIP_*`` configuration is
kept: users rely on it. Imports only the standard library and ``pipkit.errors``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import IO

from pipkit.errors import OperationError

# Variables that would make the child interpreter import or configure something other than
# what the target itself has: pipkit must see and change the target as it really is.
_SCRUBBED = (
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "PYTHONNOUSERSITE",
    "PYTHONSAFEPATH",
    "PYTHONEXECUTABLE",
    "__PYVENV_LAUNCHER__",
    "PIP_PYTHON",  # pip's own --python redirect would run pip elsewhere
    "PIP_REQUIRE_VIRTUALENV",  # pipkit does its own venv / PEP 668 check
)


# uv's own settings that would make it install from other indexes or files, or into another
# interpreter, than pip's configuration says (pipkit hands uv pip's settings as flags, so both
# installers see the same sources: pipkit.env.installer).
UV_SCRUBBED = (
    "UV_PYTHON",
    "UV_SYSTEM_PYTHON",
    "UV_BREAK_SYSTEM_PACKAGES",
    "UV_INDEX",
    "UV_INDEX_URL",
    "UV_DEFAULT_INDEX",
    "UV_EXTRA_INDEX_URL",
    "UV_FIND_LINKS",
    "UV_NO_INDEX",
    "UV_INDEX_STRATEGY",
    "UV_PRERELEASE",
    "UV_CONSTRAINT",
    "UV_OVERRIDE",
    "UV_BUILD_CONSTRAINT",
    "UV_NO_BINARY",
    "UV_ONLY_BINARY",
    "UV_NO_BUILD",
    "UV_REQUIRE_HASHES",
    "UV_NO_VERIFY_HASHES",
    "UV_EXCLUDE_NEWER",
    "UV_TORCH_BACKEND",
    "UV_CONFIG_FILE",
)


def scrubbed_environ(
    extra: Mapping[str, str] | None = None, *, drop: Sequence[str] = ()
) -> dict[str, str]:
    """os.environ without what would redirect the child interpreter (and ``drop``), plus
    ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED and k not in drop}
    env.setdefault("PYTHONIOENCODING", "utf-8")
    if extra:
        env.update(extra)
    return env


def run(
    argv: Sequence[str],
    *,
    capture: bool = True,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    timeout: float | None = None,
    stdin: str | None = None,
    pass_fds: Sequence[int] = (),
    drop: Sequence[str] = (),
    on_line: Callable[[str], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` to completion with a scrubbed environment (also without ``drop``).

    With ``capture`` stdout and stderr are returned; without, they go to pipkit's own
    (so pip's progress streams to the user). A missing program is an OperationError.
    ``pass_fds`` are inherited by the child (the env lock: a pip that outlives a killed
    pipkit keeps the environment locked until it exits). ``on_line`` (with ``capture``) is
    handed each line of either stream as it comes (a progress bar); the output is still
    returned whole.
    """
    if capture and on_line is not None:
        return _streamed(argv, on_line, scrubbed_environ(env, drop=drop), cwd, timeout, pass_fds)
    try:
        return subprocess.run(
            list(argv),
            env=scrubbed_environ(env, drop=drop),
            cwd=cwd,
            text=True,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.PIPE if capture else None,
            timeout=timeout,
            check=False,
            pass_fds=tuple(pass_fds),
        )
    except FileNotFoundError as exc:
        raise OperationError(f"cannot run {argv[0]}: {exc.strerror}") from exc
    except subprocess.TimeoutExpired as exc:
        raise OperationError(f"{argv[0]} did not finish within {timeout:g} s") from exc


def _streamed(
    argv: Sequence[str],
    on_line: Callable[[str], None],
    environ: dict[str, str],
    cwd: str | None,
    timeout: float | None,
    pass_fds: Sequence[int],
) -> subprocess.CompletedProcess[str]:
    """:func:`run` with both streams read as they come, each whole line handed to
    ``on_line`` (in this thread), and kept apart for the result as ``subprocess.run`` keeps
    them. Ctrl-C or a timeout stops the child as ``subprocess.run`` does."""
    import selectors
    import time

    try:
        child = subprocess.Popen(
            list(argv),
            env=environ,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            pass_fds=tuple(pass_fds),
        )
    except FileNotFoundError as exc:
        raise OperationError(f"cannot run {argv[0]}: {exc.strerror}") from exc
    assert child.stdout is not None and child.stderr is not None
    deadline = None if timeout is None else time.monotonic() + timeout
    out_fd, err_fd = child.stdout.fileno(), child.stderr.fileno()
    kept: dict[int, list[bytes]] = {out_fd: [], err_fd: []}
    partial: dict[int, bytes] = dict.fromkeys(kept, b"")
    try:
        with selectors.DefaultSelector() as selector:
            for stream in (child.stdout, child.stderr):
                selector.register(stream, selectors.EVENT_READ)
            while selector.get_map():
                wait = None if deadline is None else max(0.0, deadline - time.monotonic())
                ready = selector.select(wait)
                if not ready and deadline is not None and time.monotonic() >= deadline:
                    raise subprocess.TimeoutExpired(list(argv), timeout or 0)
                for key, _events in ready:
                    fd = key.fd
                    chunk = os.read(fd, 65536)
                    if not chunk:
                        selector.unregister(key.fileobj)
                        if partial[fd]:
                            on_line(partial[fd].decode("utf-8", "replace"))
                        continue
                    kept[fd].append(chunk)
                    *lines, partial[fd] = (partial[fd] + chunk).split(b"\n")
                    for line in lines:
                        on_line(line.decode("utf-8", "replace"))
        code = child.wait()
    except subprocess.TimeoutExpired as exc:
        child.kill()
        child.wait()
        raise OperationError(f"{argv[0]} did not finish within {timeout:g} s") from exc
    except BaseException:  # Ctrl-C: as subprocess.run, give the child a moment, then kill it
        try:
            child.wait(timeout=0.25)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        raise
    finally:
        child.stdout.close()
        child.stderr.close()
    out, err = b"".join(kept[out_fd]), b"".join(kept[err_fd])
    return subprocess.CompletedProcess(
        list(argv), code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    )


def spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    stdout: int | IO[str] | None = subprocess.PIPE,
    stderr: int | IO[str] | None = subprocess.STDOUT,
    new_session: bool = False,
) -> subprocess.Popen[str]:
    """Start ``argv`` in the background (the demo's servers); the caller owns the process."""
    try:
        return subprocess.Popen(
            list(argv),
            env=scrubbed_environ(env),
            cwd=cwd,
            text=True,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=new_session,
        )
    except FileNotFoundError as exc:
        raise OperationError(f"cannot run {argv[0]}: {exc.strerror}") from exc


def pip(
    python: str,
    args: Sequence[str],
    *,
    capture: bool = False,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    timeout: float | None = None,
    pass_fds: Sequence[int] = (),
    on_line: Callable[[str], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``<python> -m pip ARGS``: pip always runs under the target, never pipkit's own."""
    base = [python, "-m", "pip", "--disable-pip-version-check"]
    if not capture:
        sys.stdout.flush()
    return run(
        [*base, *args],
        capture=capture,
        env=env,
        cwd=cwd,
        timeout=timeout,
        pass_fds=pass_fds,
        on_line=on_line,
    )


def uv(
    binary: str,
    args: Sequence[str],
    *,
    capture: bool = False,
    env: Mapping[str, str] | None = None,
    pass_fds: Sequence[int] = (),
    on_line: Callable[[str], None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``<uv> ARGS`` (``uv pip install --python TARGET ...``), scrubbed like pip, and also
    without uv's own index and interpreter variables (:data:`UV_SCRUBBED`)."""
    if not capture:
        sys.stdout.flush()
    return run(
        [binary, *args],
        capture=capture,
        env=env,
        pass_fds=pass_fds,
        drop=UV_SCRUBBED,
        on_line=on_line,
    )

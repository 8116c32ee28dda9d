"""The demo's server processes: launch a bundled server under the target, read its ready line,
stop it in bounded time.

Each server (``pipkit/servers/threaded.py`` and ``coroutine.py``) runs by path under the *target*
interpreter, in a session of its own, with ``--parent-pid`` so that it stops by itself if pipkit
is killed outright. A reader thread drains its output for its whole life. Stopping is SIGTERM,
then SIGKILL after :data:`STOP_TIMEOUT`; while the demo runs, SIGTERM and SIGHUP act as Ctrl-C
so that cleanup runs.

POSIX only (process groups, ``waitid``). Effectful; processes start only through
:mod:`pipkit.env.proc`. Imports the standard library, pipkit.env.proc and, from the servers
package, only ``common`` (stdlib-only) for the ready-line pattern.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import FrameType

HOST = "127.0.0.1"  # loopback only: the demo never listens on or talks to anything else
READY_TIMEOUT = 20.0  # seconds for a server to print its ready line
STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL
SERVER_GRACE = 2.0  # the servers' own --grace, shorter than STOP_TIMEOUT
TAIL_LINES = 6  # lines of a failed server's output shown in its check


def server_script(kind: str) -> Path:
    """The file a server is launched from (run by path, never imported by pipkit)."""
    import pipkit.servers

    return Path(pipkit.servers.__file__).resolve().parent / f"{kind}.py"


class ServerProcess:
    """One bundled server running under the target interpreter, and its output.

    A reader thread drains the server's output (stdout and stderr merged) for its whole
    life, so the pipe never fills and blocks the server; it keeps the last lines for a
    failure message and signals when the ready line appears.
    """

    def __init__(self, kind: str, process: subprocess.Popen[str]) -> None:
        self.kind = kind
        self.process = process
        self.url: str | None = None
        self.pid: int | None = None
        self.lines: deque[str] = deque(maxlen=200)
        self.launched = time.monotonic()
        self.ready_after = 0.0  # seconds from launch to the ready line
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, name=f"demo-{kind}-output", daemon=True)
        self._reader.start()

    @classmethod
    def launch(
        cls,
        kind: str,
        python: str,
        port: int,
        status_file: Path | None,
        cwd: str,
        *,
        data_dir: Path | None = None,
        read_only: bool = False,
    ) -> ServerProcess:
        """Start server ``kind`` under ``python``; ``data_dir`` serves the live dashboard
        from the documents pipkit writes there (``pipkit ui``, ``demo --serve``)."""
        from pipkit.env import proc

        argv = [python, str(server_script(kind)), "--host", HOST, "--port", str(port)]
        if status_file is not None:
            argv += ["--status-file", str(status_file)]
        if data_dir is not None:
            argv += ["--data-dir", str(data_dir)]
        if read_only:
            argv.append("--read-only")
        argv += [
            "--grace",
            str(SERVER_GRACE),
            # If pipkit is killed outright its `finally` never runs: the server sees its
            # launcher gone and stops by itself.
            "--parent-pid",
            str(os.getpid()),
        ]
        # A session of its own: the terminal's Ctrl-C reaches pipkit only, which then
        # stops the server in order; and killpg reaches anything the server started.
        return cls(kind, proc.spawn(argv, cwd=cwd, new_session=True))

    def _read(self) -> None:
        from pipkit.servers.common import READY_RE

        stream = self.process.stdout
        if stream is None:
            return
        try:
            for raw in stream:
                line = raw.rstrip("\r\n")
                self.lines.append(line)
                match = READY_RE.match(line)
                if match and not self._ready.is_set():
                    self.ready_after = time.monotonic() - self.launched
                    self.url = match.group(2)
                    self.pid = int(match.group(3))
                    self._ready.set()
        except (OSError, ValueError):
            pass  # the pipe was closed under us while stopping

    def tail(self) -> str:
        lines = [line for line in self.lines if line.strip()][-TAIL_LINES:]
        return "\n".join(lines) if lines else "(no output)"

    def wait_ready(self, deadline: float) -> str | None:
        """None once the ready line is seen; otherwise why not (exit, or time out)."""
        while not self._ready.wait(0.05):
            code = self.exit_code()
            if code is not None:
                self._reader.join(1.0)  # let the last lines of output arrive
                if self._ready.is_set():
                    break
                return f"exited with code {code} before it was ready:\n{self.tail()}"
            if time.monotonic() >= deadline:
                return f"no ready line within {READY_TIMEOUT:g} s:\n{self.tail()}"
        return None

    def exit_code(self) -> int | None:
        """The exit code once the server has exited (negative: killed by that signal), else
        None; without reaping it: a zombie leader keeps its process-group id reserved, so
        ``killpg`` can never reach an unrelated group that reused the number."""
        if self.process.returncode is not None:
            return self.process.returncode
        try:
            info = os.waitid(os.P_PID, self.process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:  # already reaped
            return self.process.poll()
        if info is None:
            return None
        return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status

    def alive(self) -> bool:
        return self.exit_code() is None

    def signal(self, signum: int) -> None:
        """Signal the server's whole process group, as long as it is not reaped yet."""
        if self.process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)

    def close(self) -> None:
        self._reader.join(1.0)
        # Closing the pipe under a reader still blocked in read() would wait for that read
        # (the buffer's lock): with a writer left somewhere, leave the pipe to process exit.
        if self.process.stdout is not None and not self._reader.is_alive():
            with contextlib.suppress(OSError):
                self.process.stdout.close()


_hurry = threading.Event()  # a second Ctrl-C while stopping: skip the grace period


def stop_servers(servers: Sequence[ServerProcess]) -> None:
    """SIGTERM every server, wait up to STOP_TIMEOUT, SIGKILL the rest; always bounded."""
    running = [server for server in servers if server.alive()]
    for server in running:
        server.signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for server in running:
        while server.alive() and time.monotonic() < deadline and not _hurry.is_set():
            time.sleep(0.02)
        if server.alive():
            server.signal(signal.SIGKILL)
    for server in servers:
        # Exited or killed, but not reaped yet: the whole group once more, in case the
        # server left a child behind, then reap it (no zombie).
        server.signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.process.wait(timeout=STOP_TIMEOUT)
        server.close()


@contextlib.contextmanager
def _signal_handlers(
    signums: Sequence[signal.Signals], handler: Callable[[int, FrameType | None], None]
) -> Iterator[None]:
    """``handler`` for ``signums`` while the block runs, then the previous handlers again.

    Signal handlers can only be set from the main thread: elsewhere nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, handler) for signum in signums}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def signals_interrupt() -> contextlib.AbstractContextManager[None]:
    """While the demo runs, SIGTERM and SIGHUP stop it like Ctrl-C (so cleanup runs)."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    return _signal_handlers((signal.SIGTERM, signal.SIGHUP), interrupt)


@contextlib.contextmanager
def signals_hurry() -> Iterator[None]:
    """While stopping servers, a signal shortens the wait instead of aborting the stop."""
    _hurry.clear()

    def hurry(signum: int, frame: FrameType | None) -> None:
        _hurry.set()

    with _signal_handlers((signal.SIGINT, signal.SIGTERM, signal.SIGHUP), hurry):
        yield

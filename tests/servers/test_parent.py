"""A server started with --parent-pid stops by itself when its launcher dies (even SIGKILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from tests.conftest import wait_until
from tests.servers.conftest import KINDS, READY_RE, SERVERS_DIR, require_gevent

# The launcher: starts the server with its own pid as --parent-pid, passes the ready line
# and the server's pid on, then waits to be killed.
LAUNCHER = """
import os, signal, subprocess, sys
server = subprocess.Popen(
    [sys.executable, sys.argv[1], "--port", "0", "--parent-pid", str(os.getpid())],
    stdout=subprocess.PIPE, text=True,
)
print(server.stdout.readline().strip(), flush=True)
signal.pause()
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by init) counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("kind", KINDS)
def test_server_stops_when_launcher_is_killed(kind: str) -> None:
    if kind == "coroutine":
        require_gevent()
    launcher = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, str(SERVERS_DIR / f"{kind}.py")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert launcher.stdout is not None
        ready = READY_RE.match(launcher.stdout.readline().strip())
        assert ready, "the server printed no ready line"
        server_pid = int(ready.group(3))
        assert _alive(server_pid)
        launcher.send_signal(signal.SIGKILL)
        launcher.wait(timeout=10)
        wait_until(lambda: not _alive(server_pid), "the server to stop after its launcher died")
    finally:
        launcher.kill()
        launcher.wait(timeout=10)
        if "server_pid" in locals() and _alive(server_pid):
            os.kill(server_pid, signal.SIGKILL)

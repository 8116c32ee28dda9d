"""Launch plumbing shared by both servers: options, the ready line, the fd limit.

Each server script is run by path (``python .../servers/threaded.py --port 0``) under
any interpreter, so this module, like its siblings, imports only the standard library.

The ready line is the contract with whatever launched the server (``pipkit demo``):
exactly one line on stdout, flushed, once the socket listens::

    pipkit-threaded ready on http://127.0.0.1:43127/ (pid 1234)

``READY_RE`` parses it. Everything else a server says goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

#: Matches the ready line; groups: server name, base URL (ends in "/"), pid.
READY_RE = re.compile(r"^(pipkit-[a-z]+) ready on (http://\S+/) \(pid ([0-9]+)\)$")


def make_parser(prog: str, description: str, max_connections: int) -> argparse.ArgumentParser:
    """The options both servers take."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port, 0 picks a free one (default)")
    parser.add_argument(
        "--status-file",
        default=None,
        metavar="PATH",
        help='JSON written by pipkit: {"lock": path, "in_sync": bool, "summary": str}',
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        default=max_connections,
        help=f"concurrent connections served (default {max_connections})",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        help="seconds for keep-alive idle, the whole request head and each read (default 10)",
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=5.0,
        help="seconds in-flight requests get to finish on SIGINT/SIGTERM (default 5)",
    )
    parser.add_argument("--access-log", action="store_true", help="log each request to stderr")
    parser.add_argument(
        "--parent-pid",
        type=int,
        default=None,
        metavar="PID",
        help="stop when process PID is gone (a launcher killed with SIGKILL leaves no server)",
    )
    return parser


def parent_gone(pid: int | None) -> bool:
    """Whether the launcher given by --parent-pid has died (we were re-parented)."""
    return pid is not None and os.getppid() != pid


def url_for(host: str, port: int) -> str:
    """``http://host:port/`` with IPv6 literals in brackets."""
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"


def announce(name: str, host: str, port: int, pid: int) -> None:
    """Print the one ready line and flush it: the launcher is waiting on it."""
    sys.stdout.write(f"{name} ready on {url_for(host, port)} (pid {pid})\n")
    sys.stdout.flush()


def raise_nofile_limit(wanted: int = 65536) -> int:
    """Raise the soft open-files limit toward ``wanted`` (capped by the hard limit).

    One socket per connection: a thousand keep-alive clients need more than the
    common soft limit of 1024. Returns the soft limit in force afterwards.
    """
    try:
        import resource  # POSIX only
    except ImportError:
        return -1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def log(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()

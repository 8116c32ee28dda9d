"""Launch plumbing shared by both servers: options, binding, the ready line, the fd limit,
stopping.

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
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

S = TypeVar("S", bound="Stoppable")
S_co = TypeVar("S_co", bound="Stoppable", covariant=True)

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
        "--data-dir",
        default=None,
        metavar="DIR",
        help="serve the live dashboard at / and the documents pipkit writes in DIR at /data/",
    )
    parser.add_argument(
        "--read-only",
        action="store_true",
        help="answer 405 to anything but GET and HEAD (and serve no /api/echo)",
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


class Stoppable(Protocol):
    """What :func:`bind` and :func:`run_until_stopped` need of a server."""

    server_name: str
    access_log: bool

    def stop(self, grace: float = 5.0) -> bool: ...


class ServerClass(Protocol[S_co]):
    """What :func:`bind` needs of a server class: its defaults, and its constructor."""

    server_name: str
    max_connections: int

    def __call__(
        self,
        server_address: tuple[str, int],
        *,
        status_file: str | None,
        max_connections: int | None,
        limits: Any,
        data_dir: str | None,
        read_only: bool,
    ) -> S_co: ...


class Waitable(Protocol):
    """A stop request: ``threading.Event`` or ``gevent.event.Event``."""

    def wait(self, timeout: float | None = None) -> bool: ...


def bind(
    cls: ServerClass[S],
    prog: str,
    description: str,
    argv: Sequence[str] | None,
    limits_for: Callable[[float], Any],
) -> tuple[S | None, argparse.Namespace]:
    """Parse a server's options, raise the fd limit and bind; the server is None when it
    cannot listen (port taken, address not local), which is said on stderr, no traceback."""
    args = make_parser(prog, description, cls.max_connections).parse_args(argv)
    raise_nofile_limit()
    if args.data_dir is not None and not os.path.isdir(args.data_dir):
        log(f"{cls.server_name}: --data-dir {args.data_dir}: not a folder")
        return None, args
    try:
        server = cls(
            (args.host, args.port),
            status_file=args.status_file,
            max_connections=args.max_connections,
            limits=limits_for(args.timeout),
            data_dir=args.data_dir,
            read_only=args.read_only,
        )
    except OSError as exc:
        log(f"{cls.server_name}: cannot listen on {args.host}:{args.port}: {exc}")
        return None, args
    server.access_log = args.access_log
    return server, args


def run_until_stopped(
    server: Stoppable,
    host: str,
    port: int,
    stop_requested: Waitable,
    args: argparse.Namespace,
    cut: Callable[[], str] = lambda: "connection(s)",
) -> int:
    """Announce the server, wait for a stop request or the launcher's death, then stop it
    within ``--grace``, saying what ``cut()`` cut if connections were left. Returns 0."""
    announce(server.server_name, host, port, os.getpid())
    while not stop_requested.wait(0.5):
        if parent_gone(args.parent_pid):
            log(f"{server.server_name}: launcher {args.parent_pid} is gone, stopping")
            break
    drained = server.stop(args.grace)
    if not drained:
        log(f"{server.server_name}: {cut()} cut at stop")
    log(f"{server.server_name} stopped")
    return 0

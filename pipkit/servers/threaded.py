"""pipkit's threaded HTTP server: ``socketserver`` threads, one per connection.

The classic design of the stdlib's own servers, with the HTTP handled by the shared
``protocol`` module instead of ``http.server``:

* ``ThreadedHTTPServer`` is ``ThreadingMixIn`` + ``TCPServer``. The accept loop runs in
  one thread (``serve_forever``) and starts a daemon thread per accepted connection.
* Connections are bounded by a semaphore of ``max_connections`` slots. When all are
  taken, the accept loop answers ``503`` with ``Retry-After`` and ``Connection: close``
  at once, without waiting for a slot or for the client: the canned answer is written
  non-blockingly (it fits in a fresh socket's send buffer), the write side is shut, and
  the socket goes to ``OverloadRefuser``, one thread that reads and drops what the
  client still sends and closes it at its EOF or after ``overload_linger`` seconds (so
  the close does not reset the answer away). However many clients stall over the cap,
  the accept loop never blocks on one of them.
* ``HTTPRequestHandler`` is a ``StreamRequestHandler`` whose ``handle()`` runs
  ``protocol.serve_connection`` on the socket: keep-alive, pipelining, limits and
  timeouts all live there, so this file and ``coroutine.py`` cannot drift apart.
* Stopping: ``begin_stop()`` makes every connection finish its current request with
  ``Connection: close`` and drop idle keep-alive waits within half a second;
  ``shutdown()`` stops the accept loop; ``drain(timeout)`` waits, bounded, for the
  connection threads. ``main()`` does all three on SIGINT/SIGTERM and exits 0.

Behaviour is set by class attributes (``max_connections``, ``overload_linger``,
``limits``, ``request_queue_size``, ...), as in ``socketserver``. Embedding::

    from pipkit.servers import threaded
    server = threaded.ThreadedHTTPServer(("127.0.0.1", 0))

    @server.app.route("/hello")
    def hello(request):
        return threaded.Response.text("hi")

    threading.Thread(target=server.serve_forever, daemon=True).start()
    ...
    server.stop()

Run by path under any interpreter; it prints one ready line (see ``common.py``)::

    python pipkit/servers/threaded.py --host 127.0.0.1 --port 0

This module imports only the standard library and its siblings; never pipkit, typer
or packaging, so it runs in an environment that has none of them.
"""

from __future__ import annotations

import contextlib
import selectors
import signal
import socket
import socketserver
import threading
import time
from collections.abc import Mapping
from types import FrameType, MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING or __package__:
    from . import common, protocol, routes
else:  # run by path: this file's folder is sys.path[0], so siblings are top-level
    import common
    import protocol
    import routes

App = protocol.App
Limits = protocol.Limits
Request = protocol.Request
Response = protocol.Response

__all__ = ["App", "HTTPRequestHandler", "Limits", "Request", "Response", "ThreadedHTTPServer"]

_OVERLOADED = protocol.Response(
    503, b"503 Service Unavailable\nconnection limit reached\n", headers=[("Retry-After", "1")]
)


class OverloadRefuser:
    """Closes refused connections gracefully, on one thread, so the accept loop need not.

    ``refuse(sock)`` runs on the accept thread and never blocks: it writes the canned
    answer with one non-blocking ``send``, shuts the write side (the client sees the
    answer, then EOF) and drops what already arrived. Closing now, with the client's
    request still coming in, would make the kernel answer it with a reset that can
    destroy the 503 before the client reads it; so the socket is handed to this
    object's thread, which waits (``selectors``) for the client's EOF, dropping what it
    sends, and closes at that EOF or after ``linger`` seconds. At most ``max_lingering``
    sockets wait at once; past that a refused socket is closed at once (bounded file
    descriptors beat a perfect close).
    """

    def __init__(self, answer: bytes, linger: float = 1.0, max_lingering: int = 256) -> None:
        self.answer = answer
        self.linger = linger
        self.max_lingering = max_lingering
        self._lock = threading.Lock()
        self._incoming: list[tuple[socket.socket, float]] = []
        self._count = 0  # incoming plus lingering
        self._closed = False
        self._thread: threading.Thread | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None

    def refuse(self, sock: socket.socket) -> None:
        """Answer ``sock`` and let go of it; never waits for the client."""
        try:
            sock.setblocking(False)
            sent = sock.send(self.answer)
            if sent != len(self.answer):  # cannot happen on a fresh socket; never wait
                raise OSError("short write")
            sock.shutdown(socket.SHUT_WR)
            _drop_input(sock)
        except OSError:  # reset, gone: nothing to answer
            sock.close()
            return
        with self._lock:
            if self._closed or self._count >= self.max_lingering:
                linger = False
            else:
                linger = True
                self._count += 1
                self._incoming.append((sock, time.monotonic() + self.linger))
                if self._thread is None:
                    self._start()
        if not linger:
            sock.close()
            return
        assert self._wake_w is not None
        # Full means wake-ups are pending already; closed means the thread is done.
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")

    @property
    def lingering(self) -> int:
        """Refused sockets not closed yet."""
        return self._count

    def close(self) -> None:
        """Stop the thread and close every socket still lingering."""
        with self._lock:
            self._closed = True
            thread, wake = self._thread, self._wake_w
        if thread is not None and wake is not None:
            with contextlib.suppress(OSError):
                wake.send(b"x")
            thread.join(5)

    def _start(self) -> None:  # with self._lock held
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._thread = threading.Thread(target=self._run, name="refuser", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        wake = self._wake_r
        assert wake is not None
        selector = selectors.DefaultSelector()
        selector.register(wake, selectors.EVENT_READ)
        deadlines: dict[socket.socket, float] = {}  # insertion order is deadline order

        def finish(sock: socket.socket) -> None:
            selector.unregister(sock)
            del deadlines[sock]
            sock.close()
            with self._lock:
                self._count -= 1

        try:
            while True:
                with self._lock:
                    incoming, self._incoming = self._incoming, []
                    closed = self._closed
                if closed:
                    for sock, _ in incoming:
                        sock.close()
                    with self._lock:
                        self._count -= len(incoming)
                    for sock in list(deadlines):
                        finish(sock)
                    return
                for sock, deadline in incoming:
                    deadlines[sock] = deadline
                    selector.register(sock, selectors.EVENT_READ)
                now = time.monotonic()
                while deadlines:
                    first, deadline = next(iter(deadlines.items()))
                    if deadline > now:
                        break
                    finish(first)
                timeout = next(iter(deadlines.values())) - now if deadlines else None
                for key, _ in selector.select(timeout):
                    ready = key.fileobj
                    if ready is wake:
                        _drop_input(wake)
                    elif isinstance(ready, socket.socket) and _drop_input(ready):
                        finish(ready)
        finally:
            selector.close()
            wake.close()
            if self._wake_w is not None:
                self._wake_w.close()


def _drop_input(sock: socket.socket, max_reads: int = 16) -> bool:
    """Read and drop what a non-blocking socket has; True at its EOF (or an error)."""
    for _ in range(max_reads):
        try:
            if not sock.recv(65536):
                return True
        except BlockingIOError:
            return False
        except OSError:
            return True
    return False


class HTTPRequestHandler(socketserver.StreamRequestHandler):
    """Serves one connection with the shared protocol, on its own thread."""

    server: ThreadedHTTPServer
    disable_nagle_algorithm = True  # StreamRequestHandler sets TCP_NODELAY from this
    timeout = None  # the protocol sets its own per-read timeouts

    def handle(self) -> None:
        # The protocol reads the socket itself rather than self.rfile: the keep-alive wait
        # times out every half second to notice a shutdown, and a file object made by
        # makefile() refuses to read again after any time-out.
        server = self.server
        protocol.serve_connection(
            self.connection,
            server.app,
            limits=server.limits,
            server_name=server.server_header,
            client=self.client_address,
            stopping=server.stopping.is_set,
            log=common.log if server.access_log else None,
            default_headers=server.default_headers,
            kernel_timeouts=server.kernel_timeouts,
        )


class ThreadedHTTPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """HTTP/1.1 on ``socketserver`` threads, bounded to ``max_connections``."""

    server_name = "pipkit-threaded"
    concurrency = "threaded"
    daemon_threads = True  # a stuck client must never keep the process alive
    block_on_close = False  # drain() does the bounded wait instead
    allow_reuse_address = True
    request_queue_size = 1024  # listen backlog: bursts of connects wait, not fail
    max_connections = 1024
    overload_linger = 1.0  # how long a refused client may take to read its 503 and close
    limits = protocol.Limits()
    access_log = False
    kernel_timeouts = True  # see protocol.KernelTimeouts: one syscall per read, not two
    default_headers: Mapping[str, str] = MappingProxyType({"X-Content-Type-Options": "nosniff"})

    def __init__(
        self,
        server_address: tuple[str, int],
        app: protocol.App | None = None,
        *,
        status_file: str | None = None,
        max_connections: int | None = None,
        limits: protocol.Limits | None = None,
        handler: type[socketserver.BaseRequestHandler] = HTTPRequestHandler,
        bind_and_activate: bool = True,
        data_dir: str | None = None,
        read_only: bool = False,
    ) -> None:
        if ":" in server_address[0]:
            self.address_family = socket.AF_INET6
        if max_connections is not None:
            self.max_connections = max_connections
        if limits is not None:
            self.limits = limits
        self.server_header = f"{self.server_name}/1.0".encode("ascii")
        self.stopping = threading.Event()
        self._slots = threading.BoundedSemaphore(self.max_connections)
        self._active = 0
        self._active_changed = threading.Condition()
        self.refuser = OverloadRefuser(
            _OVERLOADED.serialize(self.server_header, keep_alive=False), self.overload_linger
        )
        if app is None:
            info = routes.ServerInfo(
                self.server_name, self.concurrency, time.sleep, self._live_json
            )
            app = routes.build_app(
                info, status_file=status_file, data_dir=data_dir, read_only=read_only
            )
        self.app = app
        super().__init__(server_address, handler, bind_and_activate)
        if data_dir is not None or read_only:
            # The dashboard's guard needs the real port, known only once bound.
            host, port = self.server_address[:2]
            routes.guard_dashboard(self.app, str(host), int(port), read_only=read_only)

    # -- facts for /api/env ----------------------------------------------------------

    def _live_json(self) -> str:
        # Numbers only, so formatting is the encoding (see routes.ServerInfo.live_json).
        return (
            f'"connections":{{"active":{self._active},"max":{self.max_connections}}},'
            f'"threads":{threading.active_count()},"gevent":null'
        )

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return common.url_for(str(host), int(port))

    @property
    def active_connections(self) -> int:
        return self._active

    # -- bounded connections ---------------------------------------------------------

    def process_request(self, request: Any, client_address: Any) -> None:
        # Never wait here: this is the accept loop, and a wait per refused client would
        # add up over every client queued behind it.
        if not self._slots.acquire(blocking=False):
            self.refuser.refuse(request)
            return
        with self._active_changed:
            self._active += 1  # counted here, before the thread exists, so drain() sees it
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._release()

    def _release(self) -> None:
        self._slots.release()
        with self._active_changed:
            self._active -= 1
            self._active_changed.notify_all()

    # -- stopping --------------------------------------------------------------------

    def begin_stop(self) -> None:
        """Finish in-flight requests with ``Connection: close``; drop idle connections."""
        self.stopping.set()

    def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for every connection thread; True if all ended."""
        deadline = time.monotonic() + timeout
        with self._active_changed:
            while self._active:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._active_changed.wait(remaining)
        return True

    def stop(self, grace: float = 5.0) -> bool:
        """Everything a clean stop needs, for a server run by ``serve_forever`` elsewhere:
        no new connections, in-flight requests finished (bounded), listener closed."""
        self.begin_stop()
        self.shutdown()
        self.server_close()
        return self.drain(grace)

    def server_close(self) -> None:
        super().server_close()
        self.refuser.close()


def main(argv: list[str] | None = None) -> int:
    server, args = common.bind(
        ThreadedHTTPServer,
        "threaded.py",
        "pipkit's threaded HTTP server",
        argv,
        protocol.Limits.with_timeout,
    )
    if server is None:
        return 1
    stop_requested = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    # serve_forever runs on a helper thread: shutdown() must not be called from the
    # thread running the loop, and the main thread must stay free to take signals.
    accept = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.25}, name="accept", daemon=True
    )
    accept.start()
    host, port = server.server_address[:2]
    return common.run_until_stopped(
        server,
        str(host),
        int(port),
        stop_requested,
        args,
        cut=lambda: f"{server.active_connections} connection(s)",
    )


if __name__ == "__main__":
    raise SystemExit(main())

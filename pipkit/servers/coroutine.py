"""pipkit's coroutine HTTP server: gevent, one greenlet per connection.

The design, after gevent's own ``gevent.server``:

* ``CoroutineHTTPServer`` wraps a ``gevent.server.StreamServer``. Its accept loop
  runs in the hub and spawns each connection into a ``gevent.pool.Pool`` of
  ``max_connections`` greenlets. A full pool makes the StreamServer stop accepting
  until a greenlet ends, so excess connections wait in the kernel's listen queue
  (``backlog``) instead of costing memory here.
* Each greenlet runs ``protocol.serve_connection``, the same HTTP/1.1 code and the
  same ``routes`` app as ``threaded.py``. The sockets StreamServer hands over are
  gevent's cooperative sockets, so a read that would block switches to the hub.
* ``/api/sleep`` sleeps with ``gevent.sleep``: the route never blocks the hub even
  when the server is embedded without monkey-patching.
* ``/api/env`` proves the model from inside: gevent and greenlet versions, whether
  ``socket.socket`` is gevent's patched class, and a count of greenlet switches seen
  by a ``greenlet.settrace`` hook installed when the server starts.
* Stopping: ``begin_stop()`` makes connections finish their current request with
  ``Connection: close`` and drop idle keep-alive waits within half a second; ``stop``
  closes the listener and gives in-flight greenlets ``grace`` seconds before killing
  them.

Monkey-patching happens only inside ``main()``, first thing, before the server or the
app exist: importing this module patches nothing (gevent's own advice: patch in the
program's entry point, never as an import side effect). The protocol module creates no
locks at import time, so what it allocates afterwards is patched.

Run by path under any interpreter that has gevent; it prints one ready line::

    python pipkit/servers/coroutine.py --host 127.0.0.1 --port 0

This module imports only the standard library, gevent, greenlet and its siblings;
never pipkit, typer or packaging.
"""

from __future__ import annotations

import signal
import socket
import sys
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import gevent  # type: ignore[import-untyped]
import gevent.event  # type: ignore[import-untyped]
import gevent.pool  # type: ignore[import-untyped]
import gevent.server  # type: ignore[import-untyped]
import gevent.socket  # type: ignore[import-untyped]
import greenlet  # type: ignore[import-untyped]

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

__all__ = ["App", "CoroutineHTTPServer", "Limits", "Request", "Response"]


class _SwitchCounter:
    """Counts greenlet switches with ``greenlet.settrace``, chaining any previous tracer.

    One Python call per switch: a few per request, cheap next to the request itself.
    """

    def __init__(self) -> None:
        self.switches = 0
        self._previous: Any = None
        self.installed = False

    def install(self) -> None:
        if not self.installed:
            self._previous = greenlet.settrace(self)
            self.installed = True

    def __call__(self, event: str, args: Any) -> None:
        if event in ("switch", "throw"):
            self.switches += 1
        if self._previous is not None:
            self._previous(event, args)


class CoroutineHTTPServer:
    """HTTP/1.1 on gevent greenlets, bounded to ``max_connections``."""

    server_name = "pipkit-coroutine"
    concurrency = "gevent"
    max_connections = 10_000
    backlog = 2048  # listen queue; the kernel caps it at net.core.somaxconn
    limits = protocol.Limits()
    access_log = False
    default_headers: Mapping[str, str] = MappingProxyType({"X-Content-Type-Options": "nosniff"})

    def __init__(
        self,
        server_address: tuple[str, int],
        app: protocol.App | None = None,
        *,
        status_file: str | None = None,
        max_connections: int | None = None,
        limits: protocol.Limits | None = None,
        data_dir: str | None = None,
        read_only: bool = False,
    ) -> None:
        if max_connections is not None:
            self.max_connections = max_connections
        if limits is not None:
            self.limits = limits
        self.server_header = f"{self.server_name}/1.0".encode("ascii")
        self._stopping = False
        self._switches = _SwitchCounter()
        self._facts: str | None = None
        if app is None:
            info = routes.ServerInfo(
                self.server_name, self.concurrency, gevent.sleep, self._live_json
            )
            app = routes.build_app(
                info, status_file=status_file, data_dir=data_dir, read_only=read_only
            )
        self.app = app
        self.pool = gevent.pool.Pool(self.max_connections)
        family = socket.AF_INET6 if ":" in server_address[0] else socket.AF_INET
        listener = gevent.socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(server_address)
        listener.listen(self.backlog)
        self.listener = listener
        if data_dir is not None or read_only:
            # The dashboard's guard needs the real port, known only once bound.
            host, port = listener.getsockname()[:2]
            routes.guard_dashboard(self.app, str(host), int(port), read_only=read_only)
        self.stream = gevent.server.StreamServer(listener, self.handle, spawn=self.pool)

    # -- facts for /api/env ----------------------------------------------------------

    def _gevent_facts(self) -> str:
        """What cannot change once serving has started (patching happens before), as
        encoded JSON members: computed and encoded once."""
        if self._facts is None:
            from gevent import monkey

            hub = gevent.get_hub()
            facts = {
                "version": gevent.__version__,
                "greenlet": greenlet.__version__,
                "socket_patched": socket.socket is gevent.socket.socket,
                "monkey_patched": sorted(
                    name
                    for name in ("socket", "ssl", "select", "threading", "time", "os", "signal")
                    if monkey.is_module_patched(name)
                ),
                "loop": f"{type(hub.loop).__module__}.{type(hub.loop).__name__}",
            }
            self._facts = protocol.JSON_ENCODER.encode(facts)[1:-1]
        return self._facts

    def _live_json(self) -> str:
        # Proof of switching, read from inside a connection's greenlet: the switch count
        # grows with every request, and this code is not running in the hub. Numbers,
        # booleans and a pre-encoded part: formatting is the encoding.
        current = greenlet.getcurrent()
        hub = gevent.get_hub()
        name = protocol.JSON_ENCODER.encode(type(current).__name__)
        return (
            f'"connections":{{"active":{len(self.pool)},"max":{self.max_connections}}},'
            f'"threads":{len(sys._current_frames())},'  # real OS threads, patched or not
            f'"gevent":{{{self._gevent_facts()},'
            f'"greenlet_switches":{self._switches.switches},'
            f'"current_greenlet":{name},'
            f'"in_hub":{"true" if current is hub else "false"},'
            f'"loop_iterations":{int(getattr(hub.loop, "iteration", -1))}}}'
        )

    @property
    def server_address(self) -> tuple[str, int]:
        host, port = self.listener.getsockname()[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        return common.url_for(*self.server_address)

    @property
    def active_connections(self) -> int:
        return len(self.pool)

    # -- serving ---------------------------------------------------------------------

    def handle(self, sock: socket.socket, address: tuple[str, int]) -> None:
        """One connection, in its own greenlet."""
        try:
            protocol.serve_connection(
                sock,
                self.app,
                limits=self.limits,
                server_name=self.server_header,
                client=address,
                stopping=self.stopping,
                log=common.log if self.access_log else None,
                default_headers=self.default_headers,
            )
        finally:
            sock.close()

    def stopping(self) -> bool:
        return self._stopping

    def start(self) -> None:
        """Start accepting in the background (the hub runs it when this greenlet waits)."""
        self._switches.install()
        self.stream.start()

    def serve_forever(self) -> None:
        self._switches.install()
        self.stream.serve_forever()

    def begin_stop(self) -> None:
        """Finish in-flight requests with ``Connection: close``; drop idle connections."""
        self._stopping = True

    def stop(self, grace: float = 5.0) -> bool:
        """Stop accepting, let connections finish for ``grace`` s, kill what is left.

        Returns True when every connection ended on its own.
        """
        self.begin_stop()
        self.stream.close()  # no new connections; the pool keeps running
        drained = bool(self.pool.join(timeout=grace))
        if not drained:
            self.pool.kill(timeout=1)
        self.stream.stop(timeout=0)
        return drained


def main(argv: list[str] | None = None) -> int:
    # First, before anything else runs: every socket, lock and sleep made from here on
    # is cooperative. Only here, never at import time.
    from gevent import monkey

    monkey.patch_all()

    server, args = common.bind(
        CoroutineHTTPServer,
        "coroutine.py",
        "pipkit's gevent HTTP server",
        argv,
        protocol.Limits.with_timeout,
    )
    if server is None:
        return 1
    stop_requested = gevent.event.Event()
    # gevent.signal_handler runs the callback from the event loop, between greenlet
    # switches; a stdlib handler could fire in the middle of one. Setting an Event is
    # all it does: the main greenlet, waiting on it, does the stopping.
    for signum in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(signum, stop_requested.set)

    server.start()
    host, port = server.server_address
    return common.run_until_stopped(server, host, port, stop_requested, args)


if __name__ == "__main__":
    raise SystemExit(main())

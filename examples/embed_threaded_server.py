"""Embed pipkit's threaded HTTP server in a program and add a route of your own.

The public API, all in ``pipkit.servers.threaded``:

* ``ThreadedHTTPServer((host, port))`` builds the server with pipkit's routes (``/``,
  ``/api/env``, ``/api/packages``, ``/api/echo``, ``/api/sleep``, ``/healthz``,
  ``/static/...``) in ``server.app``;
* ``@server.app.route(path, methods=("GET",))`` adds a route: the handler gets a
  ``Request`` (``method``, ``path``, ``query_params()``, ``header(name)``, ``body``)
  and returns a ``Response`` (``Response.text/.json/.html`` or ``Response(status,
  body, content_type, headers)``);
* ``server.serve_forever()`` on a thread, ``server.url``, and ``server.stop(grace)``
  to stop: no new connections, in-flight requests finished, listener closed.

    python examples/embed_threaded_server.py
"""

from __future__ import annotations

import json
import sys
import threading
import urllib.request
from pathlib import Path

try:
    from pipkit.servers import threaded
except ImportError:  # run from a checkout without pipkit installed
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from pipkit.servers import threaded


def main() -> int:
    server = threaded.ThreadedHTTPServer(("127.0.0.1", 0))

    @server.app.route("/api/hello")
    def hello(request: threaded.Request) -> threaded.Response:
        name = request.query_params().get("name", ["world"])[0]
        return threaded.Response.json({"hello": name, "via": server.server_name})

    @server.app.route("/api/reverse", methods=("POST",))
    def reverse(request: threaded.Request) -> threaded.Response:
        return threaded.Response.text(request.body.decode("utf-8", "replace")[::-1])

    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    thread.start()
    print(f"serving on {server.url}")
    try:
        with urllib.request.urlopen(server.url + "api/hello?name=pipkit", timeout=5) as resp:
            print(f"GET /api/hello?name=pipkit -> {resp.status} {json.loads(resp.read())}")
        req = urllib.request.Request(server.url + "api/reverse", data=b"stressed", method="POST")
        with urllib.request.urlopen(req, timeout=5) as resp:
            print(f"POST /api/reverse 'stressed' -> {resp.status} {resp.read().decode()!r}")
        with urllib.request.urlopen(server.url + "healthz", timeout=5) as resp:
            print(f"GET /healthz (a built-in route) -> {resp.status} {resp.read().decode()!r}")
    finally:
        drained = server.stop(grace=2)
        thread.join(5)
    print(f"stopped cleanly: {drained}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

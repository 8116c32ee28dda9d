"""pipkit's bundled HTTP servers, launched by ``pipkit demo``.

Two servers share one HTTP/1.1 implementation (``protocol``) and one set of routes
(``routes``): ``threaded`` (``socketserver`` threads) and ``coroutine`` (gevent
greenlets). Each is also a script, run by path under any interpreter::

    python pipkit/servers/threaded.py --host 127.0.0.1 --port 0
    python pipkit/servers/coroutine.py --host 127.0.0.1 --port 0   # needs gevent

and prints exactly one ready line on stdout (``common.READY_RE`` parses it)::

    pipkit-threaded ready on http://127.0.0.1:43127/ (pid 1234)

Nothing in this package imports pipkit, typer or packaging, and importing this package
imports nothing at all: ``coroutine`` pulls in gevent only when it is itself imported.
"""

from __future__ import annotations

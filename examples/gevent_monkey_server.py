"""A stdlib socket server made cooperative by gevent's monkey-patching.

``main()`` patches first (``monkey.patch_all()``: socket, threading, time, ... become
gevent's), then runs an ordinary ``socketserver.ThreadingTCPServer``. Its "threads" are
now greenlets and its blocking calls yield to the hub. Fifty clients each ask for a
reply that takes 0.2 s (``time.sleep`` in the handler, patched): all fifty answers
arrive in about 0.2 s, in one OS thread.

pipkit's coroutine server (``pipkit/servers/coroutine.py``) patches the same way, and
only inside its ``main()``; importing this file patches nothing.

    python examples/gevent_monkey_server.py
"""

from __future__ import annotations

import sys


def main() -> int:
    from gevent import monkey  # type: ignore[import-untyped]

    monkey.patch_all()  # first: everything below gets the cooperative versions

    import os
    import socket
    import socketserver
    import threading
    import time

    import gevent

    os_threads: set[int] = set()

    class SlowEcho(socketserver.StreamRequestHandler):
        timeout = 5

        def handle(self) -> None:
            line = self.rfile.readline()
            time.sleep(0.2)  # patched: yields instead of blocking the process
            os_threads.add(threading.get_native_id())
            self.wfile.write(b"echo " + line)

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 128

    server = Server(("127.0.0.1", 0), SlowEcho)
    host, port = str(server.server_address[0]), int(server.server_address[1])
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
    serving.start()
    print(f"socket.socket is gevent's: {socket.socket.__module__.startswith('gevent')}")
    print(f"patched socketserver.ThreadingTCPServer listening on {host}:{port}")

    def client(n: int) -> bytes:
        with socket.create_connection((host, port), timeout=5) as sock:
            sock.sendall(b"client %d\n" % n)
            return sock.makefile("rb").readline()

    started = time.perf_counter()
    jobs = [gevent.spawn(client, n) for n in range(50)]
    gevent.joinall(jobs, timeout=10)
    elapsed = time.perf_counter() - started
    replies = [job.value for job in jobs]
    server.shutdown()
    server.server_close()
    serving.join(5)

    print(f"first reply: {replies[0]!r}")
    print(f"50 clients x 0.2 s handler: all answered in {elapsed:.2f} s")
    print(f"OS threads that ran handlers: {len(os_threads)} (pid {os.getpid()})")
    ok = all(r and r.startswith(b"echo client") for r in replies) and elapsed < 2.0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

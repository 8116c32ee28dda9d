"""A tiny package file server on 127.0.0.1 (port 0) for tests: counts requests, can stall.

``with FileServer(folder) as server:`` serves ``folder``'s files at ``server.url + NAME`` and,
at ``server.url``, a flat HTML page linking every file (a ``--find-links`` page). Every request
is counted by path (``server.requests``). ``stall=NAME`` sends half of that file, sets
``server.stalled`` and waits for ``server.release`` before sending the rest: a download that
is in progress for as long as the test wants, without sleeping.
"""

from __future__ import annotations

import collections
import html
import http.server
import threading
from pathlib import Path
from types import TracebackType


class FileServer:
    def __init__(self, folder: Path, *, stall: str | None = None) -> None:
        self.folder = folder
        self.stall = stall
        self.requests: collections.Counter[str] = collections.Counter()
        self.stalled = threading.Event()
        self.release = threading.Event()
        self._lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                self._answer(body=False)

            def do_GET(self) -> None:
                self._answer(body=True)

            def _answer(self, *, body: bool) -> None:
                path = self.path.split("?", 1)[0].split("#", 1)[0]
                with server._lock:
                    server.requests[path] = server.requests[path] + 1
                name = path.lstrip("/")
                if not name:
                    links = "".join(
                        f'<a href="{html.escape(p.name)}">{html.escape(p.name)}</a>\n'
                        for p in sorted(server.folder.iterdir())
                        if p.is_file()
                    )
                    self._send(f"<html><body>\n{links}</body></html>\n".encode(), "text/html", body)
                    return
                file = server.folder / name
                if "/" in name or not file.is_file():
                    self.send_error(404)
                    return
                data = file.read_bytes()
                if body and name == server.stall:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    server.stalled.set()
                    server.release.wait(120)
                    self.wfile.write(data[len(data) // 2 :])
                    return
                self._send(data, "application/octet-stream", body)

            def _send(self, data: bytes, kind: str, body: bool) -> None:
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if body:
                    self.wfile.write(data)

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> FileServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(10)

    def file_requests(self) -> dict[str, int]:
        """Requests per file served (the listing page left out)."""
        with self._lock:
            return {path: n for path, n in self.requests.items() if path != "/"}

"""Tiny package servers on 127.0.0.1 (port 0) for tests: a file server that counts requests
and can stall, and a JSON Simple API index (:class:`SimpleIndex`) that counts them too.

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


class SimpleIndex:
    """A PEP 691 (JSON) Simple API index on 127.0.0.1 (port 0) over a folder of wheels.

    ``with SimpleIndex(folder) as index:`` answers ``index.url + "NAME/"`` with the JSON page
    of every file in ``folder`` whose name is NAME's, and serves the files under ``/files/``.
    ``attributes[FILENAME]`` adds PEP 691 keys to a file's entry (``{"requires-python":
    ">=4"}``, ``{"yanked": "broken"}``). Every request is counted by path (``requests``).
    """

    def __init__(self, folder: Path, attributes: dict[str, dict[str, object]] | None = None):
        import json
        import re

        self.folder = folder
        self.attributes = attributes or {}
        self.requests: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()
        index = self

        def project_of(filename: str) -> str:
            return re.sub(r"[-_.]+", "-", filename.split("-", 1)[0]).lower()

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                with index._lock:
                    index.requests[path] += 1
                if path.startswith("/files/"):
                    file = index.folder / path.removeprefix("/files/")
                    if not file.is_file() or file.parent != index.folder:
                        self.send_error(404)
                        return
                    self._send(file.read_bytes(), "application/octet-stream")
                    return
                match = re.fullmatch(r"/simple/([^/]+)/", path)
                if match is None:
                    self.send_error(404)
                    return
                project = match.group(1)
                import hashlib

                files = [
                    {
                        "filename": p.name,
                        "url": f"/files/{p.name}",
                        "hashes": {"sha256": hashlib.sha256(p.read_bytes()).hexdigest()},
                        **index.attributes.get(p.name, {}),
                    }
                    for p in sorted(index.folder.iterdir())
                    if p.is_file() and project_of(p.name) == project
                ]
                if not files:
                    self.send_error(404)
                    return
                page = {"meta": {"api-version": "1.0"}, "name": project, "files": files}
                self._send(json.dumps(page).encode(), "application/vnd.pypi.simple.v1+json")

            def _send(self, data: bytes, kind: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/simple/"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> SimpleIndex:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(10)

    def page_requests(self) -> dict[str, int]:
        """Requests per project page (``/simple/NAME/``)."""
        with self._lock:
            return {p: n for p, n in self.requests.items() if p.startswith("/simple/")}

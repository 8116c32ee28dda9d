"""Helpers for the server tests: in-process protocol round trips and servers run by path.

Everything talks to 127.0.0.1 or to a socketpair; every wait is bounded; every server
process started here is stopped by its own pid.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pipkit.servers import protocol, routes

ROOT = Path(__file__).resolve().parents[2]
SERVERS_DIR = ROOT / "pipkit" / "servers"
READY_RE = re.compile(r"^(pipkit-[a-z]+) ready on (http://\S+/) \(pid ([0-9]+)\)$")
KINDS = ("threaded", "coroutine")
HAVE_GEVENT = all(importlib.util.find_spec(m) is not None for m in ("gevent", "greenlet"))


def require_gevent() -> None:
    """Skip without gevent locally; under CI (``CI`` set) its absence is a failure."""
    if not HAVE_GEVENT:
        if os.environ.get("CI"):
            pytest.fail("gevent and greenlet are required under CI (pip install gevent)")
        pytest.skip("gevent not installed")


# ------------------------------------------------------------- response parsing ---


@dataclass
class Resp:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes
    raw_headers: list[tuple[str, str]] = field(default_factory=list)


def parse_responses(data: bytes, head: tuple[bool, ...] = ()) -> list[Resp]:
    """Split a byte stream into responses; ``head[i]`` marks answers to HEAD (no body)."""
    out: list[Resp] = []
    while data:
        # Interim 100 Continue answers carry no body.
        end = data.find(b"\r\n\r\n")
        assert end >= 0, f"incomplete response head: {data[:200]!r}"
        lines = data[:end].decode("latin-1").split("\r\n")
        data = data[end + 4 :]
        _, status, reason = lines[0].split(" ", 2)
        raw = [tuple(line.split(": ", 1)) for line in lines[1:]]
        headers = {k.lower(): v for k, v in raw}
        if status == "100":
            continue
        is_head = head[len(out)] if len(out) < len(head) else False
        length = 0 if is_head else int(headers.get("content-length", "0"))
        body, data = data[:length], data[length:]
        out.append(Resp(int(status), reason, headers, body, raw))  # type: ignore[arg-type]
    return out


# ------------------------------------------------------- in-process round trips ---


def make_app() -> protocol.App:
    """The real routes, with an instant sleep, plus a few routes for protocol tests."""
    info = routes.ServerInfo("pipkit-test", "threaded", lambda s: None)
    app = routes.build_app(info)

    @app.route("/boom")
    def boom(request: protocol.Request) -> protocol.Response:
        raise RuntimeError("route bug")

    @app.route("/form", methods=("POST", "PUT"))
    def form(request: protocol.Request) -> protocol.Response:
        return protocol.Response.json({"len": len(request.body), "method": request.method})

    return app


@dataclass
class Conn:
    """A client end of a socketpair whose other end runs ``serve_connection``."""

    sock: socket.socket
    thread: threading.Thread
    served: list[int]

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_all(self, timeout: float = 5.0) -> bytes:
        """Everything until the server closes (bounded by ``timeout``)."""
        self.sock.settimeout(timeout)
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)

    def read_some(self, n_bytes_at_least: int = 1, timeout: float = 5.0) -> bytes:
        self.sock.settimeout(timeout)
        data = b""
        while len(data) < n_bytes_at_least:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data

    def close(self) -> None:
        self.sock.close()
        self.thread.join(10)


@pytest.fixture
def connect() -> Iterator[object]:
    """``connect(limits=..., app=..., kernel_timeouts=..., stopping=...) -> Conn``."""
    conns: list[Conn] = []

    def make(
        limits: protocol.Limits | None = None,
        app: protocol.App | None = None,
        kernel_timeouts: bool = False,
        stopping: object = None,
    ) -> Conn:
        client, server = socket.socketpair()
        served: list[int] = []
        the_app = app or make_app()
        stop_fn = stopping if callable(stopping) else (lambda: False)

        def run() -> None:
            try:
                served.append(
                    protocol.serve_connection(
                        server,
                        the_app,
                        limits=limits or protocol.Limits.with_timeout(2.0),
                        server_name=b"pipkit-test/1.0",
                        stopping=stop_fn,
                        kernel_timeouts=kernel_timeouts,
                    )
                )
            finally:
                server.close()

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        conn = Conn(client, thread, served)
        conns.append(conn)
        return conn

    yield make
    for conn in conns:
        conn.close()


@pytest.fixture
def roundtrip(connect: object) -> object:
    """``roundtrip(raw, head=(), **connect_kwargs) -> (responses, closed_by_server)``.

    Sends ``raw``, half-closes, and parses everything the server answered.
    """

    def run(raw: bytes, head: tuple[bool, ...] = (), **kwargs: object) -> list[Resp]:
        conn = connect(**kwargs)  # type: ignore[operator]
        conn.send(raw)
        conn.sock.shutdown(socket.SHUT_WR)
        data = conn.read_all()
        return parse_responses(data, head)

    return run


# ---------------------------------------------------------- servers run by path ---


@dataclass
class ServerProc:
    kind: str
    name: str
    url: str
    pid: int
    popen: subprocess.Popen[str]
    status_file: Path | None = None

    @property
    def host_port(self) -> tuple[str, int]:
        hostport = self.url.split("//", 1)[1].rstrip("/")
        host, port = hostport.rsplit(":", 1)
        return host, int(port)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        return self.popen.returncode


def start_server(kind: str, *args: str, timeout: float = 20) -> ServerProc:
    """Start ``pipkit/servers/<kind>.py`` by path on port 0 and parse its ready line."""
    if kind == "coroutine":
        require_gevent()
    cmd = [sys.executable, str(SERVERS_DIR / f"{kind}.py"), "--host", "127.0.0.1", "--port", "0"]
    popen = subprocess.Popen(
        [*cmd, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd="/",  # nothing may depend on the working directory
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    assert popen.stdout is not None
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(popen.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    line = result[0].strip() if result else ""
    match = READY_RE.match(line)
    if match is None:
        popen.kill()
        _, err = popen.communicate(timeout=5)
        raise AssertionError(f"no ready line from {kind}: {line!r}\n{err}")
    return ServerProc(kind, match[1], match[2], int(match[3]), popen)


@pytest.fixture(scope="session", params=KINDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProc]:
    """Each server once per session, with a status file path tests may write."""
    status = tmp_path_factory.mktemp(f"status-{request.param}") / "status.json"
    proc = start_server(request.param, "--status-file", str(status))
    proc.status_file = status
    yield proc
    assert proc.stop() == 0


def write_status(path: Path, **data: object) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)

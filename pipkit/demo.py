"""``pipkit demo``: prove the target environment works with a live test, not a listing.

The demo makes sure greenlet and gevent (C extensions: compiler, wheel tags and ABI must
all be right) are installed in the target, installing what is missing through pipkit's
own :func:`pipkit.commands.install` (so the change is all-or-nothing and recorded like any
other). It then launches pipkit's two bundled HTTP servers (``pipkit/servers/threaded.py``
and ``coroutine.py``) by path under the *target* interpreter, drives them with stdlib
clients over loopback and returns a :class:`DemoReport`: one :class:`Check` per fact
proved, each with its figures.

Guarantees, because a demo that hangs or leaks processes proves the opposite of its point:

* every wait is bounded: the ready line (``READY_TIMEOUT``), each socket operation
  (``REQUEST_TIMEOUT``), the load tests (``LOAD_DEADLINE``) and the stop
  (SIGTERM, then SIGKILL after ``STOP_TIMEOUT``);
* the servers run in their own session and are always stopped in a ``finally``, also on
  Ctrl-C, SIGTERM and SIGHUP (turned into KeyboardInterrupt while the demo runs);
* the clients are few (``CONCURRENCY``), local (127.0.0.1 only) and stdlib
  (``http.client`` over ``concurrent.futures`` threads: never ``urllib``, which would
  honour proxy variables).

POSIX only, like the servers' stop: process groups (``killpg``) and ``waitid``.
Processes are started only through :mod:`pipkit.env.proc`. This module must not import
typer or rich (the CLI passes in how to ask and how to show), nor pip; from the servers
package it imports only ``common`` (stdlib-only) for the ready-line pattern.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, cast
from urllib.parse import urlsplit

from packaging.utils import canonicalize_name

from pipkit.env.target import Target
from pipkit.errors import OperationError, TargetError, UsageError

#: What the coroutine server needs, in the order they are installed and reported.
REQUIRED = ("greenlet", "gevent")
#: The bundled servers, by the file name they are launched from.
KINDS = ("threaded", "coroutine")
#: What each server's /api/env must say about its concurrency model.
MODELS = {"threaded": "threaded", "coroutine": "gevent"}

HOST = "127.0.0.1"  # loopback only: the demo never listens on or talks to anything else
READY_TIMEOUT = 20.0  # seconds for a server to print its ready line
REQUEST_TIMEOUT = 10.0  # seconds for any single socket operation of a client
LOAD_DEADLINE = 30.0  # seconds for a whole load test; unsent requests then count as errors
STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL
SERVER_GRACE = 2.0  # the servers' own --grace, shorter than STOP_TIMEOUT

CONCURRENCY = 50  # concurrent clients in the concurrency proof and the burst
SLEEP_MS = 200  # each concurrent client's /api/sleep
CONCURRENCY_LIMIT = 1.0  # seconds: 50 x 200 ms serially would be 10 s
BURST_REQUESTS = 300
ECHO_BYTES = 64 * 1024
MIN_SWITCHES = CONCURRENCY  # at least one greenlet switch per concurrent sleeper
TAIL_LINES = 6  # lines of a failed server's output shown in its check


# ----------------------------------------------------------------------- results ---


@dataclass(frozen=True)
class Check:
    """One fact the demo proved or failed to prove, with its figures."""

    name: str
    ok: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail}


@dataclass(frozen=True)
class ServerRef:
    """Where a server listened (``url`` is None when it never became ready)."""

    kind: str
    url: str | None

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "url": self.url}


@dataclass
class DemoReport:
    """Everything ``pipkit demo`` prints: checks in the order run, the servers' URLs."""

    python: str
    checks: list[Check] = field(default_factory=list)
    servers: list[ServerRef] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)

    def add(self, name: str, ok: bool, detail: str) -> bool:
        self.checks.append(Check(name, ok, detail))
        return ok

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checks": [check.to_json() for check in self.checks],
            "servers": [server.to_json() for server in self.servers],
        }


# ------------------------------------------------------------------ the packages ---


def _site_versions(target: Target) -> dict[str, str]:
    """Canonical name -> version of what is installed in the target's own site dirs."""
    from pipkit.env.dists import installed

    sites = {os.path.realpath(path) for path in target.site_dirs()}
    return {
        str(name): dist.version
        for name, dist in installed(target.sys_path).items()
        if os.path.realpath(dist.location) in sites
    }


def _visible_versions(target: Target) -> dict[str, str]:
    from pipkit.env.dists import installed

    return {str(name): dist.version for name, dist in installed(target.sys_path).items()}


def ensure_packages(
    target: Target,
    report: DemoReport,
    *,
    yes: bool,
    break_system_packages: bool,
    confirm: Callable[[str], bool],
    log: Callable[[str], None],
    quiet_stdout: bool,
) -> bool:
    """Install whatever of :data:`REQUIRED` is missing; True when all are there afterwards."""
    from pipkit import commands

    name = " + ".join(REQUIRED) + " installed"
    visible = _visible_versions(target)
    missing = [pkg for pkg in REQUIRED if pkg not in visible]
    if not missing:
        versions = ", ".join(f"{pkg} {visible[pkg]}" for pkg in REQUIRED)
        return report.add(name, True, f"{versions} (already there)")
    refusal = target.modification_refusal()
    if refusal and not break_system_packages:
        raise TargetError(f"demo must install {', '.join(missing)}: {refusal}")
    if not yes and not confirm(f"Install {', '.join(missing)} into {target.python}?"):
        return report.add(name, False, f"missing: {', '.join(missing)} (not installed: declined)")
    log(f"Installing {', '.join(missing)} into {target.python} ...")
    with _stdout_to_stderr(quiet_stdout):
        try:
            code = commands.install(target, missing)
        except OperationError as exc:
            # pip failed (and pipkit undid the change): the report says so, and the
            # threaded server, which needs neither package, is still tested.
            return report.add(name, False, f"pipkit install {' '.join(missing)} failed: {exc}")
    visible = _visible_versions(target)
    still = [pkg for pkg in REQUIRED if pkg not in visible]
    if code != 0 or still:
        return report.add(
            name, False, f"pipkit install {' '.join(missing)} failed (exit {code}); see above"
        )
    versions = ", ".join(f"{pkg} {visible[pkg]}" for pkg in REQUIRED)
    return report.add(name, True, f"{versions} (installed now: {', '.join(missing)})")


@contextlib.contextmanager
def _stdout_to_stderr(active: bool) -> Iterator[None]:
    """Send file descriptor 1 to stderr for a while.

    pip streams its progress to pipkit's stdout (fd 1, inherited); with --json, stdout
    must hold the one JSON document only, so pip's output goes to stderr meanwhile.
    """
    if not active:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


# --------------------------------------------------------------- the lock status ---


def lock_status(target: Target, cwd: str | None = None) -> dict[str, Any]:
    """What the servers' dashboards show about the lock, from pipkit's own check.

    The lock is the one ``pipkit check`` would use by default (``requirements.txt``, else
    ``pylock.toml`` in ``cwd``). No lock, or an unreadable one, gives ``in_sync: null``
    and says why: the demo never guesses. Lock
    drift is shown on the dashboards, not counted as a failed check: the demo tests that
    the environment works, ``pipkit check`` whether it matches.
    """
    from pipkit.core.lockfile import DEFAULT_LOCK_NAMES
    from pipkit.errors import PipkitError

    here = cwd or os.getcwd()
    found = [name for name in DEFAULT_LOCK_NAMES if os.path.isfile(os.path.join(here, name))]
    if not found:
        return {"lock": None, "in_sync": None, "summary": "no lock checked"}
    path = os.path.join(here, found[0])
    from pipkit.sync import check, load_lock

    try:
        result = check(target, load_lock([path], cwd=here)).result
    except PipkitError as exc:
        return {"lock": path, "in_sync": None, "summary": f"lock not checked: {exc}"}
    counts = [
        (len(result.missing), "missing"),
        (len(result.extra), "extra"),
        (len(result.changed), "changed"),
        (len(result.conflicts), "conflicting"),
    ]
    drift = ", ".join(f"{count} {what}" for count, what in counts if count)
    summary = "matches the lock" if result.in_sync else f"differs from the lock: {drift}"
    return {"lock": path, "in_sync": result.in_sync, "summary": summary}


def write_status_file(folder: Path, status: dict[str, Any]) -> Path:
    from pipkit.fsutil import atomic_write_text

    path = folder / "status.json"
    # Atomic: a server may re-read the file at any moment (it watches mtime and size).
    atomic_write_text(path, json.dumps(status))
    return path


# ------------------------------------------------------------------- the servers ---


def server_script(kind: str) -> Path:
    """The file a server is launched from (run by path, never imported by pipkit)."""
    import pipkit.servers

    return Path(pipkit.servers.__file__).resolve().parent / f"{kind}.py"


class ServerProcess:
    """One bundled server running under the target interpreter, and its output.

    A reader thread drains the server's output (stdout and stderr merged) for its whole
    life, so the pipe never fills and blocks the server; it keeps the last lines for a
    failure message and signals when the ready line appears.
    """

    def __init__(self, kind: str, process: subprocess.Popen[str]) -> None:
        self.kind = kind
        self.process = process
        self.url: str | None = None
        self.pid: int | None = None
        self.lines: deque[str] = deque(maxlen=200)
        self.launched = time.monotonic()
        self.ready_after = 0.0  # seconds from launch to the ready line
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, name=f"demo-{kind}-output", daemon=True)
        self._reader.start()

    @classmethod
    def launch(
        cls, kind: str, python: str, port: int, status_file: Path, cwd: str
    ) -> ServerProcess:
        from pipkit.env import proc

        argv = [
            python,
            str(server_script(kind)),
            "--host",
            HOST,
            "--port",
            str(port),
            "--status-file",
            str(status_file),
            "--grace",
            str(SERVER_GRACE),
            # If pipkit is killed outright its `finally` never runs: the server sees its
            # launcher gone and stops by itself.
            "--parent-pid",
            str(os.getpid()),
        ]
        # A session of its own: the terminal's Ctrl-C reaches pipkit only, which then
        # stops the server in order; and killpg reaches anything the server started.
        return cls(kind, proc.spawn(argv, cwd=cwd, new_session=True))

    def _read(self) -> None:
        from pipkit.servers.common import READY_RE

        stream = self.process.stdout
        if stream is None:
            return
        try:
            for raw in stream:
                line = raw.rstrip("\r\n")
                self.lines.append(line)
                match = READY_RE.match(line)
                if match and not self._ready.is_set():
                    self.ready_after = time.monotonic() - self.launched
                    self.url = match.group(2)
                    self.pid = int(match.group(3))
                    self._ready.set()
        except (OSError, ValueError):
            pass  # the pipe was closed under us while stopping

    def tail(self) -> str:
        lines = [line for line in self.lines if line.strip()][-TAIL_LINES:]
        return "\n".join(lines) if lines else "(no output)"

    def wait_ready(self, deadline: float) -> str | None:
        """None once the ready line is seen; otherwise why not (exit, or time out)."""
        while not self._ready.wait(0.05):
            code = self.exit_code()
            if code is not None:
                self._reader.join(1.0)  # let the last lines of output arrive
                if self._ready.is_set():
                    break
                return f"exited with code {code} before it was ready:\n{self.tail()}"
            if time.monotonic() >= deadline:
                return f"no ready line within {READY_TIMEOUT:g} s:\n{self.tail()}"
        return None

    def exit_code(self) -> int | None:
        """The exit code once the server has exited (negative: killed by that signal), else
        None; without reaping it: a zombie leader keeps its process-group id reserved, so
        ``killpg`` can never reach an unrelated group that reused the number."""
        if self.process.returncode is not None:
            return self.process.returncode
        try:
            info = os.waitid(os.P_PID, self.process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:  # already reaped
            return self.process.poll()
        if info is None:
            return None
        return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status

    def alive(self) -> bool:
        return self.exit_code() is None

    def signal(self, signum: int) -> None:
        """Signal the server's whole process group, as long as it is not reaped yet."""
        if self.process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)

    def close(self) -> None:
        self._reader.join(1.0)
        # Closing the pipe under a reader still blocked in read() would wait for that read
        # (the buffer's lock): with a writer left somewhere, leave the pipe to process exit.
        if self.process.stdout is not None and not self._reader.is_alive():
            with contextlib.suppress(OSError):
                self.process.stdout.close()


_hurry = threading.Event()  # a second Ctrl-C while stopping: skip the grace period


def stop_servers(servers: Sequence[ServerProcess]) -> None:
    """SIGTERM every server, wait up to STOP_TIMEOUT, SIGKILL the rest; always bounded."""
    running = [server for server in servers if server.alive()]
    for server in running:
        server.signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for server in running:
        while server.alive() and time.monotonic() < deadline and not _hurry.is_set():
            time.sleep(0.02)
        if server.alive():
            server.signal(signal.SIGKILL)
    for server in servers:
        # Exited or killed, but not reaped yet: the whole group once more, in case the
        # server left a child behind, then reap it (no zombie).
        server.signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.process.wait(timeout=STOP_TIMEOUT)
        server.close()


@contextlib.contextmanager
def _signal_handlers(
    signums: Sequence[signal.Signals], handler: Callable[[int, FrameType | None], None]
) -> Iterator[None]:
    """``handler`` for ``signums`` while the block runs, then the previous handlers again.

    Signal handlers can only be set from the main thread: elsewhere nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, handler) for signum in signums}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def _signals_interrupt() -> contextlib.AbstractContextManager[None]:
    """While the demo runs, SIGTERM and SIGHUP stop it like Ctrl-C (so cleanup runs)."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    return _signal_handlers((signal.SIGTERM, signal.SIGHUP), interrupt)


@contextlib.contextmanager
def _signals_hurry() -> Iterator[None]:
    """While stopping servers, a signal shortens the wait instead of aborting the stop."""
    _hurry.clear()

    def hurry(signum: int, frame: FrameType | None) -> None:
        _hurry.set()

    with _signal_handlers((signal.SIGINT, signal.SIGTERM, signal.SIGHUP), hurry):
        yield


# ------------------------------------------------------------------- the clients ---


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """One HTTP/1.1 connection to a server, kept alive between requests."""

    def __init__(self, url: str, timeout: float = REQUEST_TIMEOUT) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or HOST
        self.port = parts.port or 80
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def connect(self) -> None:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._conn.connect()

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        self.connect()
        assert self._conn is not None
        try:
            self._conn.request(method, path, body=body, headers=headers or {})
            response = self._conn.getresponse()
            data = response.read()
        except BaseException:
            self.close()  # the connection's state is unknown: never reuse it
            raise
        reply = Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
        if response.will_close:
            self.close()
        return reply

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def fetch(url: str, method: str, path: str, body: bytes | None = None) -> Reply:
    """One request on a fresh connection."""
    client = Client(url)
    try:
        return client.request(method, path, body)
    finally:
        client.close()


def _expect(condition: bool, why: str) -> None:
    if not condition:
        raise _Mismatch(why)


class _Mismatch(Exception):
    """A server answered, but not what it should have."""


# -------------------------------------------------------------------- the checks ---


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def check_pages(url: str, expected: dict[str, str]) -> str:
    """The dashboard is HTML with the package table listing the target's packages."""
    page = fetch(url, "GET", "/")
    _expect(page.status == 200, f"GET / answered {page.status}")
    _expect(page.headers.get("content-type", "").startswith("text/html"), "GET / is not HTML")
    text = page.body.decode("utf-8", "replace")
    _expect('id="packages"' in text, "the dashboard has no package table")
    # Names as they appear in the table: the table lists each distribution once.
    canonical = _canon_html(text.lower())
    absent = sorted(name for name in expected if f">{name}<" not in canonical)
    _expect(not absent, f"dashboard table lacks {', '.join(absent[:5])}")
    health = fetch(url, "GET", "/healthz")
    _expect(health.status == 200 and health.body == b"ok", "/healthz did not answer ok")
    return f"/ {len(page.body):,} bytes, {len(expected)} packages listed; /healthz ok"


def _canon_html(text: str) -> str:
    # The table shows names as the distributions spell them (Foo_Bar, zope.event); compare
    # canonical forms so a spelling difference is not a failure.
    return text.replace("_", "-").replace(".", "-")


def check_packages(url: str, expected: dict[str, str]) -> str:
    """/api/packages agrees with pipkit's own reading of the target."""
    reply = fetch(url, "GET", "/api/packages")
    _expect(reply.status == 200, f"/api/packages answered {reply.status}")
    listed = reply.json()
    _expect(isinstance(listed, list), "/api/packages is not a JSON list")
    served = {str(canonicalize_name(str(p["name"]))): str(p["version"]) for p in listed}
    wrong = [
        f"{name} {version} (server: {served.get(name, 'absent')})"
        for name, version in sorted(expected.items())
        if not _same_version(served.get(name), version)
    ]
    _expect(not wrong, "differs from pipkit's view: " + "; ".join(wrong[:3]))
    return f"{len(served)} packages, same versions as pipkit reads"


def _same_version(served: str | None, seen: str) -> bool:
    """Equal as versions: pipkit reads the dist-info folder's (normalized) spelling, the
    server the METADATA's, and "1.0-rc1" is "1.0rc1"."""
    if served is None:
        return False
    from packaging.version import InvalidVersion, Version

    try:
        return Version(served) == Version(seen)
    except InvalidVersion:
        return served == seen


def check_env(url: str, kind: str, target: Target) -> dict[str, Any]:
    """/api/env: the right server, model, interpreter and environment. Returns it."""
    reply = fetch(url, "GET", "/api/env")
    _expect(reply.status == 200, f"/api/env answered {reply.status}")
    env = reply.json()
    _expect(isinstance(env, dict), "/api/env is not a JSON object")
    _expect(env.get("server") == f"pipkit-{kind}", f"server is {env.get('server')!r}")
    _expect(
        env.get("concurrency") == MODELS[kind],
        f"concurrency is {env.get('concurrency')!r}, not {MODELS[kind]!r}",
    )
    version = ".".join(str(part) for part in target.version)
    _expect(env.get("python") == version, f"python {env.get('python')} is not {version}")
    prefix = str(env.get("prefix"))
    _expect(
        os.path.realpath(prefix) == os.path.realpath(target.prefix),
        f"prefix {prefix} is not the target's {target.prefix}",
    )
    return cast(dict[str, Any], env)


def check_echo(url: str) -> str:
    """POST bytes and a UTF-8 JSON body; both come back byte for byte."""
    blob = os.urandom(ECHO_BYTES)
    started = time.perf_counter()
    reply = Client(url).request(
        "POST", "/api/echo", blob, {"Content-Type": "application/octet-stream"}
    )
    elapsed = time.perf_counter() - started
    _expect(reply.status == 200, f"/api/echo answered {reply.status}")
    _expect(reply.body == blob, f"{len(blob):,} bytes sent, {len(reply.body):,} differ back")
    doc = json.dumps({"pipkit": "démo ✓", "n": 42}).encode("utf-8")
    reply = fetch(url, "POST", "/api/echo", doc)
    _expect(reply.body == doc, "the JSON body did not come back unchanged")
    return f"{len(blob):,} random bytes round trip in {_ms(elapsed)}; UTF-8 JSON intact"


def check_concurrency(url: str) -> str:
    """CONCURRENCY clients each sleep SLEEP_MS on the server, all at once."""
    released: list[float] = []
    # The barrier's action runs once every client is connected, just before they all send:
    # the figure measures serving the sleeps, not connection set-up.
    barrier = threading.Barrier(CONCURRENCY, action=lambda: released.append(time.perf_counter()))

    def one() -> tuple[float, str | None]:
        client = Client(url)
        try:
            client.connect()
            barrier.wait(timeout=REQUEST_TIMEOUT)
            reply = client.request("GET", f"/api/sleep?ms={SLEEP_MS}")
            done = time.perf_counter()
            if reply.status != 200 or reply.json().get("slept_ms") != SLEEP_MS:
                return done, f"status {reply.status}"
            return done, None
        except threading.BrokenBarrierError:
            return time.perf_counter(), "not all clients connected"
        except (OSError, http.client.HTTPException, ValueError) as exc:
            barrier.abort()  # the others must not wait for this one
            return time.perf_counter(), _describe(exc)
        finally:
            client.close()

    with _pool(CONCURRENCY) as pool:
        futures = [pool.submit(one) for _ in range(CONCURRENCY)]
        results = [future.result(timeout=LOAD_DEADLINE) for future in futures]
    errors = [error for _, error in results if error]
    _expect(not errors, f"{len(errors)} of {CONCURRENCY} failed: {errors[0] if errors else ''}")
    wall = max(done for done, _ in results) - released[0]
    serial = CONCURRENCY * SLEEP_MS / 1000
    figures = f"{CONCURRENCY} x {SLEEP_MS} ms sleeps in {wall:.2f} s (serially {serial:g} s)"
    _expect(wall < CONCURRENCY_LIMIT, f"{figures}: not under {CONCURRENCY_LIMIT:g} s")
    return figures


@contextlib.contextmanager
def _pool(workers: int) -> Iterator[ThreadPoolExecutor]:
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="demo-client")
    try:
        yield pool
    except BaseException:
        # Ctrl-C or a failure: do not wait for queued work; running clients end by their
        # socket timeouts, or sooner when the servers are stopped.
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


_BURST_MIX: tuple[tuple[str, str, bytes | None], ...] = (
    ("GET", "/healthz", None),
    ("GET", "/api/env", None),
    ("POST", "/api/echo", b"burst"),
    ("GET", "/api/packages", None),
    ("GET", "/api/sleep?ms=5", None),
    ("GET", "/", None),
)


def check_burst(url: str) -> str:
    """BURST_REQUESTS mixed requests from CONCURRENCY clients; every one must succeed.

    Half the clients keep their connection alive, half open one per request, so both
    the keep-alive loop and the accept path are under load.
    """
    jobs = list(range(BURST_REQUESTS))
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    deadline = time.monotonic() + LOAD_DEADLINE

    def worker(index: int) -> None:
        keep_alive = index % 2 == 0
        client = Client(url)
        try:
            while True:
                with lock:
                    if not jobs:
                        return
                    if time.monotonic() > deadline:
                        errors.extend(["not sent before the deadline"] * len(jobs))
                        jobs.clear()
                        return
                    job = jobs.pop()
                method, path, body = _BURST_MIX[job % len(_BURST_MIX)]
                started = time.perf_counter()
                error: str | None = None
                try:
                    reply = client.request(method, path, body)
                    if reply.status != 200:
                        error = f"{method} {path}: status {reply.status}"
                    elif body is not None and reply.body != body:
                        error = f"{method} {path}: echo differs"
                except (OSError, http.client.HTTPException) as exc:
                    error = f"{method} {path}: {_describe(exc)}"
                elapsed = time.perf_counter() - started
                if not keep_alive:
                    client.close()
                with lock:
                    latencies.append(elapsed)
                    if error:
                        errors.append(error)
        finally:
            client.close()

    started = time.perf_counter()
    with _pool(CONCURRENCY) as pool:
        for future in [pool.submit(worker, i) for i in range(CONCURRENCY)]:
            future.result(timeout=LOAD_DEADLINE + REQUEST_TIMEOUT)
    wall = time.perf_counter() - started
    latencies.sort()
    p50 = latencies[len(latencies) // 2] if latencies else 0.0
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else 0.0
    figures = (
        f"{BURST_REQUESTS} requests at concurrency {CONCURRENCY}: {len(errors)} errors, "
        f"{BURST_REQUESTS / wall:,.0f} req/s, p50 {_ms(p50)}, p99 {_ms(p99)}"
    )
    _expect(not errors, f"{figures}; first: {errors[0] if errors else ''}")
    return figures


def _gevent_facts(env: dict[str, Any]) -> dict[str, Any]:
    facts = env.get("gevent")
    _expect(isinstance(facts, dict), "/api/env has no gevent section")
    assert isinstance(facts, dict)
    return facts


def check_socket_patched(env: dict[str, Any]) -> str:
    facts = _gevent_facts(env)
    _expect(facts.get("socket_patched") is True, "socket.socket is not gevent's inside the server")
    patched = facts.get("monkey_patched") or []
    return (
        f"socket.socket is gevent's (patched: {', '.join(map(str, patched))}); "
        f"gevent {facts.get('version')}, greenlet {facts.get('greenlet')}"
    )


def check_switching(before: dict[str, Any], after: dict[str, Any]) -> str:
    first = int(_gevent_facts(before).get("greenlet_switches", 0))
    last = int(_gevent_facts(after).get("greenlet_switches", 0))
    switches = last - first
    threads = after.get("threads")
    figures = f"{switches:,} greenlet switches during the load, {threads} OS thread(s)"
    _expect(switches >= MIN_SWITCHES, f"{figures}: expected at least {MIN_SWITCHES}")
    return figures


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text


def _run_check(
    report: DemoReport, name: str, check: Callable[[], str], *, detail_prefix: str = ""
) -> bool:
    """Run one check; any exception it raises is that check's failure, never a traceback."""
    try:
        detail = check()
    except _Mismatch as exc:
        return report.add(name, False, str(exc))
    except Exception as exc:  # a server answering garbage must fail a check, not the demo
        return report.add(name, False, _describe(exc))
    return report.add(name, True, detail_prefix + detail)


def exercise(report: DemoReport, server: ServerProcess, target: Target) -> None:
    """Every check against one ready server, in order; load tests run one server at a time."""
    assert server.url is not None
    url, kind = server.url, server.kind
    expected = _site_versions(target)
    _run_check(report, f"{kind}: dashboard", lambda: check_pages(url, expected))
    _run_check(report, f"{kind}: /api/packages", lambda: check_packages(url, expected))
    env_before: dict[str, Any] = {}

    def env_check() -> str:
        env_before.update(check_env(url, kind, target))
        return (
            f"{env_before.get('implementation')} {env_before.get('python')}, "
            f"{env_before.get('concurrency')}, pid {env_before.get('pid')}, "
            f"prefix {env_before.get('prefix')}"
        )

    _run_check(report, f"{kind}: /api/env", env_check)
    _run_check(report, f"{kind}: echo", lambda: check_echo(url))
    _run_check(report, f"{kind}: concurrency", lambda: check_concurrency(url))
    _run_check(report, f"{kind}: burst", lambda: check_burst(url))
    if kind != "coroutine":
        return
    _run_check(report, f"{kind}: socket patched", lambda: check_socket_patched(env_before))

    def switching() -> str:
        _expect(bool(env_before), "no /api/env reading from before the load")
        after = fetch(url, "GET", "/api/env").json()
        _expect(isinstance(after, dict), "/api/env is not a JSON object")
        return check_switching(env_before, after)

    _run_check(report, f"{kind}: greenlet switching", switching)


# ----------------------------------------------------------------------- the run ---


def run(
    target: Target,
    *,
    yes: bool = False,
    serve: bool = False,
    ports: dict[str, int] | None = None,
    break_system_packages: bool = False,
    confirm: Callable[[str], bool] = lambda question: False,
    log: Callable[[str], None] = lambda text: None,
    show: Callable[[DemoReport], None] = lambda report: None,
    quiet_stdout: bool = False,
) -> DemoReport:
    """The whole demo: packages, servers, checks; ``show`` gets the report before serving.

    ``confirm`` asks the user (installing needs a yes unless ``yes``); ``log`` prints a
    progress line for people; ``quiet_stdout`` keeps pip's output off stdout (--json).
    With ``serve`` the servers keep running after ``show`` until Ctrl-C (or SIGTERM).
    Raises TargetError when packages are missing and the target may not be changed,
    UsageError when both servers are given the same port.
    """
    report = DemoReport(python=target.python)
    ports = ports or {}
    fixed = [port for port in ports.values() if port]
    if len(fixed) != len(set(fixed)):
        raise UsageError("demo: the two servers need different ports")
    with _signals_interrupt():
        have_gevent = ensure_packages(
            target,
            report,
            yes=yes,
            break_system_packages=break_system_packages,
            confirm=confirm,
            log=log,
            quiet_stdout=quiet_stdout,
        )
        servers: list[ServerProcess] = []
        folder = Path(tempfile.mkdtemp(prefix="pipkit-demo-"))
        try:
            status = lock_status(target)
            where = f" ({status['lock']})" if status["lock"] else ""
            log(f"Lock status for the dashboards: {status['summary']}{where}")
            status_file = write_status_file(folder, status)
            kinds = [k for k in KINDS if have_gevent or k != "coroutine"]
            log(f"Starting {' and '.join(kinds)} servers under {target.python} ...")
            for kind in kinds:
                # Both start at once: their start-up times overlap.
                servers.append(
                    ServerProcess.launch(
                        kind, target.python, ports.get(kind, 0), status_file, str(folder)
                    )
                )
            deadline = time.monotonic() + READY_TIMEOUT
            ready: list[ServerProcess] = []
            for server in servers:
                problem = server.wait_ready(deadline)
                if problem is None:
                    ready.append(server)
                    detail = f"{server.url} ready in {server.ready_after:.2f} s"
                    report.add(f"{server.kind}: start", True, detail)
                else:
                    report.add(f"{server.kind}: start", False, problem)
            if not have_gevent:
                report.add("coroutine: start", False, "not started: gevent is not installed")
            report.servers = [ServerRef(s.kind, s.url) for s in servers]
            if not have_gevent:
                report.servers.append(ServerRef("coroutine", None))
            for server in ready:
                log(f"Testing the {server.kind} server at {server.url} ...")
                exercise(report, server, target)
            show(report)
            # Whoever reads a piped stdout must get the report now, not when serving ends.
            sys.stdout.flush()
            if serve and ready:
                _serve(ready, report, log)
        finally:
            with _signals_hurry():
                stop_servers(servers)
                shutil.rmtree(folder, ignore_errors=True)
    return report


def _serve(
    servers: Sequence[ServerProcess], report: DemoReport, log: Callable[[str], None]
) -> None:
    """Keep the servers running until Ctrl-C, SIGTERM, or one of them exits.

    A server that exits on its own is a failure added to ``report`` (already shown), so
    the exit code says so.
    """
    for server in servers:
        log(f"Serving {server.kind} on {server.url}")
    log("Press Ctrl-C to stop.")
    try:
        while all(server.alive() for server in servers):
            time.sleep(0.25)
    except KeyboardInterrupt:
        log("Stopping ...")
        return
    for server in servers:
        code = server.exit_code()
        if code is not None:
            detail = f"exited with code {code} while serving:\n{server.tail()}"
            report.add(f"{server.kind}: serving", False, detail)
            log(f"The {server.kind} server {detail}")

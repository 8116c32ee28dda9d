"""The demo's checks: stdlib HTTP clients over loopback that prove what a server can do.

Each check drives one running server (:class:`pipkit.env.serverproc.ServerProcess`) and returns
its figures, or raises with why it failed; :func:`exercise` runs them all into a
:class:`DemoReport`. Every wait is bounded: each socket operation (:data:`REQUEST_TIMEOUT`) and
each load test (:data:`LOAD_DEADLINE`). The clients are few (:data:`CONCURRENCY`), local
(127.0.0.1 only) and stdlib (``http.client`` over ``concurrent.futures`` threads: never
``urllib``, which would honour proxy variables).

Imports the standard library, ``packaging``, pipkit.env and pipkit.errors. Never prints.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import urlsplit

from packaging.utils import canonicalize_name

from pipkit.core.words import plural
from pipkit.env.serverproc import HOST, ServerProcess
from pipkit.env.target import Target

#: What each server's /api/env must say about its concurrency model.
MODELS = {"threaded": "threaded", "coroutine": "gevent"}

REQUEST_TIMEOUT = 10.0  # seconds for any single socket operation of a client
LOAD_DEADLINE = 30.0  # seconds for a whole load test; unsent requests then count as errors
CONCURRENCY = 50  # concurrent clients in the concurrency proof and the burst
SLEEP_MS = 200  # each concurrent client's /api/sleep
CONCURRENCY_LIMIT = 1.0  # seconds: 50 x 200 ms serially would be 10 s
BURST_REQUESTS = 300
ECHO_BYTES = 64 * 1024
MIN_SWITCHES = CONCURRENCY  # at least one greenlet switch per concurrent sleeper


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
    # Per server kind, from the burst: every request's latency (seconds) and the rate;
    # the dashboard's histogram and p50/p99 (not part of the --json report).
    latencies: dict[str, list[float]] = field(default_factory=dict)
    rates: dict[str, float] = field(default_factory=dict)

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


def site_versions(target: Target) -> dict[str, str]:
    """Canonical name -> version of what is installed in the target's own site dirs."""
    from pipkit.env.dists import installed

    sites = {os.path.realpath(path) for path in target.site_dirs()}
    return {
        str(name): dist.version
        for name, dist in installed(target.sys_path).items()
        if os.path.realpath(dist.location) in sites
    }


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def check_pages(url: str, expected: dict[str, str]) -> str:
    """The table page is HTML listing the target's packages; ``/`` (the live dashboard)
    is HTML too."""
    live = fetch(url, "GET", "/")
    _expect(live.status == 200, f"GET / answered {live.status}")
    _expect(live.headers.get("content-type", "").startswith("text/html"), "GET / is not HTML")
    page = fetch(url, "GET", "/packages")
    _expect(page.status == 200, f"GET /packages answered {page.status}")
    text = page.body.decode("utf-8", "replace")
    _expect('id="packages"' in text, "the dashboard has no package table")
    # Names as they appear in the table: the table lists each distribution once.
    canonical = _canon_html(text.lower())
    absent = sorted(name for name in expected if f">{name}<" not in canonical)
    _expect(not absent, f"dashboard table lacks {', '.join(absent[:5])}")
    health = fetch(url, "GET", "/healthz")
    _expect(health.status == 200 and health.body == b"ok", "/healthz did not answer ok")
    return f"/packages {len(page.body):,} bytes, {len(expected)} packages listed; / and /healthz ok"


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


def check_burst(url: str, sink: list[float] | None = None) -> tuple[str, float]:
    """BURST_REQUESTS mixed requests from CONCURRENCY clients; every one must succeed.

    Half the clients keep their connection alive, half open one per request, so both
    the keep-alive loop and the accept path are under load. Every request is timed
    (``sink`` gets the latencies, in seconds); returns the figures and the rate (req/s).
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
    if sink is not None:
        sink.extend(latencies)
    latencies.sort()
    p50 = latencies[len(latencies) // 2] if latencies else 0.0
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] if latencies else 0.0
    figures = (
        f"{BURST_REQUESTS} requests at concurrency {CONCURRENCY}: {len(errors)} errors, "
        f"{BURST_REQUESTS / wall:,.0f} req/s, p50 {_ms(p50)}, p99 {_ms(p99)}"
    )
    _expect(not errors, f"{figures}; first: {errors[0] if errors else ''}")
    return figures, BURST_REQUESTS / wall


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
    figures = (
        f"{switches:,} greenlet switches during the load, {plural(int(threads or 0), 'OS thread')}"
    )
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
    expected = site_versions(target)
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

    def burst() -> str:
        sink = report.latencies.setdefault(kind, [])
        figures, rate = check_burst(url, sink)
        report.rates[kind] = rate
        return figures

    _run_check(report, f"{kind}: burst", burst)
    if kind != "coroutine":
        return
    _run_check(report, f"{kind}: socket patched", lambda: check_socket_patched(env_before))

    def switching() -> str:
        _expect(bool(env_before), "no /api/env reading from before the load")
        after = fetch(url, "GET", "/api/env").json()
        _expect(isinstance(after, dict), "/api/env is not a JSON object")
        return check_switching(env_before, after)

    _run_check(report, f"{kind}: greenlet switching", switching)

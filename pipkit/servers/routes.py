"""The routes both bundled servers serve, built into one ``protocol.App``.

``build_app()`` returns the app; a server passes in what differs between concurrency
models (its name, how to sleep without blocking its peers, extra live facts for
``/api/env``). Everything else is identical on both servers:

=================  ======  ==========================================================
``/``              GET     HTML dashboard: Python, platform, concurrency model, lock
                           status (from ``--status-file``) and the installed packages
``/api/env``       GET     JSON facts about the interpreter and the server
``/api/packages``  GET     JSON list of ``{"name", "version"}``, sorted by name
``/api/status``    GET     JSON lock status: the status file, or ``"state": "unknown"``
``/api/echo``      POST    the request body back, with the request's Content-Type
``/api/sleep``     GET     ``?ms=N`` (0..5000, larger is capped): sleep, then answer
``/healthz``       GET     ``ok``
``/static/...``    GET     files from the bundled ``static/`` folder only
``/packages``      GET     the server-rendered table page (``/`` without ``data_dir``)
``/data/...``      GET     with ``data_dir``: the JSON and SVG documents pipkit writes
=================  ======  ==========================================================

With ``data_dir`` (``pipkit ui`` and ``pipkit demo --serve``), ``/`` is the live dashboard
(``static/dashboard.html`` with its own JS and CSS, a CSP without inline script) that polls
``/data/index.json``, and :func:`guard_dashboard` refuses requests whose ``Host`` is not
the bound address or ``localhost`` (DNS rebinding). With ``read_only`` every method but
GET and HEAD is 405 on every path and ``/api/echo`` is not served.

Facts that cannot change while the process lives are computed once. The package list
is re-read only when a ``sys.path`` folder's mtime changes (pipkit syncing the env adds
or removes ``*.dist-info`` folders, which touches it); the status file only when its
own mtime or size does. The interpreter is read with ``importlib.metadata`` under the
server's own interpreter, never by importing pipkit.

This module imports only the standard library and its sibling ``protocol``.
"""

from __future__ import annotations

import html
import importlib.metadata
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING or __package__:
    from . import protocol
else:  # run by path: this file's folder is sys.path[0], so the sibling is top-level
    import protocol

App = protocol.App
Request = protocol.Request
Response = protocol.Response

STATIC_ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
MAX_SLEEP_MS = 5000

_HTML_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# The live dashboard: its script and style come from /static/ only (no inline script,
# no inline style), it talks to this origin only.
LIVE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# A data document opened on its own (an SVG, say) runs nothing.
_DATA_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"


# ----------------------------------------------------------------------- packages ---


def _path_key() -> tuple[tuple[str, int], ...]:
    key = []
    for entry in sys.path:
        try:
            key.append((entry, os.stat(entry or ".").st_mtime_ns))
        except OSError:
            continue
    return tuple(key)


class PackageList:
    """Installed distributions, re-read only when a ``sys.path`` folder changes."""

    def __init__(self) -> None:
        self._key: tuple[tuple[str, int], ...] | None = None
        self._packages: list[dict[str, str]] = []

    def get(self) -> list[dict[str, str]]:
        """The packages: the same list object until something changes (so callers can
        cache what they derive from it by identity)."""
        key = _path_key()
        if key == self._key:
            return self._packages
        seen: dict[str, dict[str, str]] = {}
        for dist in importlib.metadata.distributions():
            name = dist.metadata["Name"] or ""
            if not name:
                continue
            normalized = name.lower().replace("_", "-").replace(".", "-")
            # First on sys.path wins, as it does for imports.
            seen.setdefault(normalized, {"name": name, "version": dist.version or ""})
        self._packages = sorted(seen.values(), key=lambda p: p["name"].lower())
        self._key = key
        return self._packages


# -------------------------------------------------------------------- lock status ---


class LockStatus:
    """The JSON status file pipkit writes: ``{"lock", "in_sync", "summary"}``.

    ``in_sync`` is true, false or null (pipkit could not tell); ``lock`` a path or null.
    """

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._key: tuple[int, int, int] | None = None
        self._value: dict[str, Any] = self._unknown("no status file given")

    @staticmethod
    def _unknown(why: str) -> dict[str, Any]:
        return {"state": "unknown", "lock": None, "in_sync": None, "summary": why}

    def get(self) -> dict[str, Any]:
        """The status (``state``: ``in sync``, ``out of sync`` or ``unknown``): the same
        dict object until the file changes, so callers can cache by identity."""
        if self.path is None:
            return self._value
        try:
            st = os.stat(self.path)
        except OSError:
            if self._key != (0, 0, 0):
                self._key = (0, 0, 0)
                self._value = self._unknown("status file missing")
            return self._value
        # The inode too: pipkit replaces the file atomically (a new inode each time).
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if key != self._key:
            self._key = key
            self._value = self._read()
        return self._value

    def _read(self) -> dict[str, Any]:
        assert self.path is not None
        try:
            with open(self.path, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, ValueError):
            return self._unknown("status file unreadable")
        if not isinstance(data, dict):
            return self._unknown("status file is not a JSON object")
        in_sync = data.get("in_sync")
        if in_sync is not None and not isinstance(in_sync, bool):
            return self._unknown("status file's in_sync is not true, false or null")
        lock = data.get("lock")
        summary = data.get("summary")
        # in_sync null: pipkit could not tell (no lock, say); its summary says why.
        state = "unknown" if in_sync is None else "in sync" if in_sync else "out of sync"
        return {
            "state": state,
            "lock": lock if isinstance(lock, str) else None,
            "in_sync": in_sync,
            "summary": summary if isinstance(summary, str) else "",
        }


# ---------------------------------------------------------------------------- env ---


@dataclass
class ServerInfo:
    """What differs between the servers, handed to ``build_app``."""

    name: str  # "pipkit-threaded"
    concurrency: str  # "threaded" or "gevent"
    sleep: Callable[[float], Any]  # time.sleep, or gevent.sleep
    # Facts read per request (thread count, switches), as JSON object members without
    # the braces, e.g. '"threads":3'. A string, not a dict: /api/env is a hot path, and
    # the server can splice in pre-encoded constant parts instead of re-encoding them.
    live_json: Callable[[], str] = str
    started: float = field(default_factory=time.time)


def static_env(info: ServerInfo) -> dict[str, Any]:
    """Facts fixed for the life of the process."""
    return {
        "server": info.name,
        "concurrency": info.concurrency,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "executable": sys.executable,
        "prefix": sys.prefix,
        "base_prefix": sys.base_prefix,
        "virtualenv": sys.prefix != sys.base_prefix,
        "pid": os.getpid(),
        "started": round(info.started, 3),
    }


# ---------------------------------------------------------------------- dashboard ---

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pipkit &middot; {title}</title>
<style>
  :root {{ --bg:#f6f7f9; --card:#fff; --ink:#1d2430; --muted:#667085; --line:#e4e7ec;
          --ok:#067647; --ok-bg:#dcfae6; --bad:#b42318; --bad-bg:#fee4e2; --unk:#475467;
          --unk-bg:#eaecf0; --accent:#3538cd; }}
  * {{ box-sizing:border-box; }}
  body {{ margin:0; font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
          background:var(--bg); color:var(--ink); }}
  header {{ background:var(--ink); color:#fff; padding:20px 32px; display:flex;
            align-items:baseline; gap:16px; flex-wrap:wrap; }}
  header h1 {{ margin:0; font-size:22px; letter-spacing:.2px; }}
  header .sub {{ color:#c9ced8; font-size:14px; }}
  main {{ max-width:1100px; margin:24px auto; padding:0 24px; }}
  .grid {{ display:grid; grid-template-columns:repeat(auto-fit,minmax(240px,1fr)); gap:16px; }}
  .card {{ background:var(--card); border:1px solid var(--line); border-radius:10px;
           padding:16px 18px; }}
  .card h2 {{ margin:0 0 6px; font-size:12px; text-transform:uppercase; letter-spacing:.8px;
              color:var(--muted); font-weight:600; }}
  .card .v {{ font-size:18px; font-weight:600; word-break:break-all; }}
  .card .s {{ color:var(--muted); font-size:13px; word-break:break-all; }}
  .badge {{ display:inline-block; padding:2px 10px; border-radius:999px; font-size:13px;
            font-weight:600; }}
  .in-sync {{ color:var(--ok); background:var(--ok-bg); }}
  .out-of-sync {{ color:var(--bad); background:var(--bad-bg); }}
  .unknown {{ color:var(--unk); background:var(--unk-bg); }}
  section {{ margin-top:24px; }}
  section h2 {{ font-size:17px; margin:0 0 10px; }}
  table {{ width:100%; border-collapse:collapse; background:var(--card);
           border:1px solid var(--line); border-radius:10px; overflow:hidden; }}
  th, td {{ text-align:left; padding:8px 14px; border-bottom:1px solid var(--line); }}
  th {{ font-size:12px; text-transform:uppercase; letter-spacing:.6px; color:var(--muted);
        background:#fafbfc; }}
  tr:last-child td {{ border-bottom:0; }}
  tbody tr:nth-child(even) {{ background:#fcfcfd; }}
  td.ver {{ font-family:ui-monospace,SFMono-Regular,Menlo,monospace; font-size:13px; }}
  footer {{ color:var(--muted); font-size:13px; margin:28px 0 40px; }}
  a {{ color:var(--accent); }}
</style>
</head>
<body>
<header>
  <h1>pipkit environment</h1>
  <span class="sub">{server} &middot; {concurrency} &middot; pid {pid}</span>
</header>
<main>
  <div class="grid">
    <div class="card"><h2>Python</h2><div class="v">{implementation} {python}</div>
      <div class="s">{executable}</div></div>
    <div class="card"><h2>Platform</h2><div class="v">{system}</div>
      <div class="s">{platform}</div><div class="s">prefix {prefix}</div></div>
    <div class="card"><h2>Concurrency</h2><div class="v" id="concurrency">{concurrency}</div>
      <div class="s">{server}</div></div>
    <div class="card" id="lock"><h2>Lock</h2>
      <div class="v"><span class="badge {state_class}" id="lock-state">{state}</span></div>
      <div class="s">{lock}</div><div class="s">{summary}</div></div>
  </div>
  <section>
    <h2>Installed packages <span class="badge unknown" id="package-count">{count}</span></h2>
    <table id="packages">
      <thead><tr><th>Name</th><th>Version</th></tr></thead>
      <tbody>
{rows}
      </tbody>
    </table>
  </section>
  <footer>
    JSON: <a href="/api/env">/api/env</a> &middot; <a href="/api/packages">/api/packages</a>
    &middot; <a href="/api/status">/api/status</a> &middot; <a href="/healthz">/healthz</a>
  </footer>
</main>
</body>
</html>
"""


def render_dashboard(
    env: dict[str, Any], packages: list[dict[str, str]], status: dict[str, Any]
) -> str:
    """The dashboard page, self-contained: inline CSS, no scripts, no external resources."""
    esc = html.escape
    rows = "\n".join(
        f'        <tr><td class="name">{esc(p["name"])}</td>'
        f'<td class="ver">{esc(p["version"])}</td></tr>'
        for p in packages
    )
    if not rows:
        rows = '        <tr><td colspan="2">no distributions found</td></tr>'
    return _PAGE.format(
        title=esc(f"{env['server']} ({env['concurrency']})"),
        server=esc(env["server"]),
        concurrency=esc(env["concurrency"]),
        pid=env["pid"],
        implementation=esc(env["implementation"]),
        python=esc(env["python"]),
        executable=esc(env["executable"]),
        system=esc(f"{platform.system()} {platform.machine()}".strip() or "unknown"),
        platform=esc(env["platform"]),
        prefix=esc(env["prefix"]),
        state=esc(status["state"]),
        state_class=status["state"].replace(" ", "-"),
        lock=esc(status["lock"] or "no lock file known"),
        summary=esc(status["summary"] or ""),
        count=len(packages),
        rows=rows,
    )


# ------------------------------------------------------------------------- routes ---


def allowed_hosts(host: str, port: int) -> frozenset[str]:
    """The ``Host`` values the dashboard answers: the bound address or localhost, with
    the port (lower case)."""
    literal = f"[{host}]" if ":" in host else host
    names = {literal.lower(), "localhost"}
    return frozenset(f"{name}:{port}" for name in names)


def guard_dashboard(app: protocol.App, host: str, port: int, *, read_only: bool) -> None:
    """Refuse what a dashboard must never answer, before any route runs.

    A page on another site can point its own name at 127.0.0.1 (DNS rebinding) and then
    read same-origin: its requests carry its own name as ``Host``, so anything but the
    bound address or ``localhost`` with this port is 421. ``read_only``: anything but
    GET and HEAD is 405 on every path, known or not.
    """
    allowed = allowed_hosts(host, port)

    def check(request: Request) -> Response | None:
        given = (request.header("host") or "").strip().lower()
        if given not in allowed:
            return protocol.error_response(421, "this dashboard answers only its own address")
        if read_only and request.method not in ("GET", "HEAD"):
            response = protocol.error_response(405, "the dashboard is read-only")
            response.headers.append(("Allow", "GET, HEAD"))
            return response
        return None

    app.guards.append(check)


def _data_files(data_dir: str) -> protocol.Handler:
    # Never cached in memory: pipkit replaces these files at any moment, possibly twice
    # within one mtime tick with the same size.
    files = protocol.StaticFiles(data_dir, "/data/")
    files.max_cached = -1

    def serve(request: Request) -> Response:
        response = files(request)
        response.headers = [h for h in response.headers if h[0] != "Cache-Control"]
        response.headers += [("Cache-Control", "no-store"), ("Content-Security-Policy", _DATA_CSP)]
        return response

    return serve


def build_app(
    info: ServerInfo,
    *,
    status_file: str | None = None,
    static_root: str = STATIC_ROOT,
    data_dir: str | None = None,
    read_only: bool = False,
) -> protocol.App:
    """The app both servers serve. Add routes to it with ``app.route(path)``.

    ``data_dir``: serve the live dashboard at ``/`` and pipkit's documents under
    ``/data/``; ``read_only``: no ``/api/echo`` (the server must still be guarded with
    :func:`guard_dashboard` once its port is known)."""
    app = protocol.App()
    env = static_env(info)
    packages = PackageList()
    lock = LockStatus(status_file)
    # The rendered page, with the package list and status it was rendered from: both
    # sources hand back the same object until their input changes.
    # One tuple, swapped whole: threads read it once, never half an update.
    page_cache: list[tuple[Any, Any, bytes]] = [(None, None, b"")]

    def dashboard(request: Request) -> Response:
        pkgs, status = packages.get(), lock.get()
        cached_pkgs, cached_status, page = page_cache[0]
        if pkgs is not cached_pkgs or status is not cached_status:
            page = render_dashboard(env, pkgs, status).encode("utf-8")
            page_cache[0] = (pkgs, status, page)
        return Response(
            200,
            page,
            "text/html; charset=utf-8",
            [("Content-Security-Policy", _HTML_CSP), ("Cache-Control", "no-cache")],
        )

    app.add_route("/packages", dashboard)
    if data_dir is None:
        app.add_route("/", dashboard)
    else:
        with open(os.path.join(static_root, "dashboard.html"), "rb") as fh:
            live_page = fh.read()

        @app.route("/")
        def live(request: Request) -> Response:
            return Response(
                200,
                live_page,
                "text/html; charset=utf-8",
                [("Content-Security-Policy", LIVE_CSP), ("Cache-Control", "no-cache")],
            )

        app.mount("/data/", _data_files(data_dir))

    # The fixed facts are serialized once; each request only adds the live ones.
    env_head = protocol.JSON_ENCODER.encode(env)[:-1]

    @app.route("/api/env")
    def api_env(request: Request) -> Response:
        uptime = round(time.time() - info.started, 3)
        live = info.live_json()
        body = f'{env_head},"uptime_s":{uptime!r}{"," if live else ""}{live}}}'
        return Response(200, body.encode(), "application/json")

    @app.route("/api/packages")
    def api_packages(request: Request) -> Response:
        return Response.json(packages.get())

    @app.route("/api/status")
    def api_status(request: Request) -> Response:
        return Response.json(lock.get())

    def api_echo(request: Request) -> Response:
        ctype = request.header("content-type") or "application/octet-stream"
        # Echoing a client's bytes as HTML would be reflected XSS; sandbox + nosniff
        # make the browser treat it as an inert, opaque document.
        return Response(200, request.body, ctype, [("Content-Security-Policy", "sandbox")])

    if not read_only:
        app.add_route("/api/echo", api_echo, methods=("POST",))

    @app.route("/api/sleep")
    def api_sleep(request: Request) -> Response:
        values = request.query_params().get("ms", [])
        if len(values) != 1 or not values[0].isascii() or not values[0].isdigit():
            return Response.json({"error": "expected ?ms=N with 0 <= N"}, 400)
        # More than 9 digits is over the cap anyway: no need to build a giant int.
        asked = int(values[0]) if len(values[0]) <= 9 else MAX_SLEEP_MS + 1
        ms = min(asked, MAX_SLEEP_MS)
        started = time.monotonic()
        info.sleep(ms / 1000)
        elapsed = (time.monotonic() - started) * 1000
        return Response.json(
            {"slept_ms": ms, "capped": asked > ms, "elapsed_ms": round(elapsed, 1)}
        )

    @app.route("/healthz")
    def healthz(request: Request) -> Response:
        return Response(200, b"ok", "text/plain; charset=utf-8", [("Cache-Control", "no-store")])

    app.mount("/static/", protocol.StaticFiles(static_root, "/static/"))
    return app

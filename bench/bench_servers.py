"""Speed bench for pipkit's bundled servers against stdlib and gevent anchors.

What it measures, with ``wrk -t2 -cC -dDs --latency`` on loopback only:

* pipkit's threaded server vs ``http.server.ThreadingHTTPServer`` (a tiny anchor handler
  in this file) serving the same bytes,
* pipkit's coroutine server vs ``gevent.pywsgi`` (a tiny WSGI app in this file) serving
  the same bytes,

on a small static page (``/static/hello.html``) and on ``/api/env``, at C=50 and C=500.
The anchors serve byte-for-byte what the pipkit server answered (fetched first), with
HTTP/1.1 keep-alive and TCP_NODELAY, so the ratio measures the servers and not a Nagle
stall (pass ``--stock-anchors`` to bench them without TCP_NODELAY too). Last, it holds
1,000 keep-alive connections against the coroutine server and counts errors.

Targets (printed as PASS/FAIL): threaded >= 2x ThreadingHTTPServer, coroutine >= 2x
pywsgi, p99 < 50 ms at C=50 for both pipkit servers, zero errors at C=1000.

``--overload`` (no wrk needed) measures instead how long a probe over the threaded
server's ``--max-connections`` waits for its 503 while ``--stalled`` other clients over
the cap sit connected and silent: the accept loop must not wait on any of them.

Usage::

    python bench/bench_servers.py              # full run, about 2 minutes
    python bench/bench_servers.py --duration 2 --quick
    python bench/bench_servers.py --overload --stalled 8

Every request goes to 127.0.0.1. Every wrk run is bounded by ``--duration`` and a
subprocess timeout; every server started here is stopped by its pid at the end.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SERVERS = ROOT / "pipkit" / "servers"
READY_RE = re.compile(r"^(\S+) ready on (http://\S+/) \(pid ([0-9]+)\)$")
PATHS = ("/static/hello.html", "/api/env")


# ------------------------------------------------------------------------ anchors ---


def _load_bodies(spec_file: str) -> dict[str, tuple[str, bytes]]:
    spec = json.loads(Path(spec_file).read_text())
    return {p: (v["content_type"], base64.b64decode(v["body"])) for p, v in spec.items()}


def run_stdlib_anchor(spec_file: str, nodelay: bool) -> None:
    """ThreadingHTTPServer with the idiomatic handler: send_response/headers/write."""
    import http.server

    bodies = _load_bodies(spec_file)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like the servers it is compared with
        disable_nagle_algorithm = nodelay

        def do_GET(self) -> None:
            ctype, body = bodies.get(self.path, ("text/plain", b"not found"))
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # logging every request to stderr would dominate the measurement

    class Server(http.server.ThreadingHTTPServer):
        request_queue_size = 1024  # the default 5 drops connects at C=500

    server = Server(("127.0.0.1", 0), Handler)
    print(
        f"anchor-stdlib ready on http://127.0.0.1:{server.server_address[1]}/ (pid {os.getpid()})",
        flush=True,
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever()


def run_pywsgi_anchor(spec_file: str, nodelay: bool) -> None:
    """gevent.pywsgi with a WSGI app returning the same bytes."""
    from gevent import monkey  # type: ignore[import-untyped]

    monkey.patch_all()
    import socket

    from gevent.pywsgi import WSGIServer  # type: ignore[import-untyped]

    bodies = _load_bodies(spec_file)

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        ctype, body = bodies.get(environ["PATH_INFO"], ("text/plain", b"not found"))
        start_response("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(body)))])
        return [body]

    class Server(WSGIServer):  # type: ignore[misc]
        def handle(self, sock: socket.socket, address: Any) -> None:
            if nodelay:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            super().handle(sock, address)

    server = Server(("127.0.0.1", 0), app, log=None, backlog=1024)
    server.start()
    print(
        f"anchor-pywsgi ready on http://127.0.0.1:{server.server_port}/ (pid {os.getpid()})",
        flush=True,
    )
    import gevent

    gevent.signal_handler(signal.SIGTERM, server.stop)
    server.serve_forever()


# ----------------------------------------------------------------------- running ---


@dataclass
class Proc:
    name: str
    url: str
    popen: subprocess.Popen[str]

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def cpu_seconds(self) -> float:
        """User + system CPU of the server process so far (Linux /proc), or NaN."""
        try:
            fields = Path(f"/proc/{self.popen.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(cmd: list[str]) -> Proc:
    popen = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT
    )
    assert popen.stdout is not None
    line = popen.stdout.readline().strip()  # servers print it within a second or two
    match = READY_RE.match(line)
    if match is None:
        popen.kill()
        raise SystemExit(f"no ready line from {cmd}: {line!r}")
    return Proc(match[1], match[2], popen)


@dataclass
class Result:
    target: str
    path: str
    connections: int
    rps: float
    p99_ms: float
    requests: int
    errors: int  # non-2xx/3xx + socket errors
    cpu_us: float  # server CPU (user + sys) per request: insensitive to other load
    detail: str = ""


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(
    proc: Proc, target: str, path: str, connections: int, duration: int, timeout: int = 0
) -> Result:
    url = proc.url.rstrip("/") + path
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", url]
    if timeout:
        cmd[1:1] = ["--timeout", f"{timeout}s"]
    cpu_before = proc.cpu_seconds()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60).stdout
    cpu = proc.cpu_seconds() - cpu_before
    rps = float(_search(r"Requests/sec:\s+([0-9.]+)", out)[1])
    p99 = re.search(r"\s99%\s+([0-9.]+)(us|ms|s|m)\b", out)
    total = int(_search(r"([0-9]+) requests in", out)[1])
    non2xx = re.search(r"Non-2xx or 3xx responses: ([0-9]+)", out)
    sock = re.search(
        r"Socket errors: connect ([0-9]+), read ([0-9]+), write ([0-9]+), timeout ([0-9]+)", out
    )
    errors = (int(non2xx[1]) if non2xx else 0) + (sum(map(int, sock.groups())) if sock else 0)
    detail = (sock[0] if sock else "") + (f"; non-2xx {non2xx[1]}" if non2xx else "")
    return Result(
        target, path, connections, rps, _ms(*p99.groups()) if p99 else float("nan"), total,
        errors, cpu / total * 1e6 if total else float("nan"), detail,
    )  # fmt: skip


def _search(pattern: str, text: str) -> re.Match[str]:
    match = re.search(pattern, text)
    if match is None:
        raise SystemExit(f"unexpected wrk output:\n{text}")
    return match


def fetch_spec(url: str, spec_file: Path) -> None:
    spec = {}
    for path in PATHS:
        with urllib.request.urlopen(url.rstrip("/") + path, timeout=10) as resp:
            spec[path] = {
                "content_type": resp.headers["Content-Type"],
                "body": base64.b64encode(resp.read()).decode(),
            }
    spec_file.write_text(json.dumps(spec))


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def median_result(runs: list[Result]) -> Result:
    """One row from repeated runs: medians of rate, p99 and CPU, errors summed."""
    first = runs[0]
    return Result(
        first.target, first.path, first.connections,
        statistics.median(r.rps for r in runs), statistics.median(r.p99_ms for r in runs),
        sum(r.requests for r in runs), sum(r.errors for r in runs),
        statistics.median(r.cpu_us for r in runs),
        "; ".join(r.detail for r in runs if r.detail),
    )  # fmt: skip


ANCHOR_OF = {"threaded": "stdlib", "coroutine": "pywsgi"}


def _hold(host: str, port: int) -> socket.socket:
    """A keep-alive connection served once, so it holds one of the server's slots."""
    sock = socket.create_connection((host, port), timeout=30)
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: b\r\n\r\n")
    if not sock.recv(65536).startswith(b"HTTP/1.1 200 "):
        raise SystemExit("bench: a slot-holding connection was not served")
    return sock


def run_overload(stalled: int, rounds: int) -> int:
    """Seconds from connect to a complete 503 for a probe over the cap, per round."""
    cap = 2
    proc = start(
        [sys.executable, str(SERVERS / "threaded.py"), "--port", "0", "--timeout", "30",
         "--max-connections", str(cap)]
    )  # fmt: skip
    hostport = proc.url.split("//", 1)[1].rstrip("/")
    host, port_s = hostport.rsplit(":", 1)
    port = int(port_s)
    load_before = os.getloadavg()[0]
    waits: list[float] = []
    try:
        held = [_hold(host, port) for _ in range(cap)]
        for _ in range(rounds):
            silent = [socket.create_connection((host, port)) for _ in range(stalled)]
            started = time.perf_counter()
            with socket.create_connection((host, port), timeout=60) as probe:
                probe.sendall(b"GET /healthz HTTP/1.1\r\nHost: b\r\n\r\n")
                data = b""
                while chunk := probe.recv(65536):
                    data += chunk
            waits.append(time.perf_counter() - started)
            if not data.startswith(b"HTTP/1.1 503 "):
                raise SystemExit(f"bench: the probe got {data[:40]!r}, not a 503")
            for sock in silent:
                sock.close()
        for sock in held:
            sock.close()
    finally:
        proc.stop()
    ms = sorted(w * 1000 for w in waits)
    print(
        f"threaded, cap {cap}, {stalled} silent clients over the cap: probe 503 in "
        f"median {statistics.median(ms):.1f} ms, max {ms[-1]:.1f} ms over {rounds} rounds; "
        f"load average before {load_before:.2f}, after {os.getloadavg()[0]:.2f}"
    )
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--connections", default="50,500", help="comma-separated C values")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs per cell")
    parser.add_argument("--quick", action="store_true", help="C=50, one run, no C=1000")
    parser.add_argument(
        "--stock-anchors", action="store_true", help="also bench the anchors without TCP_NODELAY"
    )
    parser.add_argument(
        "--hold-timeout", type=int, default=10, help="wrk --timeout (s) for the C=1000 run"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--overload", action="store_true", help="only time a probe's 503 over the threaded cap"
    )
    parser.add_argument(
        "--stalled", type=int, default=8, help="silent clients over the cap for --overload"
    )
    parser.add_argument("--rounds", type=int, default=20, help="probes for --overload")
    parser.add_argument("--anchor", choices=["stdlib", "pywsgi"], help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    parser.add_argument("--no-nodelay", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.anchor == "stdlib":
        run_stdlib_anchor(args.spec, not args.no_nodelay)
        return 0
    if args.anchor == "pywsgi":
        run_pywsgi_anchor(args.spec, not args.no_nodelay)
        return 0
    if args.overload:
        return run_overload(args.stalled, args.rounds)

    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    raise_nofile()  # wrk inherits it: 1,000 connections need more than 1024 fds
    conns = [50] if args.quick else [int(c) for c in args.connections.split(",")]
    repeat = 1 if args.quick else max(1, args.repeat)
    py = sys.executable
    me = str(Path(__file__).resolve())
    procs: dict[str, Proc] = {}
    rows: list[Result] = []
    load_before = os.getloadavg()[0]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            procs["threaded"] = start(
                [py, str(SERVERS / "threaded.py"), "--port", "0", "--max-connections", "2000"]
            )
            procs["coroutine"] = start([py, str(SERVERS / "coroutine.py"), "--port", "0"])
            for ours, anchor in ANCHOR_OF.items():
                # The anchor serves byte for byte what its pipkit server answered.
                spec = Path(tmp) / f"{anchor}.json"
                fetch_spec(procs[ours].url, spec)
                procs[anchor] = start([py, me, "--anchor", anchor, "--spec", str(spec)])
                if args.stock_anchors:
                    procs[f"{anchor}-stock"] = start(
                        [py, me, "--anchor", anchor, "--spec", str(spec), "--no-nodelay"]
                    )
            print(f"servers: {', '.join(f'{k} {p.url}' for k, p in procs.items())}", flush=True)
            for path in PATHS:
                for c in conns:
                    # Interleaved, so a burst of outside load hits every server alike.
                    cells: dict[str, list[Result]] = {name: [] for name in procs}
                    for _ in range(repeat):
                        for name, proc in procs.items():
                            result = run_wrk(proc, name, path, c, args.duration)
                            cells[name].append(result)
                            print(_row(result), flush=True)
                    rows.extend(median_result(runs) for runs in cells.values())
            if not args.quick:
                # wrk counts a reply slower than its timeout (2 s by default) as an error.
                # With 1,000 clients on a shared 2-core machine that measures the
                # scheduler; --hold-timeout sets it, and the row keeps p99 and errors.
                result = run_wrk(
                    procs["coroutine"], "coroutine", "/api/env", 1000, args.duration,
                    timeout=args.hold_timeout,
                )  # fmt: skip
                print(_row(result), flush=True)
                rows.append(result)
    finally:
        for proc in procs.values():
            proc.stop()

    print()
    print(
        f"medians of {repeat} interleaved run(s), wrk -t2 -d{args.duration}s, loopback; "
        f"load average before {load_before:.2f}, after {os.getloadavg()[0]:.2f} on "
        f"{os.cpu_count()} CPUs (anything near or over the CPU count makes ratios noisy)"
    )
    print(_table(rows))
    print()
    for line in _verdicts(rows):
        print(line)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([r.__dict__ for r in rows], indent=2))
    return 0


def _row(r: Result) -> str:
    return (
        f"{r.target:<13} {r.path:<19} c={r.connections:<5} {r.rps:>9.0f} req/s  "
        f"p99 {r.p99_ms:>8.2f} ms  cpu {r.cpu_us:>6.1f} us/req  errors {r.errors} {r.detail}"
    )


def _table(results: list[Result]) -> str:
    header = (
        f"{'server':<13} {'path':<19} {'conns':>5} {'req/s':>9} {'p99 ms':>8} "
        f"{'cpu us/req':>10} {'errors':>6} {'req/s ratio':>11} {'cpu ratio':>9}"
    )
    lines = [header, "-" * len(header)]
    by_key = {(r.target, r.path, r.connections): r for r in results}
    for r in results:
        ratio = cpu_ratio = ""
        anchor = by_key.get((ANCHOR_OF.get(r.target, ""), r.path, r.connections))
        if anchor is not None and anchor.rps:
            ratio = f"{r.rps / anchor.rps:.2f}x"
            if r.cpu_us:
                cpu_ratio = f"{anchor.cpu_us / r.cpu_us:.2f}x"
        lines.append(
            f"{r.target:<13} {r.path:<19} {r.connections:>5} {r.rps:>9.0f} {r.p99_ms:>8.2f} "
            f"{r.cpu_us:>10.1f} {r.errors:>6} {ratio:>11} {cpu_ratio:>9}"
        )
    return "\n".join(lines)


def _verdicts(results: list[Result]) -> list[str]:
    by_key = {(r.target, r.path, r.connections): r for r in results}
    out = []
    for ours, anchor in ANCHOR_OF.items():
        for path in PATHS:
            for c in sorted({r.connections for r in results if r.connections != 1000}):
                a, b = by_key.get((ours, path, c)), by_key.get((anchor, path, c))
                if a and b and b.rps:
                    ratio = a.rps / b.rps
                    verdict = "PASS" if ratio >= 2 else "FAIL"
                    out.append(
                        f"{verdict} {ours} vs {anchor} {path} c={c}: {ratio:.2f}x req/s, "
                        f"{b.cpu_us / a.cpu_us:.2f}x less CPU per request (target 2x)"
                    )
            r = by_key.get((ours, path, 50))
            if r:
                verdict = "PASS" if r.p99_ms < 50 else "FAIL"
                out.append(f"{verdict} {ours} {path} c=50 p99 {r.p99_ms:.2f} ms (target < 50 ms)")
    r = by_key.get(("coroutine", "/api/env", 1000))
    if r:
        verdict = "PASS" if r.errors == 0 else "FAIL"
        out.append(
            f"{verdict} coroutine c=1000 keep-alive: {r.requests} requests, {r.errors} errors "
            f"{r.detail}".rstrip()
        )
    return out


if __name__ == "__main__":
    raise SystemExit(main())

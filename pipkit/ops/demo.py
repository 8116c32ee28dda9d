"""``pipkit demo``: prove the target environment works with a live test, not a listing.

The demo makes sure greenlet and gevent (C extensions: compiler, wheel tags and ABI must
all be right) are installed in the target, installing what is missing through pipkit's
own :func:`pipkit.ops.family.install` (so the change is all-or-nothing and recorded like any
other). It then launches pipkit's two bundled HTTP servers (:mod:`pipkit.env.serverproc`)
by path under the *target* interpreter, drives them with stdlib clients over loopback
(:mod:`pipkit.ops.demo_checks`) and returns a :class:`DemoReport`: one :class:`Check` per
fact proved, each with its figures.

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
Both servers get ``--data-dir``: their ``/`` is ``pipkit ui``'s live dashboard
(:mod:`pipkit.ops.ui` writes its documents), with the demo's checks, req/s, p50/p99 and a
latency histogram added under ``--serve``, kept live while serving.

Never prints or prompts: the CLI passes in how to ask (``confirm``), how to say progress
(``log``) and how to show the report (``show``). Imports pipkit.ops (family, sync,
demo_checks, ui), pipkit.env, pipkit.core, pipkit.fsutil and pipkit.errors.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pipkit.core.defaults import DEFAULT_LOCK_NAMES
from pipkit.env import serverproc
from pipkit.env.serverproc import ServerProcess, stop_servers
from pipkit.env.target import Target
from pipkit.errors import OperationError, TargetError, UsageError
from pipkit.fsutil import atomic_write_text
from pipkit.ops.demo_checks import DemoReport, ServerRef, exercise

#: What the coroutine server needs, in the order they are installed and reported.
REQUIRED = ("greenlet", "gevent")
#: The bundled servers, by the file name they are launched from.
KINDS = ("threaded", "coroutine")


# ------------------------------------------------------------------ the packages ---


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
    command: str = "pipkit demo",
    installer: str = "pip",
) -> bool:
    """Install whatever of :data:`REQUIRED` is missing; True when all are there afterwards.

    The install is recorded in the history under ``command`` (the user's command line)."""
    from pipkit.ops import family

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
            code = family.install(
                target, missing, command=command, installer=installer, doing="pipkit demo"
            ).code
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
    return report.add(
        name, True, f"{versions}; installed now: {', '.join(missing)}; undo with pipkit rollback"
    )


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

    The lock is the one ``pipkit check`` would use with no LOCK named (the configured
    ``lock``, else ``requirements.txt``, else ``pylock.toml`` in ``cwd``). No lock, or an
    unreadable one, gives ``in_sync: null`` and says why: the demo never guesses. Lock
    drift is shown on the dashboards, not counted as a failed check: the demo tests that
    the environment works, ``pipkit check`` whether it matches. ``differences`` lists each
    one in words (``gevent 24.2.1 locked, 25.1 installed``), for :func:`lock_line`.
    """
    from pipkit.env.config import active
    from pipkit.errors import PipkitError

    here = cwd or os.getcwd()
    configured = active().lock
    found = [name for name in DEFAULT_LOCK_NAMES if os.path.isfile(os.path.join(here, name))]
    if not found and not configured:
        return {"lock": None, "in_sync": None, "summary": "no lock checked", "differences": []}
    path = configured or os.path.join(here, found[0])
    from pipkit.ops.sync import check, load_lock

    try:
        result = check(target, load_lock([path], cwd=here)).result
    except PipkitError as exc:
        return {
            "lock": path,
            "in_sync": None,
            "summary": f"lock not checked: {exc}",
            "differences": [],
        }
    counts = [
        (len(result.missing), "missing"),
        (len(result.extra), "extra"),
        (len(result.changed), "changed"),
        (len(result.conflicts), "conflicting"),
    ]
    drift = ", ".join(f"{count} {what}" for count, what in counts if count)
    summary = "matches the lock" if result.in_sync else f"differs from the lock: {drift}"
    data = result.to_json()
    differences = [
        *(
            f"{item['name']} {item['locked']} locked, {item['installed']} installed"
            for item in data["changed"]
        ),
        *(f"{item['name']} {item['version']} locked, not installed" for item in data["missing"]),
        *(f"{item['name']} {item['version']} installed, not in the lock" for item in data["extra"]),
        *(str(conflict) for conflict in result.conflicts),
    ]
    return {
        "lock": path,
        "in_sync": result.in_sync,
        "summary": summary,
        "differences": differences,
    }


def _shown(path: str, cwd: str) -> str:
    full = os.path.abspath(path)
    return os.path.relpath(full, cwd) if full.startswith(cwd.rstrip(os.sep) + os.sep) else path


def lock_line(status: dict[str, Any], prefix: str, cwd: str | None = None, most: int = 3) -> str:
    """The demo's line about the lock: which one it compared with the target and how they
    differ (``lock: requirements.txt vs .venv: 2 differ (gevent 24.2.1 locked, 25.1
    installed; ...)``), at most ``most`` differences spelled out."""
    here = cwd or os.getcwd()
    if status["lock"] is None:
        names = " or ".join(DEFAULT_LOCK_NAMES)
        return f"lock: none compared (no {names} here, no [tool.pipkit] lock)"
    lock = _shown(status["lock"], here)
    if status["in_sync"] is None:
        return f"lock: {lock} not compared: {status['summary'].removeprefix('lock not checked: ')}"
    compared = f"lock: {lock} vs {_shown(prefix, here)}"
    if status["in_sync"]:
        return f"{compared}: in sync"
    items = list(status["differences"])
    shown = "; ".join(items[:most])
    more = f"; and {len(items) - most} more (pipkit check lists them)" if len(items) > most else ""
    verb = "differs" if len(items) == 1 else "differ"
    return f"{compared}: {len(items)} {verb} ({shown}{more})"


def write_status_file(folder: Path, status: dict[str, Any]) -> Path:
    path = folder / "status.json"
    # Atomic: a server may re-read the file at any moment (it watches mtime and size).
    atomic_write_text(path, json.dumps(status))
    return path


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
    command: str = "pipkit demo",
    installer: str = "pip",
) -> DemoReport:
    """The whole demo: packages, servers, checks; ``show`` gets the report before serving.

    ``confirm`` asks the user (installing needs a yes unless ``yes``); ``log`` prints a
    progress line for people; ``quiet_stdout`` keeps pip's output off stdout (--json).
    With ``serve`` the servers keep running after ``show`` until Ctrl-C (or SIGTERM).
    Raises TargetError when packages are missing and the target may not be changed,
    UsageError when both servers are given the same port.
    """
    report = DemoReport(python=target.python)
    log(
        f"pipkit demo: a self-test of {target.python}: gevent installed if missing, pipkit's "
        "two HTTP servers run under it on 127.0.0.1 and are loaded, then the results"
    )
    ports = ports or {}
    fixed = [port for port in ports.values() if port]
    if len(fixed) != len(set(fixed)):
        raise UsageError("demo: the two servers need different ports")
    with serverproc.signals_interrupt():
        have_gevent = ensure_packages(
            target,
            report,
            yes=yes,
            break_system_packages=break_system_packages,
            confirm=confirm,
            log=log,
            quiet_stdout=quiet_stdout,
            command=command,
            installer=installer,
        )
        servers: list[ServerProcess] = []
        folder = Path(tempfile.mkdtemp(prefix="pipkit-demo-"))
        try:
            status = lock_status(target)
            log(lock_line(status, target.prefix))
            status_file = write_status_file(folder, status)
            # The live dashboard (pipkit ui's page) on both servers, with the demo's own
            # results added once they exist.
            live = _LiveData(target, folder / "data", status["lock"], report)
            kinds = [k for k in KINDS if have_gevent or k != "coroutine"]
            log(f"Starting {' and '.join(kinds)} servers under {target.python} ...")
            for kind in kinds:
                # Both start at once: their start-up times overlap.
                servers.append(
                    ServerProcess.launch(
                        kind,
                        target.python,
                        ports.get(kind, 0),
                        status_file,
                        str(folder),
                        data_dir=live.folder.path,
                    )
                )
            deadline = time.monotonic() + serverproc.READY_TIMEOUT
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
            if serve and ready:
                # Before the report: once it is out, the dashboard has the results too.
                live.refresh(with_demo=True)
            show(report)
            # Whoever reads a piped stdout must get the report now, not when serving ends.
            sys.stdout.flush()
            if serve and ready:
                _serve(ready, report, log, live.poll)
        finally:
            with serverproc.signals_hurry():
                stop_servers(servers)
                shutil.rmtree(folder, ignore_errors=True)
    return report


class _LiveData:
    """The dashboard's documents for the demo's servers (see :mod:`pipkit.ops.ui`)."""

    def __init__(self, target: Target, path: Path, lock: str | None, report: DemoReport) -> None:
        from pipkit.ops import ui

        path.mkdir()
        self.target, self.lock, self.report = target, lock, report
        self.folder = ui.DataFolder(path)
        self.with_demo = False
        self.last: list[Any] = []
        self.refresh()

    def refresh(self, *, with_demo: bool = False) -> None:
        from pipkit.ops import ui

        self.with_demo = self.with_demo or with_demo
        self.last = ui.stamp(self.target, self.lock)
        docs = dict(ui.documents(self.target, self.lock, os.getcwd()))
        if self.with_demo:
            report = self.report
            docs.update(ui.demo_documents(report.to_json(), report.latencies, report.rates))
        self.folder.write(docs)

    def poll(self) -> None:
        from pipkit.ops import ui

        if ui.stamp(self.target, self.lock) != self.last:
            self.refresh()


def _serve(
    servers: Sequence[ServerProcess],
    report: DemoReport,
    log: Callable[[str], None],
    poll: Callable[[], None] = lambda: None,
) -> None:
    """Keep the servers running until Ctrl-C, SIGTERM, or one of them exits; ``poll``
    (the dashboard's refresh) runs about once a second, inside the Ctrl-C handling.

    A server that exits on its own is a failure added to ``report`` (already shown), so
    the exit code says so.
    """
    for server in servers:
        log(f"Serving {server.kind} on {server.url}")
    log("Press Ctrl-C to stop.")
    try:
        ticks = 0
        while all(server.alive() for server in servers):
            time.sleep(0.25)
            ticks += 1
            if ticks % 4 == 0:
                poll()
    except KeyboardInterrupt:
        log("Stopping ...")
        return
    for server in servers:
        code = server.exit_code()
        if code is not None:
            detail = f"exited with code {code} while serving:\n{server.tail()}"
            report.add(f"{server.kind}: serving", False, detail)
            log(f"The {server.kind} server {detail}")

"""``pipkit demo``: the live self-test, its failures, and that it never hangs or leaks.

The passing run needs an interpreter with gevent: the test runner's own (the ``test``
extra brings gevent); without it those tests skip, and fail under CI (``CI`` set). Failing
servers are made with a fake ``gevent`` package in a throwaway venv copy (one that raises on
import, one that hangs and ignores SIGTERM), so no real install is needed. The real install
from the registry is ``@pytest.mark.network``.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib.util
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from pipkit.env import serverproc
from pipkit.ops import demo
from tests.conftest import ROOT, require, site_packages

HAS_GEVENT = importlib.util.find_spec("gevent") is not None


@pytest.fixture
def needs_gevent() -> None:
    require(HAS_GEVENT, "gevent in the test interpreter (the test extra brings it)")


CHECK_NAMES = {
    "greenlet + gevent installed",
    *(
        f"{kind}: {check}"
        for kind in demo.KINDS
        for check in ("start", "dashboard", "/api/packages", "/api/env", "echo")
    ),
    *(f"{kind}: {check}" for kind in demo.KINDS for check in ("concurrency", "burst")),
    "coroutine: socket patched",
    "coroutine: greenlet switching",
}


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The demo checks the lock in the working directory: no stray requirements.txt here.
    monkeypatch.chdir(tmp_path)


def _processes_running(needle: str) -> list[int]:
    """Pids whose command line mentions ``needle`` (Linux /proc), zombies excluded."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _without_unbuffered() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


def _fake_gevent(venv: Path, init: str) -> None:
    """Make greenlet and gevent look installed in ``venv``, with ``init`` as gevent."""
    site = site_packages(venv)
    for name, version in (("greenlet", "3.0.0"), ("gevent", "24.2.1")):
        info = site / f"{name}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\n"
        )
        (info / "INSTALLER").write_text("pip\n")
    (site / "gevent").mkdir()
    (site / "gevent" / "__init__.py").write_text(init)


def _json(stdout: str) -> dict[str, Any]:
    # CliRunner echoes the typed answer to stdout (a terminal would echo it, not pipkit).
    data: dict[str, Any] = json.loads(stdout[stdout.index("{") :])
    return data


def _checks(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in data["checks"]}


# ----------------------------------------------------------------- a passing run ---


@pytest.mark.usefixtures("needs_gevent")
def test_demo_passes_with_json_shape(run_pipkit):  # type: ignore[no-untyped-def]
    result = run_pipkit("--python", sys.executable, "demo", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"ok", "checks", "servers"}
    assert data["ok"] is True
    for check in data["checks"]:
        assert set(check) == {"name", "ok", "detail"}
        assert check["ok"] is True, check
        assert isinstance(check["detail"], str) and check["detail"]
    assert {check["name"] for check in data["checks"]} == CHECK_NAMES
    assert [s["kind"] for s in data["servers"]] == ["threaded", "coroutine"]
    for server in data["servers"]:
        assert set(server) == {"kind", "url"}
        assert urlsplit(server["url"]).hostname == "127.0.0.1"
    # Stopped afterwards: nothing listens on their ports any more.
    for server in data["servers"]:
        parts = urlsplit(server["url"])
        conn = http.client.HTTPConnection(str(parts.hostname), parts.port, timeout=2)
        with pytest.raises(OSError):
            conn.request("GET", "/healthz")
            conn.getresponse()
        conn.close()


@pytest.mark.usefixtures("needs_gevent")
def test_demo_table(run_pipkit):  # type: ignore[no-untyped-def]
    result = run_pipkit("--python", sys.executable, "demo")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Check" in out and "Result" in out and "Figures" in out
    assert "coroutine: greenlet switching" in out
    assert f"All {len(CHECK_NAMES)} checks passed." in out
    assert "threaded   http://127.0.0.1:" in out
    assert "FAILED" not in out
    first, second = result.stderr.splitlines()[:2]
    assert first.startswith("target: ")  # a changing command says where it acts, first
    assert second.startswith(f"pipkit demo: a self-test of {sys.executable}: ")


@contextlib.contextmanager
def _serving(
    tmp_path: Path,
) -> Iterator[tuple[subprocess.Popen[str], list[int], Path, dict[str, Any]]]:
    """``pipkit demo --serve --json`` in a subprocess, once its report is out: the process,
    the servers' pids (from their /api/env), the file holding pipkit's stderr and the
    report."""
    cmd = [sys.executable, "-m", "pipkit", "--python", sys.executable, "demo", "--serve"]
    cmd.append("--json")
    errors = tmp_path / "stderr.txt"
    with errors.open("w") as stderr:
        proc = subprocess.Popen(
            cmd,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            # Block-buffered stdout, as for any pipe: the report must still arrive at once.
            env={**_without_unbuffered(), "PYTHONPATH": str(ROOT)},
        )
    pids: list[int] = []
    try:
        report = _read_json_document(proc, timeout=60)
        assert report["ok"] is True
        for server in report["servers"]:
            parts = urlsplit(server["url"])
            conn = http.client.HTTPConnection(str(parts.hostname), parts.port, timeout=5)
            conn.request("GET", "/api/env")
            pids.append(json.loads(conn.getresponse().read())["pid"])
            conn.close()
        assert all(_alive(pid) for pid in pids)  # still serving after the self-test
        yield proc, pids, errors, report
    finally:
        if proc.poll() is None:
            # SIGTERM first: pipkit then stops its servers (a SIGKILL would orphan them).
            proc.terminate()
            try:
                proc.wait(timeout=serverproc.STOP_TIMEOUT + 10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.usefixtures("needs_gevent")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_serve_stops_cleanly(signum, tmp_path):  # type: ignore[no-untyped-def]
    """--serve keeps both servers up after the test; Ctrl-C or SIGTERM stops them all."""
    with _serving(tmp_path) as (proc, pids, errors, _report):
        proc.send_signal(signum)
        assert proc.wait(timeout=serverproc.STOP_TIMEOUT + 10) == 0
        assert "Press Ctrl-C to stop." in errors.read_text()
        assert not [pid for pid in pids if _alive(pid)]


@pytest.mark.usefixtures("needs_gevent")
def test_serve_dashboard_has_the_demo_results(tmp_path):  # type: ignore[no-untyped-def]
    """--serve: both servers' live dashboard shows the checks, req/s, p50/p99 per server and
    the latency histogram, from the moment the report is out."""
    with _serving(tmp_path) as (_proc, _pids, _errors, report):
        (url,) = [s["url"] for s in report["servers"] if s["kind"] == "threaded"]
        parts = urlsplit(url)
        conn = http.client.HTTPConnection(str(parts.hostname), parts.port, timeout=5)
        conn.request("GET", "/data/demo.json")
        doc = json.loads(conn.getresponse().read())
        conn.request("GET", "/data/latency.svg")
        svg = conn.getresponse().read().decode()
        conn.request("GET", "/")
        page = conn.getresponse()
        assert "script-src 'self'" in (page.getheader("Content-Security-Policy") or "")
        page.read()
        conn.close()
        assert doc["ok"] is True and len(doc["checks"]) == 17
        for kind in demo.KINDS:
            stats = doc["stats"][kind]
            assert stats["requests"] == 300 and stats["rps"] > 0
            assert 0 < stats["p50_ms"] <= stats["p99_ms"]
            assert f'data-server="{kind}"' in svg


@pytest.mark.usefixtures("needs_gevent")
def test_serve_ends_when_a_server_dies(tmp_path):  # type: ignore[no-untyped-def]
    with _serving(tmp_path) as (proc, pids, errors, _report):
        os.kill(pids[0], signal.SIGKILL)  # the threaded server
        assert proc.wait(timeout=serverproc.STOP_TIMEOUT + 10) == 1
        assert "threaded server exited with code -9 while serving" in errors.read_text()
        assert not [pid for pid in pids if _alive(pid)]


def _read_json_document(proc: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    """The indented JSON object ``proc`` prints first, read with a bound (never a hang)."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put("")  # EOF

    threading.Thread(target=pump, daemon=True).start()
    text: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            pytest.fail(f"no JSON report within {timeout:g} s; so far: {''.join(text)!r}")
        assert line, f"pipkit ended before printing its report: {''.join(text)!r}"
        text.append(line)
        if line.rstrip("\n") == "}":
            data: dict[str, Any] = json.loads("".join(text))
            return data


# -------------------------------------------------------------- failing servers ---


def test_broken_gevent_fails_the_coroutine_checks(run_pipkit, venv):  # type: ignore[no-untyped-def]
    _fake_gevent(venv, 'raise ImportError("gevent broken on purpose")\n')
    result = run_pipkit("--python", str(venv), "demo", "--json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["ok"] is False
    checks = _checks(data)
    start = checks["coroutine: start"]
    assert start["ok"] is False
    assert "exited with code" in start["detail"]
    assert "gevent broken on purpose" in start["detail"]
    # The threaded server needs only the standard library: it still passes everything.
    threaded = [c for name, c in checks.items() if name.startswith("threaded:")]
    assert len(threaded) == 7 and all(c["ok"] for c in threaded)
    assert not any(name.startswith("coroutine: ") and name != "coroutine: start" for name in checks)
    assert {"kind": "coroutine", "url": None} in data["servers"]
    assert not _processes_running(str(venv))


def test_hanging_server_times_out_and_is_killed(run_pipkit, venv, monkeypatch):  # type: ignore[no-untyped-def]
    # A gevent that never finishes importing and ignores SIGTERM: only SIGKILL ends it.
    _fake_gevent(
        venv,
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(600)\n",
    )
    monkeypatch.setattr(serverproc, "READY_TIMEOUT", 2.0)
    monkeypatch.setattr(serverproc, "STOP_TIMEOUT", 1.0)
    # The timeout firing is the event: its message, one failed check, the server killed
    # (the suite's own timeout bounds a hang).
    result = run_pipkit("--python", str(venv), "demo")
    assert result.exit_code == 1, result.output
    assert "no ready line within 2 s" in result.stdout
    assert "1 of 9 checks failed." in result.stdout
    assert not _processes_running(str(venv))


def test_declined_install_changes_nothing(run_pipkit, venv, terminal):  # type: ignore[no-untyped-def]
    result = run_pipkit("--python", str(venv), "demo", "--json", input="n\n")
    assert result.exit_code == 1, result.output
    assert "Install greenlet, gevent into" in result.stderr
    data = _json(result.stdout)
    checks = _checks(data)
    assert checks["greenlet + gevent installed"]["ok"] is False
    assert "declined" in checks["greenlet + gevent installed"]["detail"]
    assert checks["coroutine: start"] == {
        "name": "coroutine: start",
        "ok": False,
        "detail": "not started: gevent is not installed",
    }
    assert checks["threaded: burst"]["ok"] is True
    assert not list(site_packages(venv).glob("gevent*"))
    assert not _processes_running(str(venv))


def test_no_answer_is_no(run_pipkit, venv, terminal):  # type: ignore[no-untyped-def]
    result = run_pipkit("--python", str(venv), "demo", "--json", input="")
    assert result.exit_code == 1, result.output
    assert "declined" in _checks(_json(result.stdout))["greenlet + gevent installed"]["detail"]


def test_refuses_to_install_outside_a_venv(run_pipkit):  # type: ignore[no-untyped-def]
    base = os.path.join(sys.base_prefix, "bin", "python3")
    probe = subprocess.run([base, "-c", "import gevent"], capture_output=True, check=False)
    if probe.returncode == 0:
        pytest.skip("the base interpreter has gevent: nothing to install")
    result = run_pipkit("--python", base, "demo", "--yes")
    assert result.exit_code == 2
    assert "not a virtual environment" in result.stderr
    assert "Traceback" not in result.output


def test_same_port_twice_is_a_usage_error(run_pipkit):  # type: ignore[no-untyped-def]
    result = run_pipkit(
        "--python", sys.executable, "demo", "--port-threaded", "8123", "--port-coroutine", "8123"
    )
    assert result.exit_code == 2
    assert "the two servers need different ports" in result.stderr


def test_busy_port_is_a_failed_start(run_pipkit, venv, terminal):  # type: ignore[no-untyped-def]
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        result = run_pipkit(
            "--python", str(venv), "demo", "--json", "--port-threaded", str(port), input="n\n"
        )
    assert result.exit_code == 1
    start = _checks(_json(result.stdout))["threaded: start"]
    assert start["ok"] is False and "exited with code" in start["detail"]
    assert not _processes_running(str(venv))


# ------------------------------------------------------------------ lock status ---


def test_lock_status_for_the_dashboards(venv, tmp_path):  # type: ignore[no-untyped-def]
    from pipkit.env.target import resolve_target

    target = resolve_target(str(venv))
    folder = tmp_path / "work"
    folder.mkdir()
    assert demo.lock_status(target, str(folder)) == {
        "lock": None,
        "in_sync": None,
        "summary": "no lock checked",
        "differences": [],
    }
    (folder / "requirements.txt").write_text("alpha==1.0\n")
    status = demo.lock_status(target, str(folder))
    assert status["lock"] == str(folder / "requirements.txt")
    assert status["in_sync"] is False
    assert status["summary"] == "differs from the lock: 1 missing"
    (folder / "requirements.txt").write_text("-r nowhere.txt\n")
    status = demo.lock_status(target, str(folder))
    assert status["in_sync"] is None and status["summary"].startswith("lock not checked: ")
    written = demo.write_status_file(tmp_path, status)
    assert json.loads(written.read_text()) == status
    assert not list(tmp_path.glob(".status.json.*"))  # atomic: no temp file left behind


def test_the_lock_line_names_the_lock_and_each_difference(  # type: ignore[no-untyped-def]
    venv, wheelhouse, tmp_path, monkeypatch
):
    from pipkit.env.target import resolve_target
    from tests.conftest import pip_install

    pip_install(venv, "alpha==2.0", "beta==1.0", "epoch", wheelhouse=wheelhouse)
    target = resolve_target(str(venv))
    folder = tmp_path / "work"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    here = str(folder)

    def line() -> str:
        return demo.lock_line(demo.lock_status(target, here), target.prefix, here)

    assert (
        line()
        == "lock: none compared (no requirements.txt or pylock.toml here, no [tool.pipkit] lock)"
    )
    (folder / "requirements.txt").write_text("alpha==2.0\nbeta==1.0\nepoch==1!2.0\n")
    assert line() == f"lock: requirements.txt vs {venv}: in sync"
    (folder / "requirements.txt").write_text("alpha==1.0\nbeta==1.0\nepoch==1!2.0\n")
    assert line() == (
        f"lock: requirements.txt vs {venv}: 1 differs (alpha 1.0 locked, 2.0 installed)"
    )
    # The configured lock is the one compared, as check takes it.
    (folder / "pyproject.toml").write_text('[tool.pipkit]\nlock = "dev.txt"\n')
    (folder / "dev.txt").write_text("alpha==1.0\ngamma==1.0\n")
    assert line() == (
        f"lock: dev.txt vs {venv}: 4 differ (alpha 1.0 locked, 2.0 installed; "
        "gamma 1.0 locked, not installed; beta 1.0 installed, not in the lock; "
        "and 1 more (pipkit check lists them))"
    )
    (folder / "dev.txt").write_text("-r nowhere.txt\n")
    assert line().startswith("lock: dev.txt not compared: ")


# -------------------------------------------------------------- the real install ---


@pytest.mark.network
def test_real_install_then_demo(venv):  # type: ignore[no-untyped-def]
    """Fresh venv, --yes: greenlet and gevent come from the registry via pipkit install.

    Deselected by default (``-m "not network"``); ``.ci/run`` runs it on its own.
    """
    result = subprocess.run(
        [sys.executable, "-m", "pipkit", "--python", str(venv), "demo", "--yes", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,  # within the suite's --timeout=300: a hang fails here, with pip's output
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads(result.stdout)  # pip's output went to stderr, not into the JSON
    assert data["ok"] is True
    installed = _checks(data)["greenlet + gevent installed"]
    assert "installed now: greenlet, gevent; undo with pipkit rollback" in installed["detail"]
    assert list(site_packages(venv).glob("gevent-*.dist-info"))
    assert not _processes_running(str(venv))

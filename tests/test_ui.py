"""``pipkit ui``: the ready line, the documents it keeps up to date, read-only and Host-checked
serving, and a clean stop. The browser's view is in ``test_ui_browser.py``."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from pipkit.servers.routes import LIVE_CSP
from tests.conftest import ROOT
from tests.uihelpers import XSS, drifted_env, running_ui


def raw(port: int, request: bytes) -> bytes:
    """One request over a plain socket; the whole answer (the server closes or we read
    until the headers and Content-Length body are in)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        return head + b"\r\n\r\n" + body


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def test_ui_serves_drift_graph_and_history_then_stops_on_sigterm(
    venv: Path, wheelhouse: Path, tmp_path: Path
) -> None:
    drifted_env(venv, wheelhouse, tmp_path)
    with running_ui(venv, tmp_path) as ui:
        drift = ui.doc("drift.json")
        assert drift["state"] == "out of sync"
        assert drift["lock"] == str(tmp_path / "requirements.txt")
        rows = {(r["kind"], r["name"]): r for r in drift["rows"]}
        assert rows[("missing", "gamma")]["fix"] == "pipkit install gamma==1.0"
        changed = rows[("changed", "beta")]
        assert (changed["locked"], changed["installed"]) == ("2.0", "1.0")
        assert rows[("extra", "xss-pkg")]["fix"] == "pipkit uninstall xss-pkg"
        assert drift["fix_all"] == "pipkit sync requirements.txt --yes"
        env = ui.doc("env.json")
        assert env["prefix"] == str(venv) and env["venv"] is True and env["pip"]
        assert env["installer"] == "pip"  # the engine `pipkit ui` was started with (default)
        graph = ui.doc("graph.json")
        keys = {n["key"] for n in graph["nodes"]}
        assert {"alpha", "beta", "xss-pkg", "pip"} <= keys and "gamma" not in keys
        edge = {(e["from"], e["to"]): e["label"] for e in graph["edges"]}
        assert edge[("beta", "alpha")] == "beta requires alpha>=1.0"
        states = {n["key"]: n["state"] for n in graph["nodes"]}
        assert (states["beta"], states["xss-pkg"], states["alpha"]) == ("changed", "extra", "ok")
        status, headers, svg = ui.get("/data/graph.svg")
        assert status == 200 and headers["content-type"].startswith("image/svg+xml")
        assert svg.count(b'<g class="node ') == len(keys)
        assert XSS.encode() not in svg and b"&lt;script&gt;document.title=" in svg
        history = ui.doc("history.json")
        (entry,) = history["entries"]
        assert entry["command"].endswith(
            "install beta==1.0 -- --no-index --find-links " + str(wheelhouse)
        )
        assert (entry["added"], entry["removed"], entry["outside"]) == (1, 0, False)
        assert entry["diff"] == ["+ beta 1.0"]
        index = ui.doc("index.json")
        assert set(index["docs"]) == {
            "env.json", "drift.json", "graph.json", "graph.svg", "history.json"
        }  # fmt: skip
        assert ui.stop(signal.SIGTERM) == 0
    err = ui.stderr.read_text()
    assert "pipkit ui: stopped" in err and "Traceback" not in err


def test_ui_is_read_only_and_answers_only_its_own_host(
    venv: Path, wheelhouse: Path, tmp_path: Path
) -> None:
    drifted_env(venv, wheelhouse, tmp_path)
    with running_ui(venv, tmp_path) as ui:
        port = ui.port
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}"):
            answer = raw(
                port, f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
            )
            assert status_of(answer) == 200, host
        # DNS rebinding: a page on evil.example resolved to 127.0.0.1 sends its own name.
        for host in ("evil.example", f"evil.example:{port}", "127.0.0.1", f"localhost:{port + 1}"):
            request = f"GET /data/drift.json HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
            answer = raw(port, request.encode())
            assert status_of(answer) == 421, host
            assert b"beta" not in answer
        for method, path in (("POST", "/"), ("PUT", "/data/drift.json"), ("DELETE", "/nope"),
                             ("POST", "/api/echo"), ("PATCH", "/api/packages")):  # fmt: skip
            answer = raw(
                port,
                f"{method} {path} HTTP/1.1\r\nHost: localhost:{port}\r\nContent-Length: 2\r\n"
                "Connection: close\r\n\r\nhi".encode(),
            )
            assert status_of(answer) == 405, (method, path)
            assert b"\r\nAllow: GET, HEAD\r\n" in answer
        status, headers, page = ui.get("/")
        assert status == 200 and headers["content-security-policy"] == LIVE_CSP
        assert "script-src 'self'" in LIVE_CSP and "unsafe-inline" not in LIVE_CSP
        text = page.decode()
        assert '<script src="/static/dashboard.js" defer></script>' in text
        # No inline script and no inline style in the page: the CSP would block them.
        assert text.count("<script") == 1 and " style=" not in text and "<style" not in text
        for path in ("/data/../requirements.txt", "/data/%2e%2e/requirements.txt"):
            assert ui.get(path)[0] == 404


def test_ui_lock_must_exist(venv: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pipkit", "--python", str(venv), "ui", "--lock", "nope.txt"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == "pipkit: error: --lock nope.txt: no such lock file\n"
    assert result.stdout == ""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ui_stops_its_server(venv: Path, tmp_path: Path, signum: int) -> None:
    with running_ui(venv, tmp_path) as ui:
        assert ui.doc("drift.json")["state"] == "no lock"
        assert ui.stop(signum) == 0
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", ui.port), timeout=2).close()


def test_demo_documents_give_percentiles_rates_and_a_histogram() -> None:
    from pipkit.ops.ui import demo_documents

    latencies = {"threaded": [0.001] * 98 + [0.05, 0.1], "coroutine": [0.002, 0.004]}
    docs = demo_documents({"ok": True, "checks": []}, latencies, {"threaded": 512.34})
    stats = json.loads(docs["demo.json"])["stats"]
    assert stats["threaded"] == {"requests": 100, "rps": 512.3, "p50_ms": 1.0, "p99_ms": 100.0}
    assert stats["coroutine"] == {"requests": 2, "rps": None, "p50_ms": 4.0, "p99_ms": 4.0}
    svg = docs["latency.svg"]
    assert svg.count('data-server="threaded"') == 1 and ">98 requests" not in svg
    assert "threaded: 98 requests" in svg


def test_ui_open_hands_the_url_to_the_browser(venv: Path, tmp_path: Path) -> None:
    opened = tmp_path / "opened.fifo"
    os.mkfifo(opened)  # read blocks until the stand-in browser writes: no polling
    # webbrowser runs $BROWSER with the URL for %s: a stand-in that writes it down.
    script = f"import sys; open({str(opened)!r}, 'w').write(sys.argv[1])"
    browser = f"{sys.executable} -c {shlex.quote(script)} %s"
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(opened.read_text()), daemon=True)
    reader.start()
    with running_ui(venv, tmp_path, "--open", env={"BROWSER": browser}) as ui:
        reader.join(30)
        assert got == [ui.url]

"""Each example in examples/ runs by itself, exits 0 and prints what it did, in bounded time."""

from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import ROOT, require_gevent

EXAMPLES = {
    "socketserver_family.py": ["threading TCP", "forking UDP", "all four echo servers"],
    "greenlet_switching.py": [
        "pong got 2, returns 3",
        "ping done at 3",
        "after throw, pong dead: True",
    ],
    "gevent_basics.py": ["10 x sleep(0.2)", "1 OS thread(s)", "Timeout(0.1) cut"],
    "gevent_monkey_server.py": [
        "socket.socket is gevent's: True",
        "OS threads that ran handlers: 1",
    ],
    "embed_threaded_server.py": ["'hello': 'pipkit'", "'desserts'", "stopped cleanly: True"],
}


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_runs_and_says_what_it_did(name: str, tmp_path: object) -> None:
    if "gevent" in name or "greenlet" in name:
        require_gevent()
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name)],
        capture_output=True, text=True, timeout=30, cwd=str(tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    for expected in EXAMPLES[name]:
        assert expected in result.stdout, result.stdout
    assert "Traceback" not in result.stderr, result.stderr

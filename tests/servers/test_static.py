"""Static files: served from one folder, and no spelling of a path ever leaves it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from pipkit.servers import protocol, routes


@pytest.fixture
def static_tree(tmp_path: Path) -> Path:
    """tmp/secret.txt outside, tmp/static/ inside with files, a subdir and symlinks."""
    (tmp_path / "secret.txt").write_text("SECRET")
    root = tmp_path / "static"
    (root / "sub").mkdir(parents=True)
    (root / "hello.html").write_text("<p>hi</p>")
    (root / "sub" / "data.json").write_text('{"a": 1}')
    (root / "a b.txt").write_text("spaced")
    os.symlink(tmp_path / "secret.txt", root / "out-link.txt")
    os.symlink(tmp_path, root / "out-dir")
    os.symlink(root / "hello.html", root / "in-link.html")
    return root


def get(files: protocol.StaticFiles, path: str, method: str = "GET") -> protocol.Response:
    request = protocol.Request(method, path, path, "", (1, 1), [("host", "t")])
    return files(request)


@pytest.mark.parametrize(
    ("path", "body", "ctype"),
    [
        ("/static/hello.html", b"<p>hi</p>", "text/html; charset=utf-8"),
        ("/static/sub/data.json", b'{"a": 1}', "application/json; charset=utf-8"),
        ("/static/a%20b.txt", b"spaced", "text/plain; charset=utf-8"),
        ("/static/in-link.html", b"<p>hi</p>", "text/html; charset=utf-8"),
    ],
)
def test_files_inside_are_served(static_tree: Path, path: str, body: bytes, ctype: str) -> None:
    resp = get(protocol.StaticFiles(static_tree), path)
    assert (resp.status, resp.body, resp.content_type) == (200, body, ctype)


ESCAPES = [
    "/static/../secret.txt",
    "/static/%2e%2e/secret.txt",
    "/static/%2E%2E%2Fsecret.txt",
    "/static/..%2fsecret.txt",
    "/static/..%5csecret.txt",
    "/static/..\\secret.txt",
    "/static/sub/../../secret.txt",
    "/static/sub/%2e%2e/%2e%2e/secret.txt",
    "/static/./hello.html",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/static/%2Fetc/passwd",
    "/static/C:%5cWindows%5cwin.ini",
    "/static/hello.html%00.txt",
    "/static/%00",
    "/static/%ff%fe",
    "/static/out-link.txt",
    "/static/out-dir/secret.txt",
    "/static/%252e%252e/secret.txt",
    "/static/",
    "/static/sub",
    "/static/sub/",
    "/static/missing.txt",
]


@pytest.mark.parametrize("path", ESCAPES)
def test_escapes_and_oddities_are_404(static_tree: Path, path: str) -> None:
    files = protocol.StaticFiles(static_tree)
    assert files.resolve(path) is None
    resp = get(files, path)
    assert resp.status == 404 and b"SECRET" not in resp.body


def test_only_get_and_head(static_tree: Path) -> None:
    resp = get(protocol.StaticFiles(static_tree), "/static/hello.html", "POST")
    assert resp.status == 405 and ("Allow", "GET, HEAD") in resp.headers


def test_changed_file_is_served_fresh(static_tree: Path) -> None:
    files = protocol.StaticFiles(static_tree)
    assert get(files, "/static/hello.html").body == b"<p>hi</p>"
    target = static_tree / "hello.html"
    target.write_text("<p>changed, and longer</p>")
    assert get(files, "/static/hello.html").body == b"<p>changed, and longer</p>"


def test_bundled_folder_has_the_bench_page() -> None:
    files = protocol.StaticFiles(routes.STATIC_ROOT)
    resp = get(files, "/static/hello.html")
    assert resp.status == 200 and b"<h1>pipkit</h1>" in resp.body
    assert files.resolve("/static/../protocol.py") is None


@pytest.mark.parametrize(
    "target",
    [
        b"/static/../protocol.py",
        b"/static/%2e%2e/protocol.py",
        b"/static/..%2fprotocol.py",
        b"/static/..%5cprotocol.py",
        b"/static/%2e%2e%2f%2e%2e%2fcore%2fmodel.py",
        b"/static/%2fetc%2fpasswd",
    ],
)
def test_escapes_over_the_wire_are_404(roundtrip: Any, target: bytes) -> None:
    (resp,) = roundtrip(b"GET " + target + b" HTTP/1.1\r\nHost: t\r\n\r\n")
    assert resp.status == 404 and b"import" not in resp.body

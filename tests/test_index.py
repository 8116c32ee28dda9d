"""pipkit.env.index: the Simple API client, against indexes built in tmp_path or on loopback.

Hermetic: ``file://`` trees in tmp_path, find-links directories of (empty) wheels, and
``http.server`` instances on 127.0.0.1 port 0, each shut down after its test.
"""

from __future__ import annotations

import base64
import gzip
import json
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from packaging.version import Version

from pipkit.env import index
from pipkit.env.index import (
    ProjectInfo,
    latest_of,
    latest_versions,
    lookup_projects,
    project_versions,
    redact_url,
)
from pipkit.env.pipconfig import PipConfig
from pipkit.errors import OperationError, UsageError

JSON_TYPE = "application/vnd.pypi.simple.v1+json"


@pytest.fixture(autouse=True)
def no_netrc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read the developer's ~/.netrc."""
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))


# -- a loopback index ------------------------------------------------------------------------


@dataclass
class Server:
    url: str
    routes: dict[str, tuple[int, str, bytes]]
    hold: int = 0
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    released: bool = False
    lock: threading.Condition = field(default_factory=threading.Condition)


@contextmanager
def serve(
    routes: dict[str, tuple[int, str, bytes]],
    *,
    hold: int = 0,
    auth: str | None = None,
    tls: ssl.SSLContext | None = None,
) -> Iterator[Server]:
    """An HTTP(S) server on 127.0.0.1 answering ``routes`` (path -> status, type, body).

    For a 3xx status the "type" is the Location to redirect to. With ``hold``, no request is
    answered before ``hold`` of them are in flight at once (a client that sends one at a time
    gets its answers only after a 30 s deadline, and ``max_in_flight`` then says 1).
    """
    server_state = Server(url="", routes=routes, hold=hold)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state = server_state
            with state.lock:
                state.requests.append((self.path, dict(self.headers.items())))
                state.in_flight += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
                if state.hold:
                    state.lock.notify_all()
                    if not state.lock.wait_for(
                        lambda: state.released or state.max_in_flight >= state.hold, 30
                    ):
                        state.released = True  # never concurrent: stop holding anyone
                        state.lock.notify_all()
            try:
                if auth is not None and self.headers.get("Authorization") != f"Basic {auth}":
                    self.send_error(401)
                    return
                status, content_type, body = state.routes.get(self.path, (404, "text/plain", b""))
                if "gzip" in self.headers.get("Accept-Encoding", "") and status == 200:
                    body = gzip.compress(body)
                    gzipped = True
                else:
                    gzipped = False
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", content_type)
                    content_type = "text/plain"
                self.send_header("Content-Type", content_type)
                if gzipped:
                    self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            finally:
                with state.lock:
                    state.in_flight -= 1

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    if tls is not None:
        httpd.socket = tls.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    scheme = "https" if tls is not None else "http"
    server_state.url = f"{scheme}://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield server_state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def closed_port_url() -> str:
    """A loopback URL nothing listens on: connections are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/simple"


def json_page(name: str, files: list[dict[str, object]]) -> tuple[int, str, bytes]:
    data = {"meta": {"api-version": "1.1"}, "name": name, "files": files}
    return 200, JSON_TYPE, json.dumps(data).encode()


def html_page(*anchors: str) -> tuple[int, str, bytes]:
    body = "<!DOCTYPE html><html><body>\n" + "\n".join(anchors) + "\n</body></html>"
    return 200, "text/html; charset=utf-8", body.encode()


def config(*indexes: str, find_links: tuple[str, ...] = (), **kwargs: object) -> PipConfig:
    """A PipConfig with the first index as index-url and the rest as extras."""
    first, *extras = indexes or ("unused",)
    return PipConfig(
        index_url=first,
        extra_index_urls=tuple(extras),
        find_links=find_links,
        no_index=not indexes,
        timeout=5.0,
        **kwargs,  # type: ignore[arg-type]
    )


def versions(info: ProjectInfo) -> list[str]:
    return [str(v.version) for v in info.versions]


# -- file:// PEP 503 tree ---------------------------------------------------------------------


def build_file_index(root: Path) -> Path:
    """A PEP 503 tree: simple/<name>/index.html with relative links into files/."""
    simple = root / "simple"
    (root / "files").mkdir(parents=True)
    (simple / "demo-pkg").mkdir(parents=True)
    (simple / "demo-pkg" / "index.html").write_text(
        "<html><body>\n"
        '<a href="../../files/demo_pkg-1.0-py3-none-any.whl#sha256=aa11" '
        'data-requires-python="&gt;=3.8">demo_pkg-1.0-py3-none-any.whl</a>\n'
        '<a href="../../files/demo-pkg-1.0.tar.gz#sha256=bb22">demo-pkg-1.0.tar.gz</a>\n'
        '<a href="../../files/demo_pkg-1.1-py3-none-any.whl" data-yanked="broken build">x</a>\n'
        '<a href="../../files/demo_pkg-2.0b1-py3-none-any.whl">2.0b1</a>\n'
        '<a href="../../files/other-3.0.tar.gz">not ours</a>\n'
        '<a href="../../files/demo-pkg-latest.exe">unparseable</a>\n'
        "<a>no href</a>\n"
        "</body></html>\n",
        encoding="utf-8",
    )
    return simple


def test_file_index_pep503(tmp_path: Path) -> None:
    simple = build_file_index(tmp_path)
    url = simple.as_uri()
    # Any spelling of the name finds the normalized page.
    info = project_versions("Demo_Pkg", config(url))
    assert info.found and info.name == "demo-pkg"
    assert info.sources == info.found_on == (url,)
    assert versions(info) == ["2.0b1", "1.1", "1.0"]
    v10 = info.versions[-1]
    assert {f.kind for f in v10.files} == {"wheel", "sdist"}
    wheel = next(f for f in v10.files if f.kind == "wheel")
    assert wheel.url == (tmp_path / "files" / "demo_pkg-1.0-py3-none-any.whl").as_uri()
    assert wheel.hash_map == {"sha256": "aa11"}
    assert wheel.requires_python == ">=3.8"
    v11 = info.versions[1]
    assert v11.yanked and v11.yanked_reason == "broken build"
    # 1.1 is yanked and 2.0b1 is a pre-release: 1.0 is the latest.
    assert info.latest() == Version("1.0")


def test_file_index_as_plain_path_and_missing_project(tmp_path: Path) -> None:
    simple = build_file_index(tmp_path)
    assert versions(project_versions("demo.pkg", config(str(simple)))) == ["2.0b1", "1.1", "1.0"]
    missing = project_versions("nothing-here", config(simple.as_uri()))
    assert not missing.found and missing.files == () and missing.errors == ()


def test_missing_index_directory_is_an_error(tmp_path: Path) -> None:
    url = (tmp_path / "nowhere").as_uri()
    with pytest.raises(OperationError, match=r"demo: could not reach .*nowhere \(no such dir"):
        project_versions("demo", config(url))


# -- HTTP: PEP 691 JSON and PEP 503 HTML -----------------------------------------------------


def test_http_json_index(tmp_path: Path) -> None:
    page = json_page(
        "demo",
        [
            {
                "filename": "demo-1.0-py3-none-any.whl",
                "url": "../../files/demo-1.0-py3-none-any.whl",
                "hashes": {"sha256": "cafe"},
                "requires-python": ">=3.9",
            },
            {"filename": "demo-1.2.tar.gz", "url": "/files/demo-1.2.tar.gz", "yanked": "oops"},
            {"filename": "demo-1.1.tar.gz", "url": "https://files.example/demo-1.1.tar.gz"},
            {"filename": "demo-0.9.tar.gz", "url": "x", "yanked": True},
            {
                "filename": "demo-0.8.tar.gz",
                "url": "x",
                "yanked": "",
            },  # not yanked, as pip reads it
            {"filename": "garbage", "url": "y"},
        ],
    )
    with serve({"/simple/demo/": page}) as server:
        info = project_versions("DEMO", config(f"{server.url}/simple"))
        path, headers = server.requests[0]
    assert path == "/simple/demo/"
    assert headers["Accept"].startswith("application/vnd.pypi.simple.v1+json")
    assert versions(info) == ["1.2", "1.1", "1.0", "0.9", "0.8"]
    by_version = {str(v.version): v for v in info.versions}
    assert by_version["1.2"].yanked and by_version["1.2"].yanked_reason == "oops"
    assert by_version["0.9"].yanked and by_version["0.9"].yanked_reason is None
    assert not by_version["0.8"].yanked
    wheel = by_version["1.0"].files[0]
    assert wheel.url == f"{server.url}/files/demo-1.0-py3-none-any.whl"
    assert wheel.hash_map == {"sha256": "cafe"} and wheel.requires_python == ">=3.9"
    assert by_version["1.1"].files[0].url == "https://files.example/demo-1.1.tar.gz"
    assert info.latest() == Version("1.1")


def test_http_html_index_with_base_href() -> None:
    page = html_page(
        '<base href="/packages/">',
        '<a href="demo-1.0.tar.gz#sha256=00ff">demo-1.0.tar.gz</a>',
        '<a href="demo-2.0rc1.tar.gz" data-yanked>demo-2.0rc1.tar.gz</a>',
        '<a href="demo-2.0rc2.tar.gz" data-requires-python="&lt;4,&gt;=3.10">rc2</a>',
    )
    with serve({"/simple/demo/": page}) as server:
        info = project_versions("demo", config(f"{server.url}/simple/"))
    assert versions(info) == ["2.0rc2", "2.0rc1", "1.0"]
    assert info.versions[0].files[0].url == f"{server.url}/packages/demo-2.0rc2.tar.gz"
    assert info.versions[0].files[0].requires_python == "<4,>=3.10"
    assert info.versions[1].yanked and info.versions[1].yanked_reason is None
    assert info.versions[2].files[0].hash_map == {"sha256": "00ff"}


def test_redirected_page_links_resolve_against_the_final_url() -> None:
    page = html_page('<a href="demo-1.0.tar.gz">d</a>')
    with serve({"/simple/demo/": (301, "/moved/demo/", b""), "/moved/demo/": page}) as server:
        info = project_versions("demo", config(f"{server.url}/simple"))
    assert info.files[0].url == f"{server.url}/moved/demo/demo-1.0.tar.gz"


def test_not_found_is_not_an_error() -> None:
    with serve({}) as server:
        info = project_versions("absent", config(f"{server.url}/simple"))
    assert not info.found and info.errors == () and info.latest() is None


def test_extra_index_files_are_merged_and_partial_failure_reported() -> None:
    main_page = json_page("demo", [{"filename": "demo-1.0.tar.gz", "url": "a/demo-1.0.tar.gz"}])
    extra_page = html_page('<a href="/f/demo-1.5-py3-none-any.whl">w</a>')
    with (
        serve({"/simple/demo/": main_page}) as main,
        serve({"/extra/demo/": extra_page}) as extra,
        serve({"/broken/demo/": (500, "text/plain", b"boom")}) as broken,
    ):
        cfg = config(f"{main.url}/simple", f"{extra.url}/extra", f"{broken.url}/broken")
        info = project_versions("demo", cfg)
    assert versions(info) == ["1.5", "1.0"]
    assert info.found_on == (f"{main.url}/simple", f"{extra.url}/extra")
    assert [(e.location, e.reason) for e in info.errors] == [
        (f"{broken.url}/broken", "HTTP 500 Internal Server Error")
    ]


def test_unreachable_index_raises_operation_error_naming_it() -> None:
    url = closed_port_url()
    with pytest.raises(OperationError) as info:
        project_versions("demo", config(url))
    assert str(info.value) == f"demo: could not reach {url} (connection refused)"


def test_unreachable_extra_index_with_credentials_is_redacted() -> None:
    url = closed_port_url().replace("http://", "http://user:s3cret@")
    with serve({}) as server:
        info = project_versions("demo", config(f"{server.url}/simple", url))
    assert not info.found
    (error,) = info.errors
    assert "s3cret" not in error.location and "user:****@" in error.location
    with pytest.raises(OperationError) as exc_info:
        project_versions("demo", config(url))
    assert "s3cret" not in str(exc_info.value)


def test_credentials_in_url_are_sent_as_basic_auth() -> None:
    token = base64.b64encode(b"user:p@ss").decode()
    page = html_page('<a href="demo-1.0.tar.gz">d</a>')
    with serve({"/simple/demo/": page}, auth=token) as server:
        url = server.url.replace("http://", "http://user:p%40ss@") + "/simple"
        info = project_versions("demo", config(url))
        assert versions(info) == ["1.0"]
        assert info.sources == (redact_url(url),)
        with pytest.raises(OperationError, match="HTTP 401"):
            project_versions("demo", config(f"{server.url}/simple"))


def test_netrc_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = base64.b64encode(b"alice:wonder").decode()
    page = html_page('<a href="demo-1.0.tar.gz">d</a>')
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login alice password wonder\n", encoding="utf-8")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    with serve({"/simple/demo/": page}, auth=token) as server:
        assert versions(project_versions("demo", config(f"{server.url}/simple"))) == ["1.0"]


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """(cert, key) PEM files of a self-signed certificate for 127.0.0.1, made by openssl."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-keyout", key, "-out", cert, "-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_https_verification_cert_and_trusted_host(self_signed: tuple[str, str]) -> None:
    cert, key = self_signed
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    page = html_page('<a href="demo-1.0.tar.gz">d</a>')
    with serve({"/simple/demo/": page}, tls=tls) as server:
        url = f"{server.url}/simple"
        # Not trusted by the default CA store: unreachable, naming the reason.
        with pytest.raises(OperationError, match="CERTIFICATE_VERIFY_FAILED"):
            project_versions("demo", config(url))
        # pip's --cert: a CA bundle that signs it.
        assert versions(project_versions("demo", config(url, cert=cert))) == ["1.0"]
        # pip's --trusted-host: TLS without verification.
        trusted = config(url, trusted_hosts=("127.0.0.1",))
        assert versions(project_versions("demo", trusted)) == ["1.0"]
        with pytest.raises(OperationError, match="CA bundle"):
            project_versions("demo", config(url, cert=cert + ".missing"))
        with pytest.raises(OperationError, match="CA bundle"):  # from the worker threads too
            lookup_projects(["a", "b", "c"], config(url, cert=cert + ".missing"))


def test_plain_http_to_untrusted_host_is_refused_without_network() -> None:
    with pytest.raises(OperationError, match="insecure: not https"):
        project_versions("demo", config("http://pypi.invalid/simple"))


def test_nothing_to_consult_and_bad_names() -> None:
    with pytest.raises(OperationError, match="no-index"):
        project_versions("demo", config())
    with pytest.raises(UsageError, match="not a valid project name"):
        project_versions("../etc", config("https://pypi.invalid/simple"))


# -- find-links --------------------------------------------------------------------------------


def make_wheelhouse(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for name in (
        "demo-1.0-py3-none-any.whl",
        "demo-1.3-cp311-cp311-manylinux_2_28_x86_64.whl",
        "demo-1.4.tar.gz",
        "Other_Thing-0.1-py3-none-any.whl",
        "README.txt",
        "demo-broken.whl",
    ):
        (path / name).write_bytes(b"")
    (path / "extra.html").write_text('<a href="https://h.example/demo-9.0.zip">z</a>', "utf-8")
    return path


def test_find_links_directory(tmp_path: Path) -> None:
    wheels = make_wheelhouse(tmp_path / "wheels")
    for location in (str(wheels), wheels.as_uri()):
        info = project_versions("demo", config(find_links=(location,)))
        assert versions(info) == ["9.0", "1.4", "1.3", "1.0"]
        assert info.found_on == (location,)
    other = project_versions("other-thing", config(find_links=(str(wheels),)))
    assert versions(other) == ["0.1"]
    assert not project_versions("absent", config(find_links=(str(wheels),))).found


def test_find_links_single_file_and_missing_dir(tmp_path: Path) -> None:
    wheels = make_wheelhouse(tmp_path / "wheels")
    one = str(wheels / "demo-1.4.tar.gz")
    missing = str(tmp_path / "missing")
    info = project_versions("demo", config(find_links=(one, missing)))
    assert versions(info) == ["1.4"]
    assert [(e.location, e.reason) for e in info.errors] == [(missing, "no such file or directory")]


def test_find_links_html_page_over_http() -> None:
    page = html_page(
        '<a href="demo-2.0-py3-none-any.whl">demo</a>',
        '<a href="other-1.0.tar.gz">other</a>',
    )
    with serve({"/links.html": page}) as server:
        cfg = config(find_links=(f"{server.url}/links.html",))
        result = lookup_projects(["demo", "other", "absent"], cfg)
        # The page is fetched once for all projects.
        assert len(server.requests) == 1
    assert versions(result["demo"]) == ["2.0"]
    assert versions(result["other"]) == ["1.0"]
    assert not result["absent"].found


def test_a_location_configured_twice_is_consulted_once(tmp_path: Path) -> None:
    url = build_file_index(tmp_path).as_uri()
    info = project_versions("demo-pkg", config(url, url))
    assert info.sources == (url,)
    assert [len(v.files) for v in info.versions] == [1, 1, 2]


def test_find_links_and_index_combined(tmp_path: Path) -> None:
    simple = build_file_index(tmp_path / "idx")
    wheels = make_wheelhouse(tmp_path / "wheels")
    (wheels / "demo_pkg-3.0-py3-none-any.whl").write_bytes(b"")
    info = project_versions("demo-pkg", config(simple.as_uri(), find_links=(str(wheels),)))
    assert versions(info) == ["3.0", "2.0b1", "1.1", "1.0"]
    assert {f.source for f in info.files} == {simple.as_uri(), str(wheels)}


# -- latest_versions ---------------------------------------------------------------------------


def test_latest_of_rules() -> None:
    assert latest_of([Version("1.0"), Version("2.0a1"), Version("1.5.post1")]) == Version(
        "1.5.post1"
    )
    assert latest_of([Version("2.0a1"), Version("2.0b1")]) == Version("2.0b1")
    assert latest_of([]) is None


def test_latest_versions_concurrently() -> None:
    names = [f"pkg{i}" for i in range(12)]
    routes = {
        f"/simple/pkg{i}/": json_page(
            f"pkg{i}",
            [
                {"filename": f"pkg{i}-1.{i}.tar.gz", "url": f"pkg{i}-1.{i}.tar.gz"},
                {"filename": f"pkg{i}-2.0a1.tar.gz", "url": f"pkg{i}-2.0a1.tar.gz"},
            ],
        )
        for i in range(11)  # pkg11 is not on the index
    }
    # Answers wait until two requests are in flight together: only a client that sends
    # several at once gets them without a 30 s stall, and max_in_flight records it.
    with serve(routes, hold=2) as server:
        latest = latest_versions([*names, "PKG0"], config(f"{server.url}/simple"))
    assert latest == {
        **{f"pkg{i}": Version(f"1.{i}") for i in range(11)},
        "pkg11": None,
        "PKG0": Version("1.0"),
    }
    # One request per project (PKG0 and pkg0 are the same), several at once, never too many.
    assert len(server.requests) == 12
    assert 1 < server.max_in_flight <= index.MAX_WORKERS


def test_latest_versions_fails_fast_when_index_unreachable() -> None:
    url = closed_port_url()
    # One error for all 30 (the host is marked dead at the first refusal), not 30 errors.
    with pytest.raises(OperationError) as info:
        latest_versions([f"pkg{i}" for i in range(30)], config(url))
    assert str(info.value) == (
        f"30 projects (pkg0, pkg1, pkg2, ...): could not reach {url} (connection refused)"
    )


def test_latest_versions_refuses_to_guess_when_an_index_is_down(tmp_path: Path) -> None:
    wheels = make_wheelhouse(tmp_path / "wheels")
    down = closed_port_url()
    # lookup_projects answers from the find-links and reports the index...
    info = lookup_projects(["demo"], config(down, find_links=(str(wheels),)))["demo"]
    assert versions(info) == ["9.0", "1.4", "1.3", "1.0"]
    assert [(e.location, e.kind) for e in info.errors] == [(down, "index")]
    # ...but latest_versions will not call 9.0 the latest with an index it could not ask.
    with pytest.raises(OperationError) as exc_info:
        latest_versions(["demo", "other-thing"], config(down, find_links=(str(wheels),)))
    assert str(exc_info.value) == (
        f"cannot tell the latest versions: could not reach {down} (connection refused)"
    )
    # An unreadable find-links location is skipped, as pip skips it.
    missing = str(tmp_path / "missing")
    latest = latest_versions(["demo"], config(find_links=(str(wheels), missing)))
    assert latest == {"demo": Version("9.0")}


def test_redact_url() -> None:
    assert redact_url("https://u:pw@h/simple") == "https://u:****@h/simple"
    assert redact_url("https://token@h/simple") == "https://****@h/simple"
    assert redact_url("https://h/simple") == "https://h/simple"

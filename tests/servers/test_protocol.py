"""The shared HTTP/1.1 protocol module, case by case, over a socketpair (no server)."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from typing import Any

import pytest

from pipkit.servers import protocol

from .conftest import parse_responses

GET = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"

Roundtrip = Any  # the fixture's callable


# ------------------------------------------------------------ basics, keep-alive ---


def test_get_has_the_standard_headers(roundtrip: Roundtrip) -> None:
    (resp,) = roundtrip(GET)
    assert resp.status == 200 and resp.body == b"ok"
    for name in ("date", "server", "content-type", "content-length", "connection"):
        assert name in resp.headers
    assert resp.headers["server"] == "pipkit-test/1.0"
    assert resp.headers["content-length"] == "2"
    assert resp.headers["connection"] == "keep-alive"
    assert resp.headers["date"].endswith(" GMT")


def test_pipelined_requests_answer_in_order(roundtrip: Roundtrip) -> None:
    body = b"hello"
    raw = (
        b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
        b"POST /api/echo HTTP/1.1\r\nHost: t\r\nContent-Type: text/x-a\r\n"
        b"Content-Length: 5\r\n\r\n" + body + b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n"
        b"HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
        b"GET /api/sleep?ms=1 HTTP/1.1\r\nHost: t\r\n\r\n"
    )
    resps = roundtrip(raw, head=(False, False, False, True, False))
    assert [r.status for r in resps] == [200, 200, 404, 200, 200]
    assert resps[1].body == body and resps[1].headers["content-type"] == "text/x-a"
    assert resps[3].body == b"" and resps[3].headers["content-length"] == "2"
    assert json.loads(resps[4].body)["slept_ms"] == 1


def test_keep_alive_serves_many_on_one_connection(connect: Any) -> None:
    conn = connect()
    for _ in range(5):
        conn.send(GET)
        data = conn.read_some(len(b"ok"))
        while not data.endswith(b"ok"):
            data += conn.read_some()
        assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    conn.sock.shutdown(socket.SHUT_WR)
    assert conn.read_all() == b""
    conn.thread.join(5)
    assert conn.served == [5]


def test_connection_close_closes_after_the_answer(roundtrip: Roundtrip) -> None:
    resps = roundtrip(b"GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n" + GET)
    assert len(resps) == 1 and resps[0].headers["connection"] == "close"


@pytest.mark.parametrize(
    ("extra", "keep"),
    [(b"", False), (b"Connection: keep-alive\r\n", True), (b"Connection: Keep-Alive\r\n", True)],
)
def test_http10_closes_unless_keep_alive(roundtrip: Roundtrip, extra: bytes, keep: bool) -> None:
    raw = b"GET /healthz HTTP/1.0\r\n" + extra + b"\r\n"
    resps = roundtrip(raw + raw)
    assert resps[0].status == 200
    assert resps[0].headers["connection"] == ("keep-alive" if keep else "close")
    assert len(resps) == (2 if keep else 1)


def test_head_has_length_but_no_body(roundtrip: Roundtrip) -> None:
    (get,) = roundtrip(b"GET /api/packages HTTP/1.1\r\nHost: t\r\n\r\n")
    (head,) = roundtrip(b"HEAD /api/packages HTTP/1.1\r\nHost: t\r\n\r\n", head=(True,))
    assert head.status == 200 and head.body == b""
    assert head.headers["content-length"] == get.headers["content-length"] != "0"


def test_crlf_before_request_line_is_tolerated(roundtrip: Roundtrip) -> None:
    (resp,) = roundtrip(b"\r\n\r\n" + GET)
    assert resp.status == 200


def test_percent_encoded_route_path_matches(roundtrip: Roundtrip) -> None:
    (resp,) = roundtrip(b"GET /heal%74hz HTTP/1.1\r\nHost: t\r\n\r\n")
    assert resp.body == b"ok"


def test_absolute_form_target_is_accepted(roundtrip: Roundtrip) -> None:
    (resp,) = roundtrip(b"GET http://t/healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    assert resp.body == b"ok"


def test_stopping_server_answers_with_connection_close(roundtrip: Roundtrip) -> None:
    resps = roundtrip(GET + GET, stopping=lambda: True)
    assert len(resps) == 1 and resps[0].headers["connection"] == "close"


# --------------------------------------------------------------- routing errors ---


def test_unknown_path_is_404_and_keeps_the_connection(roundtrip: Roundtrip) -> None:
    resps = roundtrip(b"GET /missing HTTP/1.1\r\nHost: t\r\n\r\n" + GET)
    assert [r.status for r in resps] == [404, 200]


def test_wrong_method_is_405_with_allow(roundtrip: Roundtrip) -> None:
    (resp,) = roundtrip(b"DELETE /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
    assert resp.status == 405 and resp.headers["allow"] == "GET, HEAD"
    (resp,) = roundtrip(b"GET /api/echo HTTP/1.1\r\nHost: t\r\n\r\n")
    assert resp.status == 405 and resp.headers["allow"] == "POST"


def test_route_exception_is_500_and_the_server_goes_on(
    roundtrip: Roundtrip, capsys: pytest.CaptureFixture[str]
) -> None:
    resps = roundtrip(b"GET /boom HTTP/1.1\r\nHost: t\r\n\r\n" + GET)
    assert [r.status for r in resps] == [500, 200]
    assert "route bug" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("query", "status"),
    [("ms=5", 200), ("ms=-1", 400), ("ms=x", 400), ("", 400), ("ms=1&ms=2", 400), ("ms=1.5", 400)],
)
def test_sleep_validates_ms(roundtrip: Roundtrip, query: str, status: int) -> None:
    (resp,) = roundtrip(f"GET /api/sleep?{query} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    assert resp.status == status


def test_sleep_is_capped(roundtrip: Roundtrip) -> None:
    (resp,) = roundtrip(b"GET /api/sleep?ms=99999999999 HTTP/1.1\r\nHost: t\r\n\r\n")
    assert json.loads(resp.body) == {"slept_ms": 5000, "capped": True, "elapsed_ms": 0.0}


# ------------------------------------------------------------ malformed requests ---

MALFORMED = {
    "no version": b"GET /healthz\r\nHost: t\r\n\r\n",
    "double space": b"GET  /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
    "extra field": b"GET /healthz HTTP/1.1 x\r\nHost: t\r\n\r\n",
    "bad method token": b"GE(T /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
    "bad version": b"GET /healthz HTTP/x.1\r\nHost: t\r\n\r\n",
    "version junk": b"GET /healthz HTTP/1.1x\r\nHost: t\r\n\r\n",
    "lower-case version": b"GET /healthz http/1.1\r\nHost: t\r\n\r\n",
    "relative target": b"GET healthz HTTP/1.1\r\nHost: t\r\n\r\n",
    "control in target": b"GET /heal\x01thz HTTP/1.1\r\nHost: t\r\n\r\n",
    "non-ascii target": b"GET /h\xe9 HTTP/1.1\r\nHost: t\r\n\r\n",
    "no colon": b"GET /healthz HTTP/1.1\r\nHost: t\r\nJunk\r\n\r\n",
    "space before colon": b"GET /healthz HTTP/1.1\r\nHost : t\r\n\r\n",
    "obs-fold": b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n  continued\r\n\r\n",
    "control in value": b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: 1\x00\r\n\r\n",
    "bare LF": b"GET /healthz HTTP/1.1\r\nHost: t\nX-A: 1\r\n\r\n",
    "bare CR": b"GET /healthz HTTP/1.1\r\nHost: t\rX-A: 1\r\n\r\n",
    "no Host on 1.1": b"GET /healthz HTTP/1.1\r\nX-A: 1\r\n\r\n",
    "two Hosts": b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "empty request line": b"\r\n\r\n\r\n\r\n\r\n\r\n\r\n",
    "cut short": b"GET /healthz HTTP/1.1\r\nHost: t\r\n",
    "bad absolute target": b"GET http://[::1/healthz HTTP/1.1\r\nHost: t\r\n\r\n",
    "non-http absolute target": b"GET ftp://t/healthz HTTP/1.1\r\nHost: t\r\n\r\n",
}


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_is_400_and_close(roundtrip: Roundtrip, raw: bytes) -> None:
    resps = roundtrip(raw + GET)
    assert len(resps) == 1, "nothing after a malformed request may be answered"
    assert resps[0].status == 400 and resps[0].headers["connection"] == "close"


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"GET /healthz HTTP/2.0\r\nHost: t\r\n\r\n", 505),
        (b"GET /healthz HTTP/0.9\r\nHost: t\r\n\r\n", 505),
        (b"BREW /healthz HTTP/1.1\r\nHost: t\r\n\r\n", 501),
        (b"POST /api/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        (b"POST /api/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        (
            b"POST /api/echo HTTP/1.1\r\nHost: t\r\nExpect: teapot\r\nContent-Length: 1\r\n\r\nx",
            417,
        ),
    ],
)
def test_unsupported_is_refused_with_the_right_status(
    roundtrip: Roundtrip, raw: bytes, status: int
) -> None:
    resps = roundtrip(raw + GET)
    assert [r.status for r in resps] == [status]


def test_http11_minor_versions_above_1_are_served_as_11(roundtrip: Roundtrip) -> None:
    (resp,) = roundtrip(b"GET /healthz HTTP/1.7\r\nHost: t\r\n\r\n")
    assert resp.status == 200


# ------------------------------------------------------------------------ limits ---


def test_long_uri_is_414(roundtrip: Roundtrip) -> None:
    raw = b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n"
    (resp,) = roundtrip(raw)
    assert resp.status == 414


def test_long_uri_is_414_even_before_the_line_ends(connect: Any) -> None:
    conn = connect()
    conn.send(b"GET /" + b"a" * 20000)  # never sends CRLF
    (resp,) = parse_responses(conn.read_all())
    assert resp.status == 414


def test_huge_header_block_is_431(roundtrip: Roundtrip) -> None:
    raw = b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + b"X-Big: " + b"b" * 40000 + b"\r\n\r\n"
    (resp,) = roundtrip(raw)
    assert resp.status == 431


def test_too_many_headers_is_431(roundtrip: Roundtrip) -> None:
    fields = b"".join(b"X-%d: 1\r\n" % i for i in range(150))
    (resp,) = roundtrip(b"GET /healthz HTTP/1.1\r\nHost: t\r\n" + fields + b"\r\n")
    assert resp.status == 431


def test_body_over_the_limit_is_413_without_reading_it(roundtrip: Roundtrip) -> None:
    raw = b"POST /api/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2000000\r\n\r\n"
    (resp,) = roundtrip(raw)
    assert resp.status == 413 and resp.headers["connection"] == "close"


def test_413_reaches_a_client_still_sending(connect: Any) -> None:
    # The server lingers after the error so its answer is not lost to a reset.
    conn = connect(limits=protocol.Limits(max_body=1000))
    conn.send(b"POST /api/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n")
    with contextlib.suppress(OSError):  # the server may stop reading: fine
        conn.send(b"x" * 50000)
    (resp,) = parse_responses(conn.read_all())
    assert resp.status == 413


def test_chunked_body_over_the_limit_is_413(roundtrip: Roundtrip) -> None:
    chunk = b"%x\r\n" % 600 + b"x" * 600 + b"\r\n"
    raw = b"POST /api/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    (resp,) = roundtrip(raw + chunk * 2 + b"0\r\n\r\n", limits=protocol.Limits(max_body=1000))
    assert resp.status == 413


# ------------------------------------------------------------------ request bodies ---


def test_content_length_body_is_read(roundtrip: Roundtrip) -> None:
    raw = b"POST /form HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc" + GET
    resps = roundtrip(raw)
    assert json.loads(resps[0].body) == {"len": 3, "method": "POST"} and resps[1].status == 200


def test_chunked_body_is_decoded(roundtrip: Roundtrip) -> None:
    raw = (
        b"POST /api/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: Chunked\r\n"
        b"Content-Type: text/plain\r\n\r\n"
        b"5\r\nhello\r\n6;ext=1\r\n world\r\nA\r\n, chunked!\r\n0\r\nX-Trailer: 1\r\n\r\n"
    )
    resps = roundtrip(raw + GET)
    assert resps[0].body == b"hello world, chunked!"
    assert resps[1].status == 200, "the stream stays in sync after a chunked body"


@pytest.mark.parametrize(
    "chunks",
    [
        b"zz\r\nhello\r\n0\r\n\r\n",  # not hex
        b"-5\r\nhello\r\n0\r\n\r\n",  # sign
        b"0x5\r\nhello\r\n0\r\n\r\n",  # prefix
        b" 5\r\nhello\r\n0\r\n\r\n",  # whitespace
        b"5\r\nhelloXX0\r\n\r\n",  # data not followed by CRLF
        b"5\nhello\r\n0\r\n\r\n",  # bare LF
        b"5\r\nhello\r\n0\r\nbad trailer\r\n\r\n",  # malformed trailer
        b"1" * 40 + b"\r\n",  # size that would overflow
    ],
    ids=["not-hex", "sign", "0x", "space", "no-crlf", "bare-lf", "trailer", "huge"],
)
def test_bad_chunked_framing_is_400(roundtrip: Roundtrip, chunks: bytes) -> None:
    raw = b"POST /api/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    resps = roundtrip(raw + chunks + GET)
    assert [r.status for r in resps] == [400]


def test_expect_100_continue_gets_the_go_ahead(connect: Any) -> None:
    conn = connect()
    conn.send(
        b"POST /api/echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"
    )
    assert conn.read_some(25) == b"HTTP/1.1 100 Continue\r\n\r\n"
    conn.send(b"data")
    conn.sock.shutdown(socket.SHUT_WR)
    (resp,) = parse_responses(conn.read_all())
    assert resp.body == b"data"


# ----------------------------------------------------------------- smuggling ---

SMUGGLING = {
    "CL and TE": b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
    "TE and CL": b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
    "two equal CL": b"Content-Length: 5\r\nContent-Length: 5\r\n",
    "two CL": b"Content-Length: 5\r\nContent-Length: 6\r\n",
    "CL list": b"Content-Length: 5, 5\r\n",
    "CL sign": b"Content-Length: +5\r\n",
    "CL negative": b"Content-Length: -1\r\n",
    "CL hex": b"Content-Length: 0x5\r\n",
    "CL empty": b"Content-Length: \r\n",
    "CL huge": b"Content-Length: 99999999999999999999999\r\n",
    "chunked twice": b"Transfer-Encoding: chunked, chunked\r\n",
    "TE split": b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
    "TE space before colon": b"Transfer-Encoding : chunked\r\n",
    "TE obs-fold": b"X-A: 1\r\n Transfer-Encoding: chunked\r\n",
}


@pytest.mark.parametrize("fields", SMUGGLING.values(), ids=SMUGGLING.keys())
def test_smuggling_attempts_are_400_and_close(roundtrip: Roundtrip, fields: bytes) -> None:
    smuggled = b"GET /api/packages HTTP/1.1\r\nHost: t\r\n\r\n"
    raw = b"POST /api/echo HTTP/1.1\r\nHost: t\r\n" + fields + b"\r\n5\r\nhello\r\n0\r\n\r\n"
    resps = roundtrip(raw + smuggled)
    assert [r.status for r in resps] == [400]
    assert resps[0].headers["connection"] == "close"


def test_transfer_encoding_on_http10_is_400(roundtrip: Roundtrip) -> None:
    raw = b"POST /api/echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    assert [r.status for r in roundtrip(raw)] == [400]


# ------------------------------------------------------------------ timeouts ---


@pytest.mark.parametrize("kernel", [False, True], ids=["python-timeouts", "kernel-timeouts"])
def test_slow_head_gets_408(connect: Any, kernel: bool) -> None:
    conn = connect(limits=protocol.Limits.with_timeout(0.5), kernel_timeouts=kernel)
    conn.send(b"GET /healthz HTTP/1.1\r\n")
    data = b""
    # One header every 0.1 s (the client's pace, not a wait): each read is quick, the head
    # never ends. The 408 must come while the headers still trickle in, long before they stop.
    for i in range(300):
        try:
            conn.send(b"X-%d: 1\r\n" % i)
        except OSError:
            break
        time.sleep(0.1)
        conn.sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            data += conn.sock.recv(65536)
        conn.sock.setblocking(True)
        if data:
            break
    else:
        pytest.fail("30 s of trickled headers and no 408: the head timeout never fired")
    data += conn.read_all(3)
    (resp,) = parse_responses(data)
    assert resp.status == 408


@pytest.mark.parametrize("kernel", [False, True], ids=["python-timeouts", "kernel-timeouts"])
def test_stalled_body_gets_408(connect: Any, kernel: bool) -> None:
    conn = connect(limits=protocol.Limits.with_timeout(0.3), kernel_timeouts=kernel)
    conn.send(b"POST /api/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
    (resp,) = parse_responses(conn.read_all(3))
    assert resp.status == 408


def test_idle_keep_alive_connection_is_closed_quietly(connect: Any) -> None:
    conn = connect(limits=protocol.Limits.with_timeout(0.3))
    conn.send(GET)
    started = time.monotonic()
    (resp,) = parse_responses(conn.read_some(len(b"HTTP/1.1 200 OK\r\n\r\nok")))
    assert resp.status == 200 and resp.headers["connection"] == "keep-alive"
    # Then nothing but the close (end of file, not a 408) at the idle timeout, not before it.
    conn.sock.settimeout(60)
    assert conn.sock.recv(65536) == b""
    assert time.monotonic() - started > 0.25


# --------------------------------------------------------------- serialization ---


def test_response_is_one_buffer_with_length() -> None:
    resp = protocol.Response(201, b"abc", "text/x", [("X-A", "1")])
    data = resp.serialize(b"srv", keep_alive=False)
    head, body = data.split(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 201 Created\r\n")
    assert b"\r\nContent-Length: 3\r\nConnection: close\r\nX-A: 1" in head
    assert body == b"abc"
    assert resp.serialize(b"srv", head=True).endswith(b"\r\n\r\n")


def test_date_header_is_cached_per_second() -> None:
    assert protocol.http_date() is protocol.http_date() or time.time() % 1 > 0.99


def test_app_refuses_bad_routes() -> None:
    app = protocol.App()
    with pytest.raises(ValueError):
        app.add_route("nope", lambda r: protocol.Response())
    with pytest.raises(ValueError):
        app.add_route("/x", lambda r: protocol.Response(), methods=("BREW",))


# Requests that can never become valid, however long one waits: each must be answered
# from the bytes already in, without another read.
ANSWER_AT_ONCE = {
    "bare LF request": b"GET /healthz HTTP/1.1\n\n",
    "bare LF after the request line": b"GET /healthz HTTP/1.1\nHost: t\n\n",
    "bare LF after a header": b"GET /healthz HTTP/1.1\r\nHost: t\n\n",
    "bare CR after a header": b"GET /healthz HTTP/1.1\r\nHost: t\rX-A: 1\r\n",
    "bare LF first": b"\nGET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
    "HTTP/0.9 root": b"GET /\r\n",
    "HTTP/0.9 path": b"GET /healthz\r\n",
    "HTTP/0.9 bare LF": b"GET /\n",
}


class ScriptedRecv:
    """``recv`` for a ``RequestReader``: hands out the given segments, then fails the
    test if the reader asks for more (it would have waited on a real socket)."""

    def __init__(self, *segments: bytes) -> None:
        self.segments = list(segments)

    def __call__(self, n: int) -> bytes:
        if not self.segments:
            raise AssertionError("the reader waited for more bytes")
        segment = self.segments.pop(0)
        assert len(segment) <= n
        return segment


def scripted_reader(*segments: bytes) -> protocol.RequestReader:
    def send(data: bytes) -> None:
        raise AssertionError(f"unexpected interim answer {data!r}")

    return protocol.RequestReader(
        ScriptedRecv(*segments), lambda s: None, send, protocol.Limits.with_timeout(30.0)
    )


@pytest.mark.parametrize("raw", ANSWER_AT_ONCE.values(), ids=ANSWER_AT_ONCE.keys())
def test_hopeless_request_is_400_without_another_read(raw: bytes) -> None:
    reader = scripted_reader(raw)
    with pytest.raises(protocol.HTTPError) as caught:
        reader.read_request()
    assert caught.value.status == 400 and caught.value.close


@pytest.mark.parametrize("raw", ANSWER_AT_ONCE.values(), ids=ANSWER_AT_ONCE.keys())
def test_hopeless_request_is_answered_before_the_timeout(connect: Any, raw: bytes) -> None:
    # The server waits 30 s for a head; the client gives it 10. A 400 and the close
    # arrive while the client is still sending nothing more (no half-close).
    conn = connect(limits=protocol.Limits.with_timeout(30.0))
    conn.send(raw)
    conn.sock.settimeout(10)
    data = b""
    while chunk := conn.sock.recv(65536):  # socket.timeout here: it waited
        data += chunk
    (resp,) = parse_responses(data)
    assert data.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert resp.headers["connection"] == "close"


def test_head_split_inside_its_crlfs_is_still_served() -> None:
    # Every segment ends with half a CRLF: the bare-CR check must wait for the LF.
    reader = scripted_reader(
        b"GET /healthz HTTP/1.1\r", b"\nHost: t\r", b"\nX-A: 1\r", b"\n\r", b"\n"
    )
    request = reader.read_request()
    assert (request.method, request.target, request.version) == ("GET", "/healthz", (1, 1))
    assert request.headers == [("host", "t"), ("x-a", "1")]
    assert reader.buffered == 0


def test_request_line_alone_waits_for_its_headers() -> None:
    # A valid request line with no end of head yet is not an error: the reader asks
    # for more (here: the scripted recv refuses, proving it asked).
    reader = scripted_reader(b"GET /healthz HTTP/1.1\r\n")
    with pytest.raises(AssertionError, match="waited for more"):
        reader.read_request()


def test_trickled_chunks_cannot_hold_the_connection(connect: Any) -> None:
    # Each chunk comes well within the per-read timeout, but the body as a whole may
    # take no longer than the timeout either.
    conn = connect(limits=protocol.Limits.with_timeout(0.6))
    conn.send(b"POST /api/echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
    data = b""
    # A chunk every 0.1 s (the client's pace, not a wait), for far longer than the timeout:
    # the 408 must come while chunks still arrive, not after they stop.
    for _ in range(300):
        with contextlib.suppress(OSError):
            conn.send(b"1\r\nx\r\n")
        time.sleep(0.1)
        conn.sock.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            data += conn.sock.recv(65536)
        conn.sock.setblocking(True)
        if data:
            break
    else:
        pytest.fail("30 s of trickled chunks and no 408: the body timeout never fired")
    data += conn.read_all(3)
    (resp,) = parse_responses(data)
    assert resp.status == 408

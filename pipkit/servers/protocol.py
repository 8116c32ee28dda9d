"""HTTP/1.1 for pipkit's bundled servers: parsing, routing, static files, serialization.

Both servers (``threaded.py`` on ``socketserver`` threads, ``coroutine.py`` on gevent
greenlets) share everything in this module; they differ only in how a connection gets a
thread of control. The design, in the order a request meets it:

``Limits``
    Every bound in one frozen value: request-line, header and body sizes, header count,
    and the three timeouts (idle keep-alive wait, whole-head deadline, per-read timeout).

``RequestReader``
    Owns a connection's receive buffer and turns bytes into ``Request`` objects. It is
    sans-I/O-ish: it never touches a socket directly, only a ``recv(n)`` callable and a
    ``settimeout(s)`` callable, so a real socket (blocking or gevent's cooperative one) or
    a test double can drive it. Because the buffer outlives one request, pipelined
    requests that arrive in one segment are parsed one after the other. Anything
    malformed raises ``HTTPError`` with the right status; ``close=True`` on it means the
    framing can no longer be trusted and the connection must end after the answer.

``App``
    The router: exact-path routes with their methods (``HEAD`` follows ``GET``), prefix
    mounts (used for ``/static/``), 404 and 405 + ``Allow`` answers.

``StaticFiles``
    Serves one folder and refuses, as a plain 404, every path that could leave it:
    percent-encoded dots or slashes, backslashes, NUL, ``..``, absolute paths and
    symlinks pointing outside (checked on the resolved real path, not the spelling).

``Response.serialize``
    Produces the whole response -- status line, ``Date``, ``Server``, ``Content-Type``,
    ``Content-Length``, ``Connection`` and the body -- as ONE bytes buffer, written with
    one ``sendall``. Two writes (head, then body) on a Nagle socket would wait for the
    peer's delayed ACK: the classic 40 ms stall. Servers also set ``TCP_NODELAY``.

``serve_connection``
    The per-connection loop both servers call: read, dispatch, write, repeat while the
    connection is keep-alive and the server is not stopping. After an error that closes
    the connection it half-closes and drains briefly, so the answer is not lost to a
    reset. ``KernelTimeouts`` lets the threaded server use SO_RCVTIMEO/SO_SNDTIMEO on
    blocking sockets instead of Python's poll-before-every-call timeouts.

Time-outs: an idle keep-alive connection is closed quietly after ``idle_timeout``; once
a request's first byte is in, its whole head must follow within ``header_timeout``
(slow-loris) and its whole body within ``read_timeout`` after that, else 408 and close.
The idle wait wakes every half second to notice a stopping server.

Request smuggling defences (RFC 9112 section 6): a request with both ``Content-Length``
and ``Transfer-Encoding``, with more than one ``Content-Length`` (even equal ones) or an
invalid one, with ``Transfer-Encoding`` on HTTP/1.0, with obsolete line folding, with
whitespace before a header colon, or with bare CR/LF in the head is answered 400 and the
connection is closed. A transfer coding other than a single final ``chunked`` is 501.

This module imports only the standard library: the servers must run under any
interpreter (Python 3.8 and later), by path, with nothing installed. Never import pipkit,
typer or packaging here. It also creates no locks at import time, so gevent's
monkey-patching (done later, in ``coroutine.main``) applies to everything it allocates.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import mimetypes
import os
import re
import socket
import stat
import struct
import sys
import time
import traceback
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # aliases for annotations only: subscripting at run time needs 3.9+
    Recv = Callable[[int], bytes]
    SetTimeout = Callable[[float | None], None]
    SendAll = Callable[[bytes], None]
    Handler = Callable[["Request"], "Response"]

__all__ = [
    "App",
    "HTTPError",
    "Limits",
    "Request",
    "RequestReader",
    "Response",
    "StaticFiles",
    "error_response",
    "serve_connection",
    "set_nodelay",
]

#: Methods this server knows. An unknown but well-formed method is 501 (RFC 9110 9.1).
KNOWN_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT"}
)

# RFC 9110 5.6.2: token = 1*tchar.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# A whole field line: token, colon, optional whitespace, a value of visible chars, SP,
# HTAB and obs-text (no other control), optional whitespace. One C call per line.
_FIELD = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([^\x00-\x08\x0a-\x1f\x7f]*?)[ \t]*")
_KNOWN_METHODS_B = frozenset(m.encode("ascii") for m in KNOWN_METHODS)
# Request targets: visible ASCII only (no controls, no spaces, no raw obs-text).
_BAD_TARGET_CHAR = re.compile(rb"[^\x21-\x7e]")
_VERSION = re.compile(rb"HTTP/([0-9])\.([0-9])")
_CONTENT_LENGTH = re.compile(r"[0-9]{1,18}")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
# A LF not after a CR, or a CR before anything but a LF (a CR at the end of the buffer
# may be half a CRLF still on its way, so it does not match).
_BARE_CR_OR_LF = re.compile(rb"(?<!\r)\n|\r(?=[^\n])")

_CRLF = b"\r\n"

#: Compact JSON. Built once: json.dumps() with any option builds a new encoder per call.
JSON_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


# --------------------------------------------------------------------------- limits ---


@dataclass(frozen=True)
class Limits:
    """Every bound the protocol enforces. Defaults suit a local dashboard."""

    max_request_line: int = 8 * 1024  # longer request line -> 414
    max_header_bytes: int = 32 * 1024  # whole header block, request line excluded -> 431
    max_headers: int = 100  # header field count -> 431
    max_body: int = 1024 * 1024  # decoded body -> 413
    max_chunk_line: int = 1024  # a chunk-size line (with extensions) -> 400
    idle_timeout: float = 15.0  # keep-alive wait for the next request's first byte
    header_timeout: float = 10.0  # first byte to end of head, in total (slow-loris) -> 408
    read_timeout: float = 10.0  # any single read, and the whole body, in flight -> 408
    max_keepalive_requests: int = 10_000  # then close, to spread long-lived clients

    @classmethod
    def with_timeout(cls, seconds: float, **overrides: Any) -> Limits:
        """All three timeouts set to ``seconds`` (the servers' ``--timeout`` option)."""
        return cls(idle_timeout=seconds, header_timeout=seconds, read_timeout=seconds, **overrides)


# ------------------------------------------------------------------ request, errors ---


class HTTPError(Exception):
    """A request that gets an error answer instead of reaching a route.

    ``close`` says the connection must end after the answer: set whenever the framing of
    the stream can no longer be trusted (malformed head, unread body, smuggling attempt).
    """

    def __init__(
        self,
        status: int,
        detail: str = "",
        *,
        close: bool = False,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        super().__init__(f"{status} {detail}".strip())
        self.status = status
        self.detail = detail
        self.close = close
        self.headers = list(headers)


class ConnectionDone(Exception):
    """The peer closed, or stayed idle past the keep-alive wait: end quietly, no answer."""


@dataclass
class Request:
    """One parsed request. Header names are lower-cased; values are latin-1 strings."""

    method: str
    target: str  # as sent, e.g. "/api/sleep?ms=10"
    path: str  # percent-encoded path part of the target, e.g. "/static/a%20b.txt"
    query: str
    version: tuple[int, int]
    headers: list[tuple[str, str]]
    body: bytes = b""
    keep_alive: bool = True
    client: tuple[str, int] | None = None

    def header(self, name: str, default: str | None = None) -> str | None:
        """The first value of header ``name`` (case-insensitive), or ``default``."""
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return default

    def query_params(self) -> dict[str, list[str]]:
        """The query string decoded into lists of values (blank values kept)."""
        return urllib.parse.parse_qs(self.query, keep_blank_values=True)


# ------------------------------------------------------------------------- reader ---


class RequestReader:
    """Parses requests out of a byte stream, one ``read_request()`` call per request.

    ``recv(n)`` must return at most ``n`` bytes, ``b""`` at end of stream, and raise
    ``socket.timeout`` when the timeout set through ``settimeout``
    passes. ``send`` is used only for ``100 Continue`` interim answers.
    """

    recv_size = 64 * 1024

    def __init__(
        self,
        recv: Recv,
        settimeout: SetTimeout,
        send: SendAll,
        limits: Limits,
        *,
        stopping: Callable[[], bool] = lambda: False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._recv = recv
        self._settimeout = settimeout
        self._send = send
        self.limits = limits
        self._stopping = stopping
        self._clock = clock
        self._buf = bytearray()
        self._eof = False

    @property
    def buffered(self) -> int:
        """Bytes received but not yet consumed (a pipelined request, typically)."""
        return len(self._buf)

    # -- low level -------------------------------------------------------------------

    def _fill(self, deadline: float, timeout_status: int | None) -> None:
        """Receive more bytes before ``deadline``.

        On time-out: ``HTTPError(timeout_status)`` or, when ``None`` (idle keep-alive
        wait), ``ConnectionDone``. At end of stream: ``ConnectionDone`` when nothing of a
        request was buffered, else 400 (a request cut short).
        """
        if self._eof:
            raise self._eof_error()
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise self._timeout_error(timeout_status)
        # Never wait longer than one read timeout for a single read.
        self._settimeout(min(remaining, self.limits.read_timeout))
        try:
            data = self._recv(self.recv_size)
        # socket.timeout, not TimeoutError: they are one class only since Python 3.10.
        # BlockingIOError is what a kernel SO_RCVTIMEO time-out raises.
        except (socket.timeout, BlockingIOError):  # noqa: UP041
            raise self._timeout_error(timeout_status) from None
        except OSError:  # reset, broken pipe: nothing more will come
            self._eof = True
            raise ConnectionDone() from None
        if not data:
            self._eof = True
            raise self._eof_error()
        self._buf += data

    def _timeout_error(self, status: int | None) -> Exception:
        if status is None:
            return ConnectionDone()
        return HTTPError(status, "timed out reading the request", close=True)

    def _eof_error(self) -> Exception:
        if self._buf.strip(b"\r\n"):
            return HTTPError(400, "incomplete request", close=True)
        return ConnectionDone()

    def _wait_first_byte(self) -> None:
        """Keep-alive wait for a request to start; wakes every half second to notice a
        server shutdown, so idle connections close promptly rather than at the timeout."""
        deadline = self._clock() + self.limits.idle_timeout
        skipped = 0
        last_look = False
        while True:
            while not self._buf:
                slice_end = min(deadline, self._clock() + 0.5)
                if self._stopping():
                    # Stopping: a request already on its way is still served (with
                    # Connection: close); an idle connection is not waited on.
                    if last_look:
                        raise ConnectionDone()
                    last_look = True
                    slice_end = min(deadline, self._clock() + 0.05)
                try:
                    self._fill(slice_end, None)
                except ConnectionDone:
                    if self._eof or self._clock() >= deadline:
                        raise
            # Tolerate a few CRLFs before a request line (RFC 9112 2.2), not a stream.
            while self._buf[:2] == _CRLF:
                del self._buf[:2]
                skipped += 1
                if skipped > 4:
                    raise HTTPError(400, "empty lines before the request line", close=True)
            if self._buf and self._buf != b"\r":
                return
            if self._buf == b"\r":  # half a CRLF: wait for the rest before deciding
                self._fill(deadline, None)
                continue

    # -- request ---------------------------------------------------------------------

    def read_request(self) -> Request:
        """Block until one whole request (head and body) is read; return it.

        Raises ``ConnectionDone`` on a clean end and ``HTTPError`` on anything malformed.
        """
        self._wait_first_byte()
        limits = self.limits
        deadline = self._clock() + limits.header_timeout
        # The request line: its own limit, so a huge target is 414 rather than 431.
        start = 0
        while (line_end := self._buf.find(b"\n", start)) < 0:
            if len(self._buf) > limits.max_request_line:
                raise HTTPError(414, "request line too long", close=True)
            start = max(0, len(self._buf) - 1)
            self._fill(deadline, 408)
        if line_end > limits.max_request_line:
            raise HTTPError(414, "request line too long", close=True)
        # Judge the request line as soon as it is in, before waiting for any header: a
        # line ended by a bare LF ("GET / HTTP/1.1\n\n") or without a version ("GET /",
        # HTTP/0.9 style) would otherwise wait for a CRLF CRLF that never comes, then 408.
        if line_end == 0 or self._buf[line_end - 1] != 13:  # 13: the CR of CRLF
            raise HTTPError(400, "request line not ended by CRLF", close=True)
        method, target, version, path, query = _parse_request_line(bytes(self._buf[: line_end - 1]))
        # The header block ends at the first empty line.
        head_limit = line_end + 1 + limits.max_header_bytes
        start = max(0, line_end - 1)  # "GET / HTTP/1.1\r\n\r\n": the end starts at the \r
        scanned = line_end + 1
        while (head_end := self._buf.find(b"\r\n\r\n", start)) < 0:
            if len(self._buf) > head_limit + 3:
                raise HTTPError(431, "request header fields too large", close=True)
            # No end yet, so every byte buffered belongs to the head: a bare CR or LF in
            # it is 400 now, rather than a wait for an end that a bare-LF client never
            # sends. Only a head that arrives in pieces pays for this scan.
            if _BARE_CR_OR_LF.search(self._buf, scanned) is not None:
                raise HTTPError(400, "bare CR or LF in the request head", close=True)
            scanned = max(scanned, len(self._buf) - 1)  # a final CR may be half a CRLF
            start = max(0, line_end - 1, len(self._buf) - 3)
            self._fill(deadline, 408)
        if head_end > head_limit:
            raise HTTPError(431, "request header fields too large", close=True)
        fields = bytes(self._buf[line_end + 1 : head_end])  # empty when there are none
        del self._buf[: head_end + 4]
        request = self._parse_fields(method, target, version, path, query, fields)
        request.body = self._read_body(request, deadline)
        return request

    def _parse_fields(
        self,
        method: str,
        target: str,
        version: tuple[int, int],
        path: str,
        query: str,
        fields: bytes,
    ) -> Request:
        # Lines end at CRLF only. A bare CR or LF left inside a line (which would let two
        # parsers disagree on where lines end) fails the strict checks below: each field
        # line must match _FIELD, whose value excludes CR and LF. So: 400.
        lines = fields.split(_CRLF) if fields else []
        if len(lines) > self.limits.max_headers:
            raise HTTPError(431, "too many header fields", close=True)
        headers: list[tuple[str, str]] = []
        field_match = _FIELD.fullmatch
        for line in lines:
            match = field_match(line)
            if match is None:
                # Also obs-fold (a line starting with SP/HTAB), "Name : value" and
                # control characters in a value.
                raise HTTPError(400, "malformed header field", close=True)
            name, value = match.groups()
            headers.append((name.decode("ascii").lower(), value.decode("latin-1")))

        request = Request(method, target, path, query, version, headers)
        request.keep_alive = _wants_keep_alive(version, headers)
        return request

    def _read_body(self, request: Request, deadline: float) -> bytes:
        content_lengths: list[str] = []
        codings: list[str] = []
        hosts = 0
        expect: str | None = None
        for name, value in request.headers:
            if name == "content-length":
                content_lengths.append(value)
            elif name == "transfer-encoding":
                codings.extend(c.strip().lower() for c in value.split(","))
            elif name == "host":
                hosts += 1
            elif name == "expect":
                expect = value.lower()
        # RFC 9112 3.2: a 1.1 request needs exactly one Host; more than one is an attack.
        if hosts > 1 or (hosts == 0 and request.version >= (1, 1)):
            raise HTTPError(400, "exactly one Host header is required", close=True)
        if content_lengths and codings:
            raise HTTPError(400, "both Content-Length and Transfer-Encoding", close=True)
        if len(content_lengths) > 1:
            raise HTTPError(400, "more than one Content-Length", close=True)
        # The body is read only after the head checks, so a refused body is never read.
        if codings:
            if request.version < (1, 1):
                raise HTTPError(400, "Transfer-Encoding on HTTP/1.0", close=True)
            if any(c != "chunked" for c in codings):
                raise HTTPError(501, "unsupported transfer coding", close=True)
            if len(codings) != 1:
                raise HTTPError(400, "chunked applied more than once", close=True)
            self._expect_continue(expect, request)
            return self._read_chunked(self._body_deadline(deadline))
        if content_lengths:
            raw = content_lengths[0]
            if not _CONTENT_LENGTH.fullmatch(raw):
                raise HTTPError(400, "invalid Content-Length", close=True)
            length = int(raw)
            if length > self.limits.max_body:
                raise HTTPError(413, "request body too large", close=True)
            if length:
                self._expect_continue(expect, request)
            return self._read_exact(length, self._body_deadline(deadline))
        return b""

    def _expect_continue(self, expect: str | None, request: Request) -> None:
        if expect is None or request.version < (1, 1):
            return
        if expect != "100-continue":
            raise HTTPError(417, "only 100-continue is supported", close=True)
        if not self._buf:  # a client that already sent the body needs no go-ahead
            self._send(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _body_deadline(self, head_deadline: float) -> float:
        """The whole body must arrive within ``read_timeout`` of the end of the head (or
        by the head's own deadline, if later): a trickle cannot hold a connection."""
        return max(head_deadline, self._clock() + self.limits.read_timeout)

    def _read_exact(self, length: int, deadline: float) -> bytes:
        while len(self._buf) < length:
            self._fill(deadline, 408)
        data = bytes(self._buf[:length])
        del self._buf[:length]
        return data

    def _read_line(self, limit: int, deadline: float) -> bytes:
        start = 0
        while (end := self._buf.find(_CRLF, start)) < 0:
            if len(self._buf) > limit:
                raise HTTPError(400, "chunk line too long", close=True)
            start = max(0, len(self._buf) - 1)
            self._fill(deadline, 408)
        if end > limit:
            raise HTTPError(400, "chunk line too long", close=True)
        line = bytes(self._buf[:end])
        del self._buf[: end + 2]
        if b"\n" in line or b"\r" in line:
            raise HTTPError(400, "bare CR or LF in chunked framing", close=True)
        return line

    def _read_chunked(self, deadline: float) -> bytes:
        limits = self.limits
        body = bytearray()
        while True:
            line = self._read_line(limits.max_chunk_line, deadline)
            size_b, _, _extensions = line.partition(b";")
            # No whitespace, signs or 0x prefixes: strict hex keeps parsers in agreement.
            if not _CHUNK_SIZE.fullmatch(size_b):
                raise HTTPError(400, "invalid chunk size", close=True)
            size = int(size_b, 16)
            if size == 0:
                break
            if len(body) + size > limits.max_body:
                raise HTTPError(413, "request body too large", close=True)
            body += self._read_exact(size, deadline)
            if self._read_line(2, deadline) != b"":
                raise HTTPError(400, "chunk data not followed by CRLF", close=True)
        # Trailer fields: read within the header limits and drop (none is used here).
        trailer_bytes = 0
        while line := self._read_line(limits.max_request_line, deadline):
            trailer_bytes += len(line) + 2
            if trailer_bytes > limits.max_header_bytes:
                raise HTTPError(431, "trailer fields too large", close=True)
            name, colon, _ = line.partition(b":")
            if not colon or not _TOKEN.fullmatch(name):
                raise HTTPError(400, "malformed trailer field", close=True)
        return bytes(body)


def _parse_request_line(line: bytes) -> tuple[str, str, tuple[int, int], str, str]:
    """``(method, target, version, path, query)`` of a request line without its CRLF.

    Strict: method a token, target visible ASCII, version exactly ``HTTP/d.d``; a bare
    CR inside the line fails one of these, so it is 400 too.
    """
    method_b, target_b, version_b = _split_request_line(line)
    method = method_b.decode("ascii")
    if version_b == b"HTTP/1.1":  # the common case, without the regex
        version = (1, 1)
    else:
        version_match = _VERSION.fullmatch(version_b)
        if version_match is None:
            raise HTTPError(400, "malformed HTTP version", close=True)
        version = (int(version_match[1]), int(version_match[2]))
    if version[0] != 1:
        raise HTTPError(505, "only HTTP/1.x is supported", close=True)
    if method not in KNOWN_METHODS:
        raise HTTPError(501, f"method {method} not implemented", close=True)
    if _BAD_TARGET_CHAR.search(target_b):
        raise HTTPError(400, "invalid character in the request target", close=True)
    target = target_b.decode("ascii")
    path, query = _split_target(target, method)
    return method, target, version, path, query


def _split_request_line(line: bytes) -> tuple[bytes, bytes, bytes]:
    # Two parts ("GET /", an HTTP/0.9 request) is refused here, at once: 400 and close.
    parts = line.split(b" ")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise HTTPError(400, "malformed request line", close=True)
    method, target, version = parts
    if method not in _KNOWN_METHODS_B and not _TOKEN.fullmatch(method):
        raise HTTPError(400, "malformed method", close=True)
    return method, target, version


def _split_target(target: str, method: str) -> tuple[str, str]:
    """``(path, query)`` of an origin-form, absolute-form or ``*`` target."""
    if target == "*" and method == "OPTIONS":
        return "*", ""
    if target.startswith("/"):
        path, _, query = target.partition("?")
        path = path.partition("#")[0]
        return path, query.partition("#")[0]
    # Absolute form (RFC 9112 3.2.2) must be accepted; its authority is not used.
    try:
        parts = urllib.parse.urlsplit(target)
    except ValueError:  # e.g. "http://[::1/": an unclosed IPv6 literal
        raise HTTPError(400, "malformed request target", close=True) from None
    if parts.scheme.lower() in ("http", "https") and parts.netloc:
        return parts.path or "/", parts.query
    raise HTTPError(400, "malformed request target", close=True)


def _wants_keep_alive(version: tuple[int, int], headers: list[tuple[str, str]]) -> bool:
    tokens: set[str] = set()
    for name, value in headers:
        if name == "connection":
            tokens.update(t.strip().lower() for t in value.split(","))
    if "close" in tokens:
        return False
    if version >= (1, 1):
        return True
    return "keep-alive" in tokens


# ----------------------------------------------------------------------- response ---

_REASONS = {s.value: s.phrase for s in HTTPStatus}
_STATUS_LINES = {code: f"HTTP/1.1 {code} {text}\r\n".encode() for code, text in _REASONS.items()}
_date_cache: tuple[int, bytes] = (0, b"")


def http_date() -> bytes:
    """The ``Date`` header value, formatted at most once per second."""
    global _date_cache
    now = int(time.time())
    cached = _date_cache  # one read: the tuple swap below is atomic for other threads
    if cached[0] != now:
        cached = (now, email.utils.formatdate(now, usegmt=True).encode("ascii"))
        _date_cache = cached
    return cached[1]


@dataclass
class Response:
    """An answer: status, body, content type and any extra headers."""

    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def text(cls, text: str, status: int = 200) -> Response:
        return cls(status, text.encode("utf-8"), "text/plain; charset=utf-8")

    @classmethod
    def html(cls, html: str, status: int = 200) -> Response:
        return cls(status, html.encode("utf-8"), "text/html; charset=utf-8")

    @classmethod
    def json(cls, value: Any, status: int = 200) -> Response:
        body = JSON_ENCODER.encode(value)
        return cls(status, body.encode("utf-8"), "application/json")

    def serialize(
        self, server: bytes, *, head: bool = False, keep_alive: bool = True, extra: bytes = b""
    ) -> bytes:
        """The whole response as one buffer. ``head`` drops the body but keeps its length;
        ``extra`` is pre-serialized header lines every response carries."""
        status_line = _STATUS_LINES.get(self.status)
        if status_line is None:
            status_line = f"HTTP/1.1 {self.status} Unknown\r\n".encode()
        parts = [
            status_line,
            b"Date: ",
            http_date(),
            b"\r\nServer: ",
            server,
            b"\r\nContent-Type: ",
            self.content_type.encode("latin-1"),
            b"\r\nContent-Length: ",
            str(len(self.body)).encode("ascii"),
            b"\r\nConnection: keep-alive\r\n" if keep_alive else b"\r\nConnection: close\r\n",
        ]
        for name, value in self.headers:
            parts.append(f"{name}: {value}\r\n".encode("latin-1"))
        parts.append(extra)
        parts.append(_CRLF)
        if not head:
            parts.append(self.body)
        return b"".join(parts)


def error_response(status: int, detail: str = "") -> Response:
    """A short plain-text error page."""
    text = f"{status} {_REASONS.get(status, 'Error')}\n"
    if detail:
        text += detail + "\n"
    return Response.text(text, status)


# ------------------------------------------------------------------------- router ---


class App:
    """Routes shared by both servers.

    Exact paths map to handlers per method; ``GET`` routes answer ``HEAD`` too. Prefix
    mounts take every path under a prefix (``/static/``). An unknown path is 404; a known
    path with another method is 405 with ``Allow``. Route paths are matched against the
    percent-decoded request path.
    """

    def __init__(self) -> None:
        self._routes: dict[str, dict[str, Handler]] = {}
        self._mounts: list[tuple[str, Handler]] = []
        # Checks run before routing, in order; the first answer wins (the dashboard's
        # Host check and read-only rule, see routes.guard_dashboard).
        self.guards: list[Callable[[Request], Response | None]] = []

    def route(self, path: str, methods: Iterable[str] = ("GET",)) -> Callable[[Handler], Handler]:
        """Decorator: register ``handler`` for ``path`` and ``methods``."""

        def register(handler: Handler) -> Handler:
            self.add_route(path, handler, methods)
            return handler

        return register

    def add_route(self, path: str, handler: Handler, methods: Iterable[str] = ("GET",)) -> None:
        if not path.startswith("/"):
            raise ValueError(f"route path must start with '/': {path!r}")
        table = self._routes.setdefault(path, {})
        for method in methods:
            method = method.upper()
            if method not in KNOWN_METHODS:
                raise ValueError(f"unknown HTTP method {method!r}")
            table[method] = handler
            if method == "GET":
                table.setdefault("HEAD", handler)

    def mount(self, prefix: str, handler: Handler) -> None:
        """Send every path starting with ``prefix`` (e.g. ``/static/``) to ``handler``."""
        self._mounts.append((prefix, handler))
        self._mounts.sort(key=lambda m: len(m[0]), reverse=True)

    def allowed(self, path: str) -> list[str]:
        return sorted(self._routes.get(path, {}))

    def dispatch(self, request: Request) -> Response:
        for guard in self.guards:
            refused = guard(request)
            if refused is not None:
                return refused
        path = request.path
        if "%" in path:
            try:
                path = urllib.parse.unquote(path, errors="strict")
            except UnicodeDecodeError:
                return error_response(400, "path is not valid UTF-8")
        table = self._routes.get(path)
        if table is not None:
            handler = table.get(request.method)
            if handler is None:
                allow = ", ".join(sorted(table))
                return _with_header(error_response(405, f"allowed: {allow}"), "Allow", allow)
            return handler(request)
        for prefix, handler in self._mounts:
            if request.path.startswith(prefix):
                return handler(request)
        return error_response(404)


def _with_header(response: Response, name: str, value: str) -> Response:
    response.headers.append((name, value))
    return response


# ------------------------------------------------------------------- static files ---


@dataclass
class _CachedFile:
    key: tuple[int, int]  # (mtime_ns, size)
    body: bytes
    content_type: str


class StaticFiles:
    """A mount handler serving files from one folder, and never from anywhere else.

    The request path is percent-decoded once, then refused unless every segment is a
    plain name (no ``..``, ``.``, empty segment, backslash, NUL or drive colon). The
    joined path is then resolved with ``realpath`` and must still be inside the root,
    which also refuses symlinks that point out. Refusals are 404s, like missing files,
    so probing learns nothing. Small files are cached, keyed by mtime and size.
    """

    max_cached = 256 * 1024

    def __init__(self, root: str | os.PathLike[str], prefix: str = "/static/") -> None:
        self.root = os.path.realpath(root)
        self.prefix = prefix
        self._cache: dict[str, _CachedFile] = {}

    def _segments(self, request_path: str) -> list[str] | None:
        """The decoded path segments under the root, or ``None`` if any is suspect."""
        if not request_path.startswith(self.prefix):
            return None
        raw = request_path[len(self.prefix) :]
        try:
            rel = urllib.parse.unquote(raw, errors="strict")
        except UnicodeDecodeError:
            return None
        if not rel or "\x00" in rel or "\\" in rel or rel.startswith("/"):
            return None
        segments = rel.split("/")
        for segment in segments:
            if segment in ("", ".", "..") or ":" in segment:
                return None
        return segments

    def _inside(self, real: str) -> bool:
        return real != self.root and os.path.commonpath([self.root, real]) == self.root

    def lookup(self, request_path: str) -> tuple[str, os.stat_result] | None:
        """``(real path, stat)`` of the regular file for ``request_path``, or ``None``.

        Walks the segments with ``lstat`` (one syscall each; usually one in all). Only
        when a segment is a symlink does it resolve the whole path with ``realpath`` and
        require the result to be inside the root.
        """
        segments = self._segments(request_path)
        if segments is None:
            return None
        path = self.root
        try:
            for segment in segments:
                path = path + os.sep + segment
                st = os.lstat(path)
                if stat.S_ISLNK(st.st_mode):
                    path = os.path.realpath(os.path.join(self.root, *segments))
                    if not self._inside(path):
                        return None
                    st = os.stat(path)
                    break
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        return path, st

    def resolve(self, request_path: str) -> str | None:
        """The real path of the file for ``request_path``, or ``None`` if refused."""
        found = self.lookup(request_path)
        return None if found is None else found[0]

    def __call__(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return _with_header(error_response(405), "Allow", "GET, HEAD")
        found = self.lookup(request.path)
        if found is None:
            return error_response(404)
        real, st = found
        key = (st.st_mtime_ns, st.st_size)
        cached = self._cache.get(real)
        if cached is None or cached.key != key:
            try:
                with open(real, "rb") as fh:
                    body = fh.read()
            except OSError:
                return error_response(404)
            ctype = mimetypes.guess_type(real)[0] or "application/octet-stream"
            if ctype.startswith("text/") or ctype in ("application/javascript", "application/json"):
                ctype += "; charset=utf-8"
            cached = _CachedFile(key, body, ctype)
            if st.st_size <= self.max_cached:
                self._cache[real] = cached
        return Response(200, cached.body, cached.content_type, [("Cache-Control", "no-cache")])


# --------------------------------------------------------------------- connection ---


def set_nodelay(sock: socket.socket) -> None:
    """Disable Nagle: responses are single writes, so there is nothing to coalesce."""
    # Not TCP (a socketpair in tests, a Unix socket): nothing to disable.
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class KernelTimeouts:
    """``settimeout`` for a *blocking* socket, done with ``SO_RCVTIMEO``/``SO_SNDTIMEO``.

    Python's own socket timeouts poll() before every recv() and send(): two more
    syscalls per request, each releasing and retaking the GIL, which 50 busy threads
    feel. A blocking socket with kernel timeouts does one syscall per read; a read that
    times out fails with EAGAIN (``BlockingIOError``), which the reader treats as a
    time-out. Timeouts are rounded up to 50 ms steps and only set when they change, so
    the steady state costs nothing. Not for gevent sockets: they are non-blocking
    underneath and take their timeouts from ``settimeout``.
    """

    def __init__(self, sock: socket.socket, send_timeout: float) -> None:
        self._sock = sock
        self._current = -1
        sock.settimeout(None)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, self._timeval(send_timeout))

    @staticmethod
    def _timeval(seconds: float) -> bytes:
        step = max(1, -int(-seconds // 0.05))  # ceil to 50 ms; 0 would mean "never"
        usec = step * 50_000
        return struct.pack("@ll", usec // 1_000_000, usec % 1_000_000)

    def __call__(self, seconds: float | None) -> None:
        step = 0 if seconds is None else max(1, -int(-seconds // 0.05))
        if step != self._current:
            self._current = step
            value = struct.pack("@ll", 0, 0) if seconds is None else self._timeval(seconds)
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)

    @classmethod
    def supported(cls) -> bool:
        return hasattr(socket, "SO_RCVTIMEO") and sys.platform.startswith("linux")


def serve_connection(
    sock: socket.socket,
    app: App,
    *,
    limits: Limits,
    server_name: bytes,
    client: tuple[str, int] | None = None,
    stopping: Callable[[], bool] = lambda: False,
    log: Callable[[str], None] | None = None,
    default_headers: Mapping[str, str] | None = None,
    kernel_timeouts: bool = False,
) -> int:
    """Serve requests on ``sock`` until it should close; return how many were answered.

    ``kernel_timeouts`` (blocking sockets only, see ``KernelTimeouts``) trades Python's
    poll-then-read timeouts for kernel ones. Never raises for protocol or peer trouble;
    the caller still closes the socket.
    """
    set_nodelay(sock)
    settimeout: SetTimeout
    if kernel_timeouts and KernelTimeouts.supported():
        settimeout = KernelTimeouts(sock, limits.read_timeout)
        send_timeout = None  # SO_SNDTIMEO is set once, for the connection's life
    else:
        settimeout = sock.settimeout
        send_timeout = limits.read_timeout  # a client that stops reading is dropped
    reader = RequestReader(sock.recv, settimeout, sock.sendall, limits, stopping=stopping)
    extra = "".join(f"{k}: {v}\r\n" for k, v in (default_headers or {}).items()).encode("latin-1")
    served = 0
    while True:
        try:
            try:
                request = reader.read_request()
            except (ConnectionDone, HTTPError):
                raise
            except Exception as exc:  # a parser bug must not kill the server: 400, close
                sys.stderr.write(traceback.format_exc())
                raise HTTPError(400, "unparsable request", close=True) from exc
        except ConnectionDone:
            return served
        except HTTPError as exc:
            response = error_response(exc.status, exc.detail)
            response.headers.extend(exc.headers)
            data = response.serialize(server_name, keep_alive=False, extra=extra)
            if _send(sock, data, send_timeout):
                _linger(sock)
            return served + 1
        request.client = client
        try:
            response = app.dispatch(request)
        except HTTPError as exc:
            response = error_response(exc.status, exc.detail)
            response.headers.extend(exc.headers)
            request.keep_alive = request.keep_alive and not exc.close
        except Exception:
            # A bug in a route: answer 500 and keep the server up. The body was read,
            # so the connection's framing is still sound.
            sys.stderr.write(traceback.format_exc())
            response = error_response(500)
        served += 1
        keep_alive = (
            request.keep_alive and served < limits.max_keepalive_requests and not stopping()
        )
        data = response.serialize(
            server_name, head=request.method == "HEAD", keep_alive=keep_alive, extra=extra
        )
        if log is not None:
            log(f"{request.method} {request.target} {response.status} {len(response.body)}")
        if not _send(sock, data, send_timeout) or not keep_alive:
            return served


def _send(sock: socket.socket, data: bytes, timeout: float | None) -> bool:
    try:
        if timeout is not None:
            sock.settimeout(timeout)
        sock.sendall(data)
    except OSError:
        return False
    return True


def _linger(sock: socket.socket, seconds: float = 0.5, max_bytes: int = 1 << 20) -> None:
    """Half-close, then read and drop what the client still sends, briefly.

    Closing with unread input makes the kernel send RST, which can destroy the error
    answer before the client reads it (a 413 for a body still on its way, say).
    """
    deadline = time.monotonic() + seconds
    drained = 0
    try:
        sock.shutdown(socket.SHUT_WR)
        while drained < max_bytes:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            sock.settimeout(remaining)
            chunk = sock.recv(65536)
            if not chunk:
                return
            drained += len(chunk)
    except OSError:
        return

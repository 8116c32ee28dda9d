"""A small Chrome DevTools Protocol client for the browser tests: stdlib only.

Chromium runs headless with ``--remote-debugging-port=0`` (it prints the browser's websocket
URL on stderr); :class:`Browser` speaks the protocol over a minimal RFC 6455 client (text
frames, masked, fragmented replies reassembled), opens a page in its own target session and
collects console errors, uncaught exceptions and browser log errors (a CSP violation is one)
for the test to assert on.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--disable-extensions", "--mute-audio",
)  # fmt: skip
_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")


class WebSocket:
    """Just enough of a websocket client for DevTools: text messages both ways."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET {parts.path} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("DevTools closed during the handshake")
            head += chunk
        status, _, self._buffer = head.partition(b"\r\n\r\n")
        if b" 101 " not in status.split(b"\r\n", 1)[0]:
            raise ConnectionError(f"DevTools handshake failed: {status[:200]!r}")

    def _fill(self, n: int) -> None:
        # Never consumes: a time-out half-way through a frame leaves the buffer whole.
        while len(self._buffer) < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("DevTools closed the websocket")
            self._buffer += chunk

    def send(self, text: str) -> None:
        payload = text.encode()
        head = bytes([0x81])
        n = len(payload)
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 1 << 16:
            head += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + body)

    def _frame(self) -> tuple[int, bytes]:
        """One whole frame (fin flag and opcode byte, payload), consumed only once complete."""
        self._fill(2)
        first, second = self._buffer[0], self._buffer[1]
        n, start = second & 0x7F, 2
        if n == 126:
            self._fill(4)
            (n,) = struct.unpack(">H", self._buffer[2:4])
            start = 4
        elif n == 127:
            self._fill(10)
            (n,) = struct.unpack(">Q", self._buffer[2:10])
            start = 10
        self._fill(start + n)
        payload = self._buffer[start : start + n]
        self._buffer = self._buffer[start + n :]
        return first, payload

    def recv(self) -> str:
        message = b""
        while True:
            first, payload = self._frame()
            opcode = first & 0x0F
            if opcode == 0x8:
                raise ConnectionError("DevTools closed the websocket")
            if opcode in (0x9, 0xA):  # ping/pong: DevTools does not send them; skip
                continue
            message += payload
            if first & 0x80:
                return message.decode()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class Page:
    """One tab, attached with its own session; events are kept for the test."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session
        self.errors: list[str] = []

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        return self.browser.call(method, params, session=self.session)

    def evaluate(self, expression: str) -> Any:
        reply = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in reply:
            raise AssertionError(f"{expression!r} threw: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30.0) -> Any:
        """Poll ``expression`` in the page until it is truthy (a generous deadline, no
        fixed sleep: it returns as soon as the page shows it)."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = self.evaluate(expression)
            if last:
                return last
            self.browser.pump(0.1)
        raise AssertionError(f"not true within {timeout:g} s: {expression} (last: {last!r})")

    def screenshot(self, path: Path) -> None:
        height = self.evaluate("document.documentElement.scrollHeight")
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=1280,
            height=int(min(max(height, 800), 4000)),
            deviceScaleFactor=1,
            mobile=False,
        )
        data = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(data["data"]))


class Browser:
    """Headless Chromium driven over DevTools."""

    def __init__(self, chromium: str, profile: Path) -> None:
        self.process = subprocess.Popen(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
             "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        url = None
        assert self.process.stderr is not None
        seen: list[str] = []
        for line in self.process.stderr:  # Chromium says where it listens within a second
            seen.append(line)
            match = _LISTENING.search(line)
            if match:
                url = match.group(1)
                break
        if url is None:
            raise RuntimeError("chromium did not start DevTools:\n" + "".join(seen[-20:]))
        # Keep draining stderr so Chromium never blocks on a full pipe.
        import threading

        threading.Thread(target=self.process.stderr.read, daemon=True).start()
        self.ws = WebSocket(url)
        self._next = 0
        self.pages: dict[str, Page] = {}

    def call(self, method: str, params: dict[str, Any], session: str | None = None) -> Any:
        self._next += 1
        ident = self._next
        message: dict[str, Any] = {"id": ident, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == ident:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self._event(reply)

    def pump(self, seconds: float) -> None:
        """Take events for up to ``seconds`` (the websocket's timeout bounds the wait)."""
        self.ws.sock.settimeout(seconds)
        try:
            while True:
                self._event(json.loads(self.ws.recv()))
        except TimeoutError:
            pass
        finally:
            self.ws.sock.settimeout(30.0)

    def _event(self, message: dict[str, Any]) -> None:
        page = self.pages.get(message.get("sessionId", ""))
        if page is None:
            return
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = params.get("args", [])
            page.errors.append("console: " + " ".join(str(a.get("value", a)) for a in args))
        elif method == "Runtime.exceptionThrown":
            page.errors.append("exception: " + json.dumps(params.get("exceptionDetails"))[:500])
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            page.errors.append("log: " + params["entry"].get("text", ""))

    def open(self, url: str) -> Page:
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})
        page = Page(self, session["sessionId"])
        self.pages[page.session] = page
        for domain in ("Runtime.enable", "Log.enable", "Page.enable"):
            page.send(domain)
        page.send("Page.navigate", url=url)
        page.wait_for("document.readyState === 'complete'")
        return page

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.call("Browser.close", {})
        self.ws.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


@contextlib.contextmanager
def browser(chromium: str) -> Iterator[Browser]:
    with tempfile.TemporaryDirectory(prefix="pipkit-chromium-") as profile:
        session = Browser(chromium, Path(profile))
        try:
            yield session
        finally:
            session.close()

"""The socketserver family: threading and forking, TCP and UDP, echo servers and a client.

Starts four echo servers on port 0 of 127.0.0.1 inside this process (each
``serve_forever`` on a helper thread), talks to each with a plain socket client, shows
which thread or process answered, then shuts them all down and exits 0.

    python examples/socketserver_family.py

This is the ancestry of pipkit's threaded server (``pipkit/servers/threaded.py``):
``ThreadingMixIn`` + ``TCPServer`` + a ``StreamRequestHandler`` subclass.
"""

from __future__ import annotations

import os
import socket
import socketserver
import sys
import threading


class TCPEcho(socketserver.StreamRequestHandler):
    """Echo each line back, tagged with who served it."""

    timeout = 5  # never let a silent client pin a worker

    def handle(self) -> None:
        for line in self.rfile:
            tag = f"[pid {os.getpid()} {threading.current_thread().name}] "
            self.wfile.write(tag.encode() + line)


class UDPEcho(socketserver.DatagramRequestHandler):
    """One datagram in, one datagram out (rfile/wfile wrap the packet)."""

    def handle(self) -> None:
        tag = f"[pid {os.getpid()} {threading.current_thread().name}] "
        self.wfile.write(tag.encode() + self.rfile.read())


class ThreadingTCP(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class ThreadingUDP(socketserver.ThreadingUDPServer):
    daemon_threads = True


# UDPServer is a TCPServer subclass in socketserver, so one type covers all four.
SERVERS: list[tuple[str, type[socketserver.TCPServer], type[socketserver.BaseRequestHandler]]] = [
    ("threading TCP", ThreadingTCP, TCPEcho),
    ("threading UDP", ThreadingUDP, UDPEcho),
]
if hasattr(socketserver, "ForkingTCPServer"):  # POSIX only
    SERVERS += [
        ("forking TCP", socketserver.ForkingTCPServer, TCPEcho),
        ("forking UDP", socketserver.ForkingUDPServer, UDPEcho),
    ]


def tcp_client(address: tuple[str, int], lines: list[str]) -> list[str]:
    with socket.create_connection(address, timeout=5) as sock:
        reader = sock.makefile("rb")
        replies = []
        for line in lines:
            sock.sendall(line.encode() + b"\n")
            replies.append(reader.readline().decode().rstrip("\n"))
        # shutdown, not just close: a forked server child inherited a copy of this very
        # socket (client and server share the process here), so close() alone would not
        # end the connection and the child would wait for its read timeout.
        sock.shutdown(socket.SHUT_WR)
        return replies


def udp_client(address: tuple[str, int], lines: list[str]) -> list[str]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        replies = []
        for line in lines:
            sock.sendto(line.encode(), address)
            replies.append(sock.recv(65536).decode())
        return replies


def main() -> int:
    print(f"client pid {os.getpid()}")
    for label, server_class, handler in SERVERS:
        server = server_class(("127.0.0.1", 0), handler)
        host, port = str(server.server_address[0]), server.server_address[1]
        address = (host, port)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1})
        thread.start()
        try:
            client = udp_client if "UDP" in label else tcp_client
            replies = client(address, [f"hello {label}", "second line"])
        finally:
            server.shutdown()
            server.server_close()
            thread.join(5)
        print(f"{label:14} on {host}:{port}")
        for reply in replies:
            print(f"    {reply}")
    print("all four echo servers answered and stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A tiny TCP proxy on loopback in front of a test server, told how to misbehave:

- "pass": forward both ways;
- "down": accept and close at once (the network is down, the server unreachable);
- "error500": answer every request `HTTP 500` without forwarding;
- "hang": read the request and never answer (the client's timeout fires);
- "cut": read the start of the upload, then close mid-upload.

Changing the mode closes every open connection, so pooled keep-alive connections see it too.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress

MODES = ("pass", "down", "error500", "hang", "cut")
_500 = b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: 14\r\n\r\ninjected fault"


class FaultProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.mode = "pass"
        self.connections = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        threading.Thread(target=self._accept, name="fault-proxy", daemon=True).start()

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(mode)
        with self._lock:
            self.mode = mode
            for sock in list(self._open):
                _close(sock)
            self._open.clear()

    def close(self) -> None:
        self._stopped.set()
        _close(self._listener)
        self.set_mode("down")

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                mode = self.mode
                self._open.add(client)
            threading.Thread(target=self._serve, args=(client, mode), daemon=True).start()

    def _serve(self, client: socket.socket, mode: str) -> None:
        try:
            if mode == "down":
                return
            if mode == "error500":
                while _read_request(client):  # each request on the connection gets its 500
                    client.sendall(_500)
                return
            if mode == "hang":
                while not self._stopped.is_set() and client.recv(65536):
                    pass
                return
            if mode == "cut":
                client.recv(4096)
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            with self._lock:
                self._open.add(upstream)
            back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
            back.start()
            _pipe(client, upstream)
            back.join(timeout=60)
        except OSError:
            pass
        finally:
            _close(client)


def _read_request(sock: socket.socket) -> bool:
    """Read one whole request (head and Content-Length body); False when the client closed."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return False
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return False
        body += chunk
    return True


def _pipe(source: socket.socket, target: socket.socket) -> None:
    try:
        while True:
            chunk = source.recv(65536)
            if not chunk:
                break
            target.sendall(chunk)
    except OSError:
        pass
    finally:
        _close(target)
        _close(source)


def _close(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with suppress(OSError):
        sock.close()


@contextmanager
def proxy_to(port: int) -> Iterator[FaultProxy]:
    proxy = FaultProxy(port)
    try:
        yield proxy
    finally:
        proxy.close()

"""Two tiny loopback relays for tests of how a client connects (imported by name: pytest puts this folder on
sys.path): :class:`TcpRelay` forwards a loopback address to a server (so the server is dialled at an address
its certificate does not name), :class:`ConnectProxy` is an HTTP CONNECT proxy that counts its tunnels.

Both serve in daemon threads, bounded: every socket has a timeout and every loop stops when the relay is
closed or its peer hangs up.
"""

from __future__ import annotations

import select
import socket
import threading
from types import TracebackType

__all__ = ["ConnectProxy", "TcpRelay"]

_IDLE_S = 30.0  # a tunnel idle this long is closed


def _pipe(a: socket.socket, b: socket.socket, stop: threading.Event) -> None:
    """Copy bytes both ways until either side closes, the tunnel idles or the relay stops."""
    try:
        for _ in range(1_000_000):
            if stop.is_set():
                return
            ready, _w, _x = select.select([a, b], [], [], 0.5)
            for src in ready:
                data = src.recv(65536)
                if not data:
                    return
                (b if src is a else a).sendall(data)
    except OSError:
        return
    finally:
        for s in (a, b):
            s.close()


class _Listener:
    """A loopback listener serving each connection in a thread until closed."""

    def __init__(self, host: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.sock.settimeout(0.5)
        self.host, self.port = self.sock.getsockname()[:2]
        self.stop = threading.Event()
        self.connections = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True, name=type(self).__name__)
        self._thread.start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _addr = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
            conn.settimeout(_IDLE_S)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.stop.set()
        self.sock.close()
        self._thread.join(5)

    def __enter__(self) -> _Listener:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


class TcpRelay(_Listener):
    """``host:port`` on loopback forwarding every connection to ``target`` (host, port)."""

    def __init__(self, target: tuple[str, int], host: str = "127.0.0.2") -> None:
        self.target = target
        super().__init__(host)

    def _serve(self, conn: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            conn.close()
            return
        _pipe(conn, upstream, self.stop)


class ConnectProxy(_Listener):
    """An HTTP proxy that only tunnels (CONNECT host:port); ``tunnels`` lists the targets asked for."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.tunnels: list[str] = []
        super().__init__(host)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _serve(self, conn: socket.socket) -> None:
        head = b""
        try:
            while b"\r\n\r\n" not in head and len(head) < 16384:
                chunk = conn.recv(4096)
                if not chunk:
                    conn.close()
                    return
                head += chunk
            method, target, *_ = head.split(b"\r\n", 1)[0].decode("latin-1").split()
            host, _, port = target.rpartition(":")
            if method != "CONNECT" or not port.isdigit():
                conn.sendall(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                conn.close()
                return
            self.tunnels.append(target)
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=5)
        except (OSError, ValueError):
            conn.close()
            return
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        _pipe(conn, upstream, self.stop)

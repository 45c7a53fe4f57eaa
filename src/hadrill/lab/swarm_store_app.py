#!/usr/bin/env python3
"""The lab Swarm's stateful service: a key-value store over HTTP whose data is files in ``--dir``.

In the lab ``--dir`` is a bind mount of a directory on the Gluster replica 3 volume (mounted on every
Swarm node), so the task can move to any node and find its data. What it promises, and what the
acknowledged-writes probe holds it to: ``PUT /KEY`` answers ``201`` only after the file was created
(``O_EXCL``: a key is written once), written, ``fsync``'d and closed and its directory ``fsync``'d;
the answer carries the content's sha256. ``GET /KEY`` returns the content. Anything else is an error
status, never a 2xx.

Standard library only: it runs on the Python of the app image (this file is copied into it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
MAX_BODY = 1 << 20


class Store(BaseHTTPRequestHandler):
    """One request; the data directory is the server's ``root``."""

    server: StoreServer
    protocol_version = "HTTP/1.1"

    def _answer(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, why: str) -> None:
        self._answer(status, json.dumps({"error": why}).encode() + b"\n")

    def _key(self) -> str | None:
        key = self.path.lstrip("/")
        return key if KEY.match(key) else None

    def do_GET(self) -> None:
        if self.path == "/":
            self._answer(200, f"{socket.gethostname()}\n".encode(), "text/plain")
            return
        key = self._key()
        if key is None:
            self._error(400, "bad key")
            return
        try:
            with open(os.path.join(self.server.root, key), "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            self._error(404, "no such key")
            return
        except OSError as e:
            self._error(503, f"read: {e.strerror}")
            return
        self._answer(200, data, "application/octet-stream")

    def do_PUT(self) -> None:
        key = self._key()
        length = int(self.headers.get("Content-Length") or -1)
        if key is None or not 0 <= length <= MAX_BODY:
            self.close_connection = True
            self._error(400, "bad key or body length")
            return
        data = self.rfile.read(length)
        if len(data) != length:
            self._error(400, "short body")
            return
        path = os.path.join(self.server.root, key)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            self._error(409, "key exists")
            return
        except OSError as e:
            self._error(503, f"create: {e.strerror}")
            return
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except OSError as e:
            os.close(fd)
            self._error(503, f"write: {e.strerror}")
            return
        try:
            os.close(fd)
            dfd = os.open(self.server.root, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError as e:
            self._error(503, f"close: {e.strerror}")
            return
        self._answer(201, json.dumps({"key": key, "sha256": hashlib.sha256(data).hexdigest()}).encode() + b"\n")

    def log_message(self, format: str, *args: object) -> None:
        return


class StoreServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], root: str) -> None:
        super().__init__(address, Store)
        self.root = root


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--bind", default="0.0.0.0")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.dir):  # a missing data directory is a broken task, not an empty store
        parser.error(f"--dir {args.dir} is not a directory")
    StoreServer((args.bind, args.port), args.dir).serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

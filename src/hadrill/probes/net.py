"""Generic probes: TCP connect, HTTP status, and a command run on a target."""

from __future__ import annotations

import socket
from typing import Any

import requests

from hadrill.clients.targets import target
from hadrill.errors import ProbeFailed, TargetError

__all__ = ["CommandProbe", "HTTPProbe", "TCPProbe"]


class TCPProbe:
    """A TCP connection to host:port is accepted within ``timeout``."""

    def __init__(self, host: str, port: int, *, timeout: float = 1.0, name: str = "") -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.name = name or f"tcp {host}:{port}"

    def sample(self) -> dict[str, Any] | None:
        try:
            socket.create_connection((self.host, self.port), timeout=self.timeout).close()
        except OSError as e:
            raise ProbeFailed(f"connect {self.host}:{self.port}: {e}") from e
        return None


class HTTPProbe:
    """An HTTP GET answers with the expected status within ``timeout``."""

    def __init__(self, url: str, *, expect: int = 200, timeout: float = 1.0, name: str = "", verify: bool = True):
        self.url, self.expect, self.timeout, self.verify = url, expect, timeout, verify
        self.name = name or f"http {url}"

    def sample(self) -> dict[str, Any] | None:
        try:
            r = requests.get(self.url, timeout=self.timeout, verify=self.verify)
        except requests.RequestException as e:
            raise ProbeFailed(f"GET {self.url}: {type(e).__name__}") from e
        if r.status_code != self.expect:
            raise ProbeFailed(f"GET {self.url}: HTTP {r.status_code}, expected {self.expect}")
        return {"status": r.status_code}


class CommandProbe:
    """A command on a target exits 0 within ``timeout``."""

    def __init__(self, url: str, command: str, *, timeout: float = 5.0, name: str = "") -> None:
        self.url, self.command, self.timeout = url, command, timeout
        self.name = name or f"command on {url}"

    def sample(self) -> dict[str, Any] | None:
        try:
            res = target(self.url).run(self.command, timeout=self.timeout)
        except TargetError as e:
            raise ProbeFailed(str(e)) from e
        if not res.ok:
            raise ProbeFailed(f"{self.command!r} exited {res.rc}: {(res.stderr or res.stdout).strip()[-200:]}")
        return None

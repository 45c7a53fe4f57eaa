"""Commands in a lab container through a shell kept open in it, instead of one ``docker exec`` each.

A ``docker exec`` costs about 70 ms here whatever it runs: the runtime starts a process in the
container's namespaces each time. A fault is a few commands (the holders check, the deadman, the
inject, the proof), so that cost was most of its inject → proven time. A shell started once per
container (an exec attached to its standard input) runs each command for a few milliseconds: the
command line is written to it and its output read back, framed by the engine's stream header
(stdout 1, stderr 2), up to a mark of the command's own (a random token, with the exit status on
stdout). Every command still runs as ``timeout -k 2 N sh -c …`` (its caller's wrapper) with its
standard input from /dev/null, so nothing it does reaches the shell or the next command.

A shell is used only while its container runs, unpaused, the same start as when the shell was made
(the engine says so, one ~1 ms request, and that the shell itself still runs); otherwise the caller
runs a plain exec, whose refusal (not running, paused, no such container) is the engine's answer. A
shell whose command overran its time is closed, never reused. Shells are per process (a fork must
not share the parent's sockets) and at most :data:`IDLE_MAX` idle ones are kept per container.
"""

from __future__ import annotations

import os
import secrets
import socket
import struct
import threading
import time
from typing import Any

__all__ = ["IDLE_MAX", "SLACK_S", "TOTAL_MAX", "SessionEnded", "run_in_session"]

IDLE_MAX = 4  # idle shells kept per container and user (probes and faults run side by side)
TOTAL_MAX = 64  # idle shells kept in all: the least recently used container's go first (labs come and go)
SLACK_S = 10.0  # beyond the command's bound on the node: its output (exit 124) still comes back
_HEADER = struct.Struct(">BxxxL")  # the engine's stream frame: stream type, 3 zero bytes, payload size
_POOL: dict[tuple[int, str, str], list[_Session]] = {}  # in order of last use, the newest last
_LOCK = threading.Lock()


class SessionEnded(RuntimeError):
    """The shell (or its container) ended while a command ran: whether the command ran is unknown."""


class _NotSent(RuntimeError):
    """The command line could not be written: the shell is gone, and the command did not run."""


class _Session:
    """One ``sh`` in a container, fed commands on its standard input."""

    def __init__(self, api: Any, name: str, user: str, started_at: str) -> None:
        self.api, self.name, self.started_at = api, name, started_at
        self.exec_id = api.exec_create(name, ["sh"], stdin=True, stdout=True, stderr=True, user=user)["Id"]
        # docker-py's exec_start(socket=True), keeping the response: the socket lives as long as it does
        self._response = api._post_json(
            api._url("/exec/{0}/start", self.exec_id), headers={"Connection": "Upgrade", "Upgrade": "tcp"},
            data={"Tty": False, "Detach": False}, stream=True,
        )  # fmt: skip
        raw = api._get_raw_response_socket(self._response)
        self._sock: socket.socket = getattr(raw, "_sock", raw)
        self._pending = b""

    def alive(self) -> bool:
        try:
            return bool(self.api.exec_inspect(self.exec_id).get("Running"))
        except Exception:  # the engine forgot it (container removed): not alive
            return False

    def close(self) -> None:
        try:
            self._sock.close()
        finally:
            self._response.close()

    def run(self, wrapped: str, deadline: float) -> tuple[int, bytes, bytes]:
        """Run one shell command line; (exit status, stdout, stderr). TimeoutError past ``deadline``
        (monotonic), :class:`SessionEnded` when the shell ends first."""
        mark = secrets.token_hex(12)
        line = f"{wrapped} </dev/null; printf '%s %s\\n' {mark} $?; printf '%s\\n' {mark} >&2\n"
        try:
            self._sock.sendall(line.encode())
        except OSError as e:
            raise _NotSent(str(e)) from e
        streams = {1: b"", 2: b""}
        out_end, err_end = f"{mark} ".encode(), f"{mark}\n".encode()
        for _ in range(1_000_000):  # bounded: each pass reads a frame or times out
            done_out = out_end in streams[1] and streams[1].endswith(b"\n")
            if done_out and streams[2].endswith(err_end):
                break
            kind, payload = self._frame(deadline)
            streams[kind] = streams[kind] + payload
        out, _, tail = streams[1].rpartition(out_end)
        err = streams[2][: -len(err_end)]
        return int(tail.strip() or b"-1"), out, err

    def _frame(self, deadline: float) -> tuple[int, bytes]:
        head = self._read(_HEADER.size, deadline)
        kind, size = _HEADER.unpack(head)
        return (kind if kind in (1, 2) else 1), self._read(size, deadline)

    def _read(self, n: int, deadline: float) -> bytes:
        while len(self._pending) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no answer from the shell in {self.name}")
            self._sock.settimeout(left)
            try:
                chunk = self._sock.recv(65536)
            except TimeoutError:
                raise TimeoutError(f"no answer from the shell in {self.name}") from None
            if not chunk:
                raise SessionEnded(f"the shell in {self.name} ended")
            self._pending += chunk
        data, self._pending = self._pending[:n], self._pending[n:]
        return data


def run_in_session(
    api: Any, name: str, wrapped: str, *, user: str | None, timeout: float
) -> tuple[int, bytes, bytes] | None:
    """Run ``wrapped`` (a shell command line, already bounded by ``timeout`` on the node) in a shell kept
    open in container ``name``; None when no shell may be used (not running, paused, restarted, an
    engine not on a Unix socket): the caller then runs a plain exec. Raises TimeoutError after
    ``timeout`` + :data:`SLACK_S` (as :func:`~hadrill.clients.docker.exec_in` does; the shell is closed)
    and :class:`SessionEnded` (the container or the shell ended during the command)."""
    if not str(getattr(api, "base_url", "")).startswith("http+docker://localhost"):
        return None  # tcp/ssh engines: sockets of their own kind, not worth the difference
    state = api.inspect_container(name).get("State") or {}
    if not state.get("Running") or state.get("Paused") or state.get("Restarting"):
        return None
    started = str(state.get("StartedAt", ""))
    key = (os.getpid(), name, user or "")
    session = _take(key, started)
    if session is None:
        session = _Session(api, name, user or "", started)
    try:
        result = session.run(wrapped, time.monotonic() + timeout + SLACK_S)
    except _NotSent:
        session.close()
        return None  # nothing ran: a plain exec runs it
    except BaseException:
        session.close()
        raise
    _give_back(key, session)
    return result


def _take(key: tuple[int, str, str], started: str) -> _Session | None:
    """An idle shell of this container's current start that still runs, else None. Shells of another
    process (a fork) or of an earlier start are dropped."""
    with _LOCK:
        for stale in [k for k in _POOL if k[0] != key[0]]:
            del _POOL[stale]  # a fork's copy: its sockets are the parent's, never touched here
        idle = _POOL.get(key, [])
        old = [s for s in idle if s.started_at != started]
        idle[:] = [s for s in idle if s.started_at == started]
        session = idle.pop() if idle else None
    for s in old:
        s.close()
    if session is not None and not session.alive():
        session.close()
        return None
    return session


def _give_back(key: tuple[int, str, str], session: _Session) -> None:
    closing = [session]
    with _LOCK:
        idle = _POOL.pop(key, [])
        if len(idle) < IDLE_MAX:
            idle.append(session)
            closing = []
        _POOL[key] = idle  # the newest last
        while sum(len(v) for v in _POOL.values()) > TOTAL_MAX:
            closing += _POOL.pop(next(iter(_POOL)))
    for s in closing:
        s.close()

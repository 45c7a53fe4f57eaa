"""Reaching a node of the platform by URL: ``docker://name``, ``ssh://root@host``, ``local://``.

Backends are testinfra's: hadrill adds only what a fault needs on top of them: a bounded command
(``timeout`` runs on the node, and over SSH the harness gives up a few seconds later, so a host that
lost its power, or a connection multiplexed over one that died with it, cannot hang the harness) and
a detached command that outlives the harness (the deadman).
"""

from __future__ import annotations

import base64
import os
import shlex
import signal
import subprocess
from dataclasses import dataclass
from functools import cache
from typing import Any

import testinfra
from docker.errors import APIError as DockerAPIError

from hadrill.clients.docker import engine, exec_in
from hadrill.clients.exec_session import SLACK_S, SessionEnded, run_in_session
from hadrill.errors import TargetError
from hadrill.inventory import KNOWN_SCHEMES

__all__ = ["KNOWN_SCHEMES", "Result", "Target", "target"]

_SSH_GRACE_S = 3.0  # beyond the command's own timeout: connection set-up, and the node's `timeout -k 2`


@dataclass(frozen=True)
class Result:
    """What a command on a node returned."""

    rc: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0


class Target:
    """A node reached through a testinfra backend."""

    def __init__(self, url: str) -> None:
        scheme, sep, rest = url.partition("://")
        if not sep or scheme not in KNOWN_SCHEMES:
            raise TargetError(f"unknown target URL {url!r}: scheme {scheme!r} is not one of {', '.join(KNOWN_SCHEMES)}")
        self.url = url
        self.scheme = scheme
        self.name = rest.split("?", 1)[0].rsplit("@", 1)[-1] or "localhost"
        user = rest.split("?", 1)[0].rpartition("@")[0]
        self._user = user or None
        try:
            self._host: Any = testinfra.get_host(url)
        except Exception as e:  # testinfra raises bare RuntimeError/ValueError for bad specs
            raise TargetError(f"cannot open target {url!r}: {e}") from e

    @property
    def container(self) -> str | None:
        """The container name for ``docker://`` targets (container-level faults need it)."""
        return self.name if self.scheme == "docker" else None

    def run(self, command: str, *, timeout: float = 30.0) -> Result:
        """Run a shell command on the node, killed on the node after ``timeout`` seconds."""
        wrapped = f"timeout -k 2 {timeout:g} sh -c {shlex.quote(command)}"
        if self.scheme == "docker":
            return self._docker_run(wrapped, timeout)
        if self.scheme == "ssh" and hasattr(self._host.backend, "_build_ssh_command"):
            return self._ssh_run(wrapped, timeout)
        try:
            out = self._host.run(wrapped)
        except Exception as e:
            raise TargetError(f"{self.url}: cannot run {command!r}: {e}") from e
        return Result(
            int(out.rc), out.stdout_bytes.decode("utf-8", "replace"), out.stderr_bytes.decode("utf-8", "replace")
        )

    def _ssh_run(self, wrapped: str, timeout: float) -> Result:
        """testinfra's ssh command line, run with a deadline here too: ``timeout`` on the node bounds the
        command, not an ssh client waiting on a host gone silent (its keep-alives may never be set)."""
        backend = self._host.backend
        argv, args = backend._build_ssh_command(backend.get_command(wrapped))
        line = backend.quote(" ".join(argv), *args)
        proc = subprocess.Popen(
            line, shell=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True,  # its own group: the shell and ssh are killed together
        )  # fmt: skip
        try:
            out, err = proc.communicate(timeout=timeout + _SSH_GRACE_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            # not read to their end: a multiplexed client passed these pipes to its master connection,
            # which holds them until its own keep-alives give up
            for pipe in (proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
            raise TargetError(f"{self.url}: no answer within {timeout + _SSH_GRACE_S:g} s") from None
        if proc.returncode == 255:  # ssh's own failure (the remote command's status otherwise)
            detail = err.decode("utf-8", "replace").strip()[-300:]
            raise TargetError(f"{self.url}: cannot run {wrapped!r}: ssh exited 255: {detail}")
        return Result(proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))

    def _docker_run(self, wrapped: str, timeout: float) -> Result:
        """In a shell kept open in the container (:mod:`hadrill.clients.exec_session`: a few ms, not an
        exec's ~70 ms), else ``docker exec`` through the engine's API (testinfra starts the docker CLI
        per command, which costs as much as the exec itself). As with the CLI, an engine's refusal (no
        such container, not running, paused) is exit status 1 with its message on stderr; an engine
        that cannot be reached is a TargetError."""
        user = self._user
        try:
            got = run_in_session(engine().api, self.name, wrapped, user=user, timeout=timeout + 2)
        except DockerAPIError:
            got = None  # the container went away meanwhile: the plain exec below gets the engine's word
        except TimeoutError:
            raise TargetError(f"{self.url}: no answer within {timeout + 2 + SLACK_S:g} s") from None
        except SessionEnded as e:  # killed under the command, as a plain exec's stream would end
            return Result(-1, "", f"{e}\n")
        except Exception as e:  # requests' connection errors, a closed socket
            raise TargetError(f"{self.url}: cannot run {wrapped!r}: {e}") from e
        if got is not None:
            rc, out, err = got
            return Result(rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))
        try:
            rc, out, err = exec_in(self.name, ["/bin/sh", "-c", wrapped], user=user, timeout=timeout + 2)
        except DockerAPIError as e:
            return Result(1, "", f"Error response from daemon: {e.explanation or e}\n")
        except Exception as e:  # requests' connection errors, a closed socket
            raise TargetError(f"{self.url}: cannot run {wrapped!r}: {e}") from e
        return Result(rc, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))

    def check(self, command: str, *, timeout: float = 30.0) -> str:
        """Run a command that must succeed; return its stdout."""
        res = self.run(command, timeout=timeout)
        if not res.ok:
            detail = (res.stderr or res.stdout).strip()[-500:]
            raise TargetError(f"{self.url}: {command!r} exited {res.rc}: {detail}")
        return res.stdout

    def put_file(self, path: str, content: str | bytes, mode: str = "0644") -> None:
        """Write a small file on the node (scripts a probe runs there), through the shell only."""
        raw = content.encode() if isinstance(content, str) else content
        encoded = base64.b64encode(raw).decode()
        q = shlex.quote(path)
        self.check(f"mkdir -p $(dirname {q}) && : > {q}.b64", timeout=10)
        for i in range(0, len(encoded), 60_000):  # stay well under the command-line limit
            self.check(f"printf %s {encoded[i : i + 60_000]} >> {q}.b64", timeout=10)
        self.check(f"base64 -d {q}.b64 > {q} && rm -f {q}.b64 && chmod {mode} {q}", timeout=10)

    def spawn(self, command: str, *, log: str = "/dev/null") -> None:
        """Start a command detached from the harness, so it survives the harness's death; its output
        is appended to ``log`` on the node."""
        detached = f"setsid sh -c {shlex.quote(command)} </dev/null >>{shlex.quote(log)} 2>&1 &"
        self.check(detached, timeout=10)

    def __repr__(self) -> str:
        return f"Target({self.url!r})"


@cache
def target(url: str) -> Target:
    """The (cached) target for a URL."""
    return Target(url)

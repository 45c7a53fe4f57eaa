"""The Docker engine as faults and drills reach it: one container by name, a shell command inside it,
a file in and out. Engine errors become :class:`~hadrill.errors.TargetError` here, once.

(The lab's own engine handle, which says how to start an engine, is :mod:`hadrill.lab.engine`.)
"""

from __future__ import annotations

import io
import os
import tarfile
import threading
import time

import docker
from docker.errors import DockerException, NotFound
from docker.models.containers import Container

from hadrill.errors import TargetError

__all__ = ["NO_SUCH_CONTAINER", "container", "engine", "exec_in", "get_file", "put_file", "running", "sh", "stopped"]

NO_SUCH_CONTAINER = "no container named"  # the start of the TargetError for a container that does not exist
_ENGINE: dict[int, docker.DockerClient] = {}  # per process (a fork must not share the parent's sockets)
_ENGINE_LOCK = threading.Lock()


def engine() -> docker.DockerClient:
    """This process's Docker client, made once: a new client per call asks the engine its API version
    and opens a new connection each time, a round trip or two per command a fault runs."""
    pid = os.getpid()
    with _ENGINE_LOCK:
        client = _ENGINE.get(pid)
        if client is None:
            _ENGINE.clear()
            client = _ENGINE[pid] = docker.from_env(timeout=60)
    return client


def exec_in(name: str, argv: list[str], *, user: str | None = None, timeout: float = 60.0) -> tuple[int, bytes, bytes]:
    """Run ``argv`` in the container through the engine's API: (exit code, stdout, stderr).

    What ``docker exec`` does, without starting the CLI (a Go program per command, about as costly as
    the exec itself on a busy machine). ``timeout`` bounds the wait for the answer here; the command's
    own bound belongs in ``argv`` (``timeout -k 2 N ...``), so the node kills it too. Raises
    docker's errors (NotFound, APIError: not running, paused) and requests' (engine unreachable).
    """
    api = engine().api
    created = api.exec_create(name, argv, stdout=True, stderr=True, user=user or "")
    # exec_start with the client's 60 s read timeout would give up on a quiet command that runs
    # longer: the same request (docker-py 7's exec_start, not detached, no tty) with this one's bound
    res = api._post_json(
        api._url("/exec/{0}/start", created["Id"]), headers={"Connection": "Upgrade", "Upgrade": "tcp"},
        data={"Tty": False, "Detach": False}, stream=True, timeout=max(float(timeout) + 10.0, 10.0),
    )  # fmt: skip
    api._raise_for_status(res)
    out, err = api._read_from_socket(res, False, tty=False, demux=True)
    code = api.exec_inspect(created["Id"]).get("ExitCode")
    return (-1 if code is None else int(code)), out or b"", err or b""


def container(name: str) -> Container:
    """The container ``name``; TargetError ("no container named …") when it does not exist."""
    try:
        return engine().containers.get(name)
    except NotFound as e:
        raise TargetError(f"{NO_SUCH_CONTAINER} {name}") from e
    except DockerException as e:
        raise TargetError(f"cannot reach the Docker engine for container {name}: {e}") from e


def running(name: str) -> bool:
    """Whether the container exists and runs (False when the engine cannot say)."""
    try:
        return str(container(name).status) == "running"
    except TargetError:
        return False


def stopped(name: str) -> bool:
    """True only when the container is gone or not running (created, exited, dead), and so its network
    namespace and the rules in it are gone too; False when the engine does not answer (no proof)."""
    try:
        status = engine().containers.get(name).status
    except NotFound:
        return True
    except DockerException:
        return False
    return status in ("created", "exited", "dead")


def sh(name: str, command: str, *, timeout: float = 60.0, check: bool = True) -> tuple[int, str]:
    """Run a shell command in a container, killed there after ``timeout`` s; (rc, output)."""
    try:
        rc, out = container(name).exec_run(["timeout", "-k", "2", f"{timeout:g}", "sh", "-c", command], demux=False)
    except DockerException as e:
        raise TargetError(f"{name}: cannot run {command!r}: {e}") from e
    text = (out or b"").decode(errors="replace")
    if check and rc != 0:
        raise TargetError(f"{name}: {command[:120]!r} exited {rc}: {text.strip()[-500:]}")
    return int(rc or 0), text


def get_file(name: str, path: str) -> bytes:
    """The content of one file of the container."""
    try:
        stream, _ = container(name).get_archive(path)
        tar_bytes = b"".join(stream)
    except DockerException as e:
        raise TargetError(f"{name}: cannot copy {path}: {e}") from e
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tar:
        fh = tar.extractfile(tar.getmembers()[0])
        return fh.read() if fh else b""


def put_file(name: str, directory: str, filename: str, data: bytes, *, mode: int = 0o600) -> None:
    """Write ``directory/filename`` in the container (the directory is created)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(filename)
        info.size, info.mode, info.mtime = len(data), mode, int(time.time())
        tar.addfile(info, io.BytesIO(data))
    sh(name, f"mkdir -p {directory}", timeout=10)
    try:
        if not container(name).put_archive(directory, buf.getvalue()):
            raise TargetError(f"{name}: could not write {directory}/{filename}")
    except DockerException as e:
        raise TargetError(f"{name}: cannot write {directory}/{filename}: {e}") from e

"""The Docker engine as faults and drills reach it: one container by name, a shell command inside it,
a file in and out. Engine errors become :class:`~hadrill.errors.TargetError` here, once.

(The lab's own engine handle, which says how to start an engine, is :mod:`hadrill.lab.engine`.)
"""

from __future__ import annotations

import io
import tarfile
import time

import docker
from docker.errors import DockerException, NotFound
from docker.models.containers import Container

from hadrill.errors import TargetError

__all__ = ["NO_SUCH_CONTAINER", "container", "get_file", "put_file", "running", "sh", "stopped"]

NO_SUCH_CONTAINER = "no container named"  # the start of the TargetError for a container that does not exist


def container(name: str) -> Container:
    """The container ``name``; TargetError ("no container named …") when it does not exist."""
    try:
        return docker.from_env(timeout=60).containers.get(name)
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
        status = docker.from_env(timeout=60).containers.get(name).status
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

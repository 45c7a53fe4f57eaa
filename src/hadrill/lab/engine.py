"""The Docker engine the lab runs on: find it, or say exactly how to start one."""

from __future__ import annotations

import docker
from docker.errors import DockerException

from hadrill.errors import EngineError

__all__ = ["ENGINE_HELP", "docker_client"]

ENGINE_HELP = (
    "No Docker engine answers. On Debian, as root: apt-get install -y docker.io, then start it with "
    "`nohup dockerd >/var/log/hadrill-dockerd.log 2>&1 &` (or `systemctl start docker` where systemd "
    "runs), or run `bash .ci/bootstrap` from the hadrill checkout, which does both."
)


def docker_client() -> docker.DockerClient:
    """A client to a live engine (DOCKER_HOST is honoured); EngineError if none answers."""
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except DockerException as e:
        raise EngineError(f"{ENGINE_HELP} ({e})") from e
    return client

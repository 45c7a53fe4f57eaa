"""Container faults: kill, stop, pause or restart a node that is a container (the lab, kind).

The deadman runs on the engine's host (a dead container cannot revert itself) and brings the
container back with the docker CLI at the deadline.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from docker.errors import APIError

from hadrill.clients.docker import NO_SUCH_CONTAINER
from hadrill.clients.docker import container as _container
from hadrill.clients.targets import target
from hadrill.errors import InjectionFailed, RevertFailed, TargetError
from hadrill.faults.base import Fault, wait_for
from hadrill.faults.deadman import arm_on_host, disarm_on_host
from hadrill.faults.ledger import FaultRecord

__all__ = ["ContainerFault"]

Action = Literal["kill", "stop", "pause", "restart"]
_EXPECTED = {"kill": "exited", "stop": "exited", "pause": "paused", "restart": "running"}


def _name(url: str) -> str:
    name = target(url).container
    if name is None:
        raise NotImplementedError(f"container faults need a docker:// target, not {url}")
    return name


@dataclass
class ContainerFault(Fault):
    """Kill (SIGKILL), stop (SIGTERM then SIGKILL), pause (freeze) or restart a container."""

    action: Action = "kill"
    kind: ClassVar[str] = "container"

    def params(self) -> dict[str, Any]:
        return {**super().params(), "action": self.action, "container": _name(self.target)}

    def arm_deadman(self, record: FaultRecord) -> None:
        name = record.params["container"]
        back = f"docker unpause {name}" if self.action == "pause" else f"docker start {name}"
        arm_on_host(record, f"{back} >/dev/null 2>&1")

    def inject(self, record: FaultRecord) -> None:
        c = _container(record.params["container"])
        record.params["started_at"] = c.attrs["State"].get("StartedAt", "")
        try:
            if self.action == "kill":
                c.kill()
            elif self.action == "stop":
                c.stop(timeout=10)
            elif self.action == "pause":
                c.pause()
            else:
                c.restart(timeout=10)
        except APIError as e:
            raise InjectionFailed(f"docker {self.action} {c.name}: {e.explanation or e}") from e

    def prove(self, record: FaultRecord) -> str:
        want = _EXPECTED[self.action]
        name = record.params["container"]

        def seen() -> str | None:
            c = _container(name)
            if c.status != want:
                return None
            if self.action == "restart" and c.attrs["State"].get("StartedAt") == record.params.get("started_at"):
                return None
            return f"container {name} is {c.status}"

        return wait_for(seen, timeout=15, what=f"container {name} {want}")

    @classmethod
    def revert(cls, record: FaultRecord) -> None:
        name = record.params["container"]
        disarm_on_host(record.id)
        try:
            c = _container(name)
            if c.status == "paused":
                c.unpause()
            elif c.status != "running":
                c.start()
        except TargetError as e:
            if NO_SUCH_CONTAINER in str(e):
                return  # the platform itself is gone: nothing left to revert
            raise RevertFailed(str(e)) from e
        except APIError as e:
            raise RevertFailed(f"docker start/unpause {name}: {e.explanation or e}") from e
        deadline = time.monotonic() + 30
        while _container(name).status != "running":
            if time.monotonic() > deadline:
                raise RevertFailed(f"container {name} not running 30 s after revert")
            time.sleep(0.2)

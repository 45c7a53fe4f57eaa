"""Container faults: kill, stop, pause or restart a node that is a container (the lab, kind).

The deadman runs on the engine's host (a dead container cannot revert itself) and brings the
container back through the Docker SDK at the deadline (:mod:`hadrill.faults.hostdeadman`).
A fault must change something: a container already stopped (or paused) is refused, so the proof of
effect ("running -> exited") is never a state that was there before. The revert succeeds when the
container runs again, whoever started it (the deadman may have won the race: a 409 on unpause).

A kill goes to the container's first process and is proven from its death when this machine sees the
engine's processes (:mod:`hadrill.faults.container_kill`); the engine says "exited" only after tearing
the container down, so a revert that comes before that waits for it rather than take the killed
instance for a container back.
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
from hadrill.faults.container_kill import kill, kill_witness, stop, stopped
from hadrill.faults.deadman import OnHostDeadman, arm_on_host
from hadrill.faults.ledger import FaultRecord

__all__ = ["ContainerFault", "start_container"]

Action = Literal["kill", "stop", "pause", "restart"]
_EXPECTED = {"kill": "exited", "stop": "exited", "pause": "paused", "restart": "running"}


def _name(url: str) -> str:
    name = target(url).container
    if name is None:
        raise NotImplementedError(f"container faults need a docker:// target, not {url}")
    return name


@dataclass
class ContainerFault(OnHostDeadman, Fault):
    """Kill (SIGKILL), stop (SIGTERM then SIGKILL), pause (freeze) or restart a container."""

    action: Action = "kill"
    kind: ClassVar[str] = "container"

    def params(self) -> dict[str, Any]:
        return {**super().params(), "action": self.action, "container": _name(self.target)}

    @classmethod
    def arm_deadman(cls, record: FaultRecord) -> None:
        p = record.params
        if p["action"] == "pause":
            arm_on_host(record, [{"op": "unpause", "container": p["container"]}])
            return
        if "started_at" not in p:  # the instance about to be killed, named before the kill
            p["started_at"] = _container(p["container"]).attrs["State"].get("StartedAt", "")
        arm_on_host(record, [{"op": "start", "container": p["container"], "started_at": p["started_at"]}])

    def inject(self, record: FaultRecord) -> None:
        c = _container(record.params["container"])
        record.params["started_at"] = c.attrs["State"].get("StartedAt", "")
        record.params["status_before"] = c.status
        if self.action in ("kill", "stop"):
            record.params["witness"] = kill_witness(c)
        if c.status != "running":
            raise InjectionFailed(
                f"container {c.name} is {c.status} before the fault: a {self.action} would change nothing "
                "(is another fault holding it?)"
            )
        try:
            if self.action == "kill":
                kill(c, record.params["witness"])
            elif self.action == "stop":
                stop(c, record.params["witness"])
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
            if self.action in ("kill", "stop"):
                return stopped(name, record.params.get("witness") or {})
            c = _container(name)
            if c.status != want:
                return None
            if self.action == "restart" and c.attrs["State"].get("StartedAt") == record.params.get("started_at"):
                return None
            return f"container {name} {record.params.get('status_before', '?')} -> {c.status}"

        return wait_for(seen, timeout=15, what=f"container {name} {want}", interval=0.02)

    @classmethod
    def revert(cls, record: FaultRecord) -> None:
        name = record.params["container"]
        try:
            start_container(name, killed_instance=(record.params.get("witness") or {}).get("started_at"))
        except TargetError as e:
            if NO_SUCH_CONTAINER in str(e):
                return  # the platform itself is gone: nothing left to revert
            raise RevertFailed(str(e)) from e


def start_container(name: str, *, timeout: float = 30.0, killed_instance: str | None = None) -> None:
    """Bring a container back to running (unpause or start), verified; a race lost to the deadman
    (409: not paused, already started) is success when the container then runs.

    ``killed_instance``: the StartedAt of the instance a fault killed. The engine still shows it running while it
    tears it down; that is waited for (bounded by ``timeout``), not taken for the container back.

    Raises TargetError (engine unreachable, no such container) or RevertFailed (not running after
    ``timeout``): an engine that does not answer is never taken for a reverted fault.
    """
    c = _container(name)
    deadline = time.monotonic() + timeout
    while killed_instance and c.status == "running" and c.attrs["State"].get("StartedAt") == killed_instance:
        if time.monotonic() > deadline:
            break  # still that instance: the kill did nothing, and the container runs
        time.sleep(0.05)
        c = _container(name)
    try:
        if c.status == "paused":
            c.unpause()
        elif c.status != "running":
            c.start()
    except APIError as e:
        status = _container(name).status
        if status != "running":
            raise RevertFailed(f"docker start/unpause {name}: {e.explanation or e} (now {status})") from e
    deadline = time.monotonic() + timeout
    status = _container(name).status
    while status != "running":
        if time.monotonic() > deadline:
            raise RevertFailed(f"container {name} is {status}, not running, {timeout:g} s after revert")
        time.sleep(0.2)
        status = _container(name).status

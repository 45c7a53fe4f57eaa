"""Reading a Docker Swarm through a manager's engine: nodes, the Raft leader, services, tasks.

Every call is a ``docker`` command run on a node through its target (``docker://NODE``), bounded by a
timeout: a manager of a swarm without quorum does not fail fast, its control-plane calls hang (measured
in LAB-NOTES), so a call that does not answer within ``timeout`` is reported as such, never waited out.
Join tokens are never returned, logged or put in an error message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from hadrill.clients.targets import Result, target
from hadrill.errors import TargetError

__all__ = ["NO_LEADER", "SwarmCli", "SwarmNode", "SwarmService", "SwarmUnavailable"]

NO_LEADER = ("does not have a leader", "rpc error", "context deadline exceeded", "swarm does not have a leader")


class SwarmUnavailable(TargetError):
    """The control plane did not answer (no leader, lost quorum, timeout): what a refused change looks like."""


@dataclass(frozen=True)
class SwarmNode:
    """One line of ``docker node ls``."""

    hostname: str
    role: str  # manager | worker
    status: str  # Ready | Down | Unknown
    availability: str  # Active | Pause | Drain
    manager_status: str  # Leader | Reachable | Unreachable | "" (a worker)
    engine: str

    @property
    def leader(self) -> bool:
        return self.manager_status == "Leader"


@dataclass(frozen=True)
class SwarmService:
    """A service's wanted and running replica counts."""

    name: str
    mode: str
    running: int
    desired: int


class SwarmCli:
    """The ``docker`` CLI of one swarm node (a manager for control-plane calls)."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url, self.timeout = url, timeout

    def run(self, command: str, *, timeout: float | None = None) -> Result:
        return target(self.url).run(command, timeout=timeout or self.timeout)

    def check(self, command: str, *, timeout: float | None = None) -> str:
        """Run a control-plane command; a timeout or a no-leader answer raises SwarmUnavailable."""
        res = self.run(command, timeout=timeout)
        if res.ok:
            return res.stdout
        detail = (res.stderr or res.stdout).strip()[-300:]
        if res.rc == 124 or res.rc == 137 or any(s in detail for s in NO_LEADER):
            why = f"no answer within {timeout or self.timeout:g} s" if res.rc in (124, 137) else detail
            raise SwarmUnavailable(f"{self.url}: {command!r}: {why}")
        raise TargetError(f"{self.url}: {command!r} exited {res.rc}: {detail}")

    def local_state(self) -> str:
        """This engine's view of its swarm membership: inactive, pending, active, locked, error."""
        return self.check("docker info --format '{{.Swarm.LocalNodeState}}'").strip()

    def engine_version(self) -> str:
        return self.check("docker version --format '{{.Server.Version}}'").strip()

    def nodes(self) -> list[SwarmNode]:
        fmt = "{{json .}}"
        out = self.check(f"docker node ls --format '{fmt}'")
        nodes = []
        for line in out.splitlines():
            if not line.strip():
                continue
            d = json.loads(line)
            manager = d.get("ManagerStatus", "")
            nodes.append(
                SwarmNode(
                    hostname=d["Hostname"],
                    role="manager" if manager else "worker",
                    status=d.get("Status", ""),
                    availability=d.get("Availability", ""),
                    manager_status=manager,
                    engine=d.get("EngineVersion", ""),
                )
            )
        return nodes

    def leader(self) -> str:
        """The hostname of the Raft leader, as this manager sees it."""
        for n in self.nodes():
            if n.leader:
                return n.hostname
        raise SwarmUnavailable(f"{self.url}: no node is Leader in docker node ls")

    def services(self) -> dict[str, SwarmService]:
        out = self.check("docker service ls --format '{{json .}}'")
        found = {}
        for line in out.splitlines():
            if not line.strip():
                continue
            d = json.loads(line)
            running, _, desired = d.get("Replicas", "0/0").partition("/")
            desired = desired.split(" ")[0]  # "3/3 (max 1 per node)"
            found[d["Name"]] = SwarmService(d["Name"], d.get("Mode", ""), int(running or 0), int(desired or 0))
        return found

    def task_nodes(self, service: str) -> list[str]:
        """Nodes running a task of ``service`` now (its running tasks, not its history)."""
        out = self.check(
            f"docker service ps {service} --filter desired-state=running --format '{{{{.Node}}}} {{{{.CurrentState}}}}'"
        )
        return sorted({line.split()[0] for line in out.splitlines() if " Running " in f" {line} "})

    def inspect_node(self, hostname: str) -> dict[str, object]:
        data = json.loads(self.check(f"docker node inspect {hostname}"))
        return dict(data[0])

    def swarm_info(self) -> dict[str, object]:
        """``docker info``'s Swarm section (cluster spec, autolock, CA expiry) from this manager."""
        data = json.loads(self.check("docker info --format '{{json .Swarm}}'"))
        return dict(data)

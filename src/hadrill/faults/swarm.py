"""Swarm faults: kill (stop, pause) or drain a Swarm node chosen by asking the swarm what it holds.

``which`` picks the node: ``leader`` (the Raft leader, as a manager that answers reports it),
``manager`` (a manager that is not the leader), ``worker`` (a worker running a task of the cluster's
service; none running one is an error), ``store`` (the node running the task of the stateful service,
``settings.store``), ``random``, or a node/member name. A node reached as ``docker://`` is killed by
the container machinery's :class:`ContainerFault` (ledger, host deadman, proof of effect, verified
revert); a host (``ssh://``) loses its power (:class:`~hadrill.faults.power.PowerOff`: off over SSH
or its BMC, on by the lab's engine or its BMC).

:class:`DrainNode` is the maintenance rehearsal: ``docker node update --availability drain NODE`` on
a manager, proven when the node says Drain and runs no task; its revert sets it Active again through
the first manager that answers. Its deadman tries every manager: from this host when they are
containers, from a systemd timer on each when they are hosts, so a dead manager does not leave the
node drained past the time limit.
"""

from __future__ import annotations

import dataclasses
import random
import shlex
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hadrill.clients.swarm import SwarmCli, SwarmNode
from hadrill.clients.targets import target
from hadrill.errors import ConfigError, InjectionFailed, RevertFailed, TargetError
from hadrill.faults.base import DEFAULT_TIME_LIMIT, Fault, wait_for
from hadrill.faults.container import Action, ContainerFault
from hadrill.faults.deadman import OnHostDeadman, arm_on_host
from hadrill.faults.ledger import FaultRecord, Ledger
from hadrill.faults.picking import free_members, gate
from hadrill.faults.power import PowerOff, power_off
from hadrill.faults.systemd_timer import arm_timers, disarm_timers
from hadrill.inventory import Cluster, Inventory, Member

__all__ = ["PICKS", "DrainNode", "drain_swarm_node", "kill_swarm_node", "pick_swarm_nodes", "swarm_view"]

PICKS = ("leader", "manager", "worker", "store", "random")


def swarm_view(inv: Inventory, cluster: Cluster, *, exclude: tuple[str, ...] = ()) -> tuple[list[SwarmNode], list[str]]:
    """``docker node ls`` and the service's task nodes, from the first manager that answers (bounded)."""
    errors = []
    for name in cluster.settings.get("managers", []):
        if name in exclude:
            continue
        cli = SwarmCli(inv.member_node(cluster, str(name)).url, timeout=8.0)
        try:
            nodes = cli.nodes()
            service = str(cluster.settings.get("service", ""))
            tasks = cli.task_nodes(service) if service else []
            return nodes, tasks
        except TargetError as e:
            errors.append(str(e)[-120:])
    raise TargetError(f"swarm {cluster.name}: no manager answered: {' | '.join(errors) or 'no managers listed'}")


def _store_nodes(inv: Inventory, cluster: Cluster, exclude: tuple[str, ...]) -> list[str]:
    """The nodes running a task of the stateful service, from the first manager that answers."""
    store = cluster.settings.get("store") or {}
    if "service" not in store:
        raise ConfigError("inventory", f"clusters[{cluster.name}].settings.store.service", "the stateful service")
    errors = []
    for name in cluster.settings.get("managers", []):
        if name in exclude:
            continue
        try:
            return SwarmCli(inv.member_node(cluster, str(name)).url, timeout=8.0).task_nodes(str(store["service"]))
        except TargetError as e:
            errors.append(str(e)[-120:])
    raise TargetError(f"swarm {cluster.name}: no manager answered: {' | '.join(errors) or 'no managers listed'}")


def pick_swarm_nodes(
    inv: Inventory, cluster: Cluster, which: str, *, count: int = 1, ledger: Ledger | None = None
) -> list[Member]:
    """``count`` members chosen by ``which`` (see the module), skipping nodes an open fault holds.

    For ``leader`` with ``count`` > 1 the leader comes first, then other managers.
    """
    free = {m.name: m for m in free_members(cluster, ledger=ledger, what="swarm node")}
    if which not in PICKS:
        try:
            m = cluster.member(which)
        except ConfigError as e:
            raise ConfigError(e.file, e.field, f"{', '.join(PICKS)} or {e.expected}", which) from None
        return [m]
    held = tuple(m.name for m in cluster.members if m.name not in free)
    nodes, tasks = swarm_view(inv, cluster, exclude=held)
    managers = [n.hostname for n in nodes if n.role == "manager" and n.hostname in free]
    workers = [n.hostname for n in nodes if n.role == "worker" and n.hostname in free]
    leader = [n.hostname for n in nodes if n.leader and n.hostname in free]
    if which == "leader":
        if not leader:
            raise TargetError(
                f"swarm {cluster.name}: no free node is the Raft leader ({', '.join(held) or 'none held'})"
            )
        order = leader + [m for m in managers if m not in leader]
    elif which == "manager":
        order = [m for m in managers if m not in leader]
    elif which == "worker":
        # a worker running a task: killing one that runs none would measure a rescheduling that never
        # happens (Swarm does not move tasks back to a node that returns, so after earlier faults the
        # workers may run none: that is said, not measured as a pass)
        order = [w for w in workers if w in tasks]
        if not order and workers and tasks:
            raise TargetError(
                f"swarm {cluster.name}: no free worker runs a task of {cluster.settings.get('service')} "
                f"(they run on {', '.join(tasks)}): nothing to reschedule"
            )
    elif which == "store":
        order = [n for n in _store_nodes(inv, cluster, held) if n in free]
    else:
        order = random.sample(sorted(free), len(free))
    if len(order) < count:
        raise TargetError(f"swarm {cluster.name}: {count} free {which} node(s) wanted, found {order or 'none'}")
    return [free[n] for n in order[:count]]


def kill_swarm_node(
    inv: Inventory,
    cluster: Cluster,
    member: Member,
    *,
    action: Action = "kill",
    time_limit: float = DEFAULT_TIME_LIMIT,
    force: bool = False,
    chosen_by: str = "",
) -> ContainerFault | PowerOff:
    """Kill (or stop, pause) the container of one Swarm node; a node that is a host (``ssh://``) loses its
    power instead (:func:`~hadrill.faults.power.power_off`'s drivers; ``kill`` only)."""
    node = inv.member_node(cluster, member.name)
    url = node.url
    why = f" ({chosen_by})" if chosen_by and chosen_by != member.name else ""
    if target(url).container is None:
        if action != "kill":
            where = f"kill (a power cut) for swarm node {member.name} at {url.split('?', 1)[0]}"
            raise ConfigError("experiment", "action", where, action)
        cut: PowerOff = power_off(inv, node.name, time_limit=time_limit, force=force)
        cut.description = f"power off swarm node {member.name}{why} ({cut.off} off, {cut.on} on)"
        return dataclasses.replace(cut, **gate(inv, cluster, [member], force=force))
    return ContainerFault(
        target=url,
        action=action,
        time_limit=time_limit,
        **gate(inv, cluster, [member], force=force),
        description=f"{action} swarm node {member.name}{why}",
    )


def _availability(managers: list[str], node: str) -> tuple[str, str]:
    """(availability, manager that answered) of ``node``, asked of the managers in turn."""
    errors = []
    for url in managers:
        try:
            for n in SwarmCli(url, timeout=8.0).nodes():
                if n.hostname == node:
                    return n.availability, url
            raise TargetError(f"{url}: no node {node} in docker node ls")
        except TargetError as e:
            errors.append(str(e)[-120:])
    raise TargetError(f"no manager answered about {node}: {' | '.join(errors)}")


@dataclass
class DrainNode(OnHostDeadman, Fault):
    """Drain a Swarm node (its tasks move to the others); revert: set it Active again."""

    node: str = ""
    managers: list[str] = field(default_factory=list)  # target URLs of the managers, in the order to try
    service: str = ""  # the proof waits until none of its tasks runs on the node
    kind: ClassVar[str] = "swarm.drain"

    def params(self) -> dict[str, Any]:
        return {**super().params(), "node": self.node, "managers": list(self.managers), "service": self.service}

    @staticmethod
    def _on_hosts(p: dict[str, Any]) -> bool:
        """No manager is a container: the deadman is a timer on each manager host, not on this one."""
        return all(target(url).container is None for url in p["managers"])

    @classmethod
    def arm_deadman(cls, record: FaultRecord) -> None:
        p = record.params
        if cls._on_hosts(p):
            active = f"docker node update --availability active {shlex.quote(p['node'])}"
            p["deadman"] = arm_timers(p["managers"], record, active, f"drain of {p['node']}")
            return
        cmd = ["docker", "node", "update", "--availability", "active", record.params["node"]]
        actions = [
            {"op": "exec", "container": target(url).container, "cmd": cmd}
            for url in record.params["managers"]
            if target(url).container is not None
        ]
        if not actions:
            raise InjectionFailed(f"drain of {record.params['node']}: no manager is a container the deadman can reach")
        arm_on_host(record, actions)

    @classmethod
    def disarm(cls, record: FaultRecord) -> None:
        if cls._on_hosts(record.params):
            disarm_timers(record.params["managers"], record.id)
        else:
            super().disarm(record)

    @classmethod
    def fired(cls, record: FaultRecord) -> bool:
        if cls._on_hosts(record.params):
            return time.time() > record.deadline  # a timer leaves no marker: it fires at the deadline
        return super().fired(record)

    def inject(self, record: FaultRecord) -> None:
        try:
            before, url = _availability(self.managers, self.node)
        except TargetError as e:
            raise InjectionFailed(f"drain {self.node}: {e}") from e
        if before != "Active":
            raise InjectionFailed(f"swarm node {self.node} is {before} before the drain: it would change nothing")
        try:
            SwarmCli(url, timeout=20.0).check(f"docker node update --availability drain {shlex.quote(self.node)}")
        except TargetError as e:
            raise InjectionFailed(f"drain {self.node}: {e}") from e

    def prove(self, record: FaultRecord) -> str:
        service = str(record.params.get("service") or "")

        def drained() -> str | None:
            availability, url = _availability(self.managers, self.node)
            if availability != "Drain":
                return None
            tasks = SwarmCli(url, timeout=8.0).task_nodes(service) if service else []
            if self.node in tasks:
                return None
            return f"swarm node {self.node} Active -> Drain, no running task on it"

        return wait_for(drained, timeout=60, what=f"{self.node} drained")

    @classmethod
    def revert(cls, record: FaultRecord) -> None:
        node, managers = record.params["node"], record.params["managers"]
        errors = []
        for url in managers:
            try:
                SwarmCli(url, timeout=20.0).check(f"docker node update --availability active {shlex.quote(node)}")
                break
            except TargetError as e:
                errors.append(str(e)[-120:])
        else:
            raise RevertFailed(f"set {node} Active again: no manager accepted it: {' | '.join(errors)}")
        try:
            now, _ = _availability(managers, node)
        except TargetError as e:
            raise RevertFailed(f"{node}: cannot verify the revert: {e}") from e
        if now != "Active":
            raise RevertFailed(f"swarm node {node} is {now}, not Active, after the revert")


def drain_swarm_node(
    inv: Inventory, cluster: Cluster, member: Member, *, time_limit: float = DEFAULT_TIME_LIMIT, force: bool = False,
    chosen_by: str = "",
) -> DrainNode:  # fmt: skip
    """Drain one Swarm node through its managers (listed in ``settings.managers``)."""
    managers = [inv.member_node(cluster, str(n)).url for n in cluster.settings.get("managers", [])]
    if not managers:
        raise ConfigError("inventory", f"clusters[{cluster.name}].settings.managers", "the managers' node names")
    node = inv.member_node(cluster, member.name).name
    why = f" ({chosen_by})" if chosen_by and chosen_by != member.name else ""
    return DrainNode(
        target=managers[0],
        node=node,
        managers=managers,
        service=str(cluster.settings.get("service", "")),
        time_limit=time_limit,
        **gate(inv, cluster, [member], force=force),
        description=f"drain swarm node {member.name}{why}",
    )

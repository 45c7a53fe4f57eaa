"""Swarm faults: kill (stop, pause) a Swarm node chosen by asking the swarm what it holds.

``which`` picks the node: ``leader`` (the Raft leader, as a manager that answers reports it),
``manager`` (a manager that is not the leader), ``worker`` (a worker running a task of the cluster's
service, else any worker), ``random``, or a node/member name. The fault is the container machinery's
:class:`ContainerFault` (ledger, host deadman, proof of effect, verified revert): the lab's Swarm
nodes are containers; a node of a real swarm needs a power driver, which says so.
"""

from __future__ import annotations

import random

from hadrill.clients.swarm import SwarmCli, SwarmNode
from hadrill.clients.targets import target
from hadrill.errors import ConfigError, TargetError
from hadrill.faults.base import DEFAULT_TIME_LIMIT
from hadrill.faults.container import Action, ContainerFault
from hadrill.faults.ledger import Ledger
from hadrill.faults.picking import free_members, gate
from hadrill.inventory import Cluster, Inventory, Member

__all__ = ["PICKS", "kill_swarm_node", "pick_swarm_nodes", "swarm_view"]

PICKS = ("leader", "manager", "worker", "random")


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
        order = sorted(workers, key=lambda w: w not in tasks)  # a worker running a task first
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
) -> ContainerFault:
    """Kill (or stop, pause) the container of one Swarm node."""
    url = inv.member_node(cluster, member.name).url
    if target(url).container is None:
        raise NotImplementedError(f"{action} of swarm node {member.name}: {url} is no container (needs a power driver)")
    why = f" ({chosen_by})" if chosen_by and chosen_by != member.name else ""
    return ContainerFault(
        target=url,
        action=action,
        time_limit=time_limit,
        **gate(inv, cluster, [member], force=force),
        description=f"{action} swarm node {member.name}{why}",
    )

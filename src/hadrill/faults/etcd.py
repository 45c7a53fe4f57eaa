"""etcd faults: the generic faults aimed at etcd members by role (leader, follower) or name."""

from __future__ import annotations

import random

from hadrill.clients.etcd import etcd_leader
from hadrill.clients.targets import target
from hadrill.errors import ConfigError, TargetError
from hadrill.faults.base import DEFAULT_TIME_LIMIT, Fault
from hadrill.faults.container import Action, ContainerFault
from hadrill.faults.network import Partition
from hadrill.faults.service import ServiceAction, ServiceFault
from hadrill.faults.systemd_timer import has_systemd
from hadrill.inventory import Cluster, Inventory, Member

__all__ = ["kill_member", "partition_member", "pick_member"]

# What "kill the member's node" means on a host reached without the engine: the etcd unit, held down
# until the revert (a runtime mask), so the member stays lost as a dead node's would.
_HOST_ACTIONS: dict[str, ServiceAction] = {"kill": "kill-masked", "stop": "mask", "pause": "freeze"}


def pick_member(inv: Inventory, cluster: Cluster, member: str) -> Member:
    """``leader``, ``follower``, ``random`` or a member/node name."""
    if member in ("leader", "follower"):
        leader = etcd_leader(inv, cluster)
        if leader is None:
            raise TargetError(f"etcd cluster {cluster.name}: no member reports a leader")
        if member == "leader":
            return leader
        return next(m for m in cluster.members if m.name != leader.name)
    if member == "random":
        return random.choice(cluster.members)
    try:
        return cluster.member(member)
    except ConfigError as e:
        raise ConfigError(e.file, e.field, f"leader, follower, random or {e.expected}", member) from None


def _gate(inv: Inventory, cluster: Cluster) -> str:
    return f"{inv.platform}/{cluster.name}"


def partition_member(
    inv: Inventory,
    cluster: Cluster,
    member: Member,
    *,
    time_limit: float = DEFAULT_TIME_LIMIT,
    force: bool = False,
) -> Partition:
    """Cut ``member`` from every other member, both directions (clients still reach it)."""
    peers = tuple(inv.member_node(cluster, m.name).address() for m in cluster.members if m.name != member.name)
    peer_port = int(member.endpoints.get("peer", "http://x:2380").rsplit(":", 1)[1].split("/")[0])
    return Partition(
        target=inv.member_node(cluster, member.name).url,
        peers=peers,
        check_port=peer_port,
        time_limit=time_limit,
        cluster=_gate(inv, cluster),
        members=(member.name,),
        failure_budget=cluster.failure_budget,
        force=force,
        description=f"partition etcd member {member.name} from its {len(peers)} peers",
    )


def kill_member(
    inv: Inventory,
    cluster: Cluster,
    member: Member,
    *,
    action: Action = "kill",
    time_limit: float = DEFAULT_TIME_LIMIT,
    force: bool = False,
) -> Fault:
    """Kill (or stop/pause) the node an etcd member runs on, chosen by asking the node: a container is
    killed through the engine; a systemd host (``ssh://``) has its etcd unit (``settings.unit`` of the
    cluster, default ``etcd.service``) SIGKILLed and masked, stopped and masked, or frozen."""
    url = inv.member_node(cluster, member.name).url
    t = target(url)
    if t.container is not None:
        return ContainerFault(
            target=url,
            action=action,
            time_limit=time_limit,
            cluster=_gate(inv, cluster),
            members=(member.name,),
            failure_budget=cluster.failure_budget,
            force=force,
            description=f"{action} etcd member {member.name}",
        )
    if action not in _HOST_ACTIONS:
        raise NotImplementedError(f"{action} of etcd member {member.name} on {url}: hosts need a power driver for it")
    if not has_systemd(t):
        raise NotImplementedError(f"{action} of etcd member {member.name}: {url} is no container and runs no systemd")
    unit = str(cluster.settings.get("unit", "etcd.service"))
    host_action = _HOST_ACTIONS[action]
    return ServiceFault(
        target=url,
        unit=unit,
        action=host_action,
        time_limit=time_limit,
        cluster=_gate(inv, cluster),
        members=(member.name,),
        failure_budget=cluster.failure_budget,
        force=force,
        description=f"{action} etcd member {member.name} ({host_action} {unit})",
    )

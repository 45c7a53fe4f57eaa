"""etcd faults: the generic faults aimed at etcd members by role (leader, follower) or name."""

from __future__ import annotations

import random

from hadrill.clients.etcd import etcd_leader
from hadrill.clients.targets import target
from hadrill.errors import ConfigError, TargetError
from hadrill.faults.base import DEFAULT_TIME_LIMIT, Fault
from hadrill.faults.container import Action, ContainerFault
from hadrill.faults.ledger import Ledger
from hadrill.faults.network import Partition
from hadrill.faults.picking import free_members, gate
from hadrill.faults.service import ServiceAction, ServiceFault
from hadrill.faults.systemd_timer import has_systemd
from hadrill.inventory import Cluster, Inventory, Member

__all__ = ["kill_member", "partition_member", "pick_member"]

# What "kill the member's node" means on a host reached without the engine: the etcd unit, held down
# until the revert (a runtime mask), so the member stays lost as a dead node's would.
_HOST_ACTIONS: dict[str, ServiceAction] = {"kill": "kill-masked", "stop": "mask", "pause": "freeze"}


def pick_member(inv: Inventory, cluster: Cluster, member: str, *, ledger: Ledger | None = None) -> Member:
    """``leader``, ``follower``, ``random`` or a member/node name; roles skip members that open faults
    in ``ledger`` already hold (TargetError when none is free)."""
    if member in ("leader", "follower"):
        leader = etcd_leader(inv, cluster)
        if leader is None:
            raise TargetError(f"etcd cluster {cluster.name}: no member reports a leader")
        if member == "leader":
            return free_members(cluster, [leader], ledger=ledger, what="leader")[0]
        followers = [m for m in cluster.members if m.name != leader.name]
        return free_members(cluster, followers, ledger=ledger, what="follower")[0]
    if member == "random":
        return random.choice(free_members(cluster, ledger=ledger))
    try:
        return cluster.member(member)
    except ConfigError as e:
        raise ConfigError(e.file, e.field, f"leader, follower, random or {e.expected}", member) from None


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
        **gate(inv, cluster, [member], force=force),
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
            **gate(inv, cluster, [member], force=force),
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
        **gate(inv, cluster, [member], force=force),
        description=f"{action} etcd member {member.name} ({host_action} {unit})",
    )

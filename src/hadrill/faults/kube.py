"""Kubernetes faults: kill a control-plane node (a "master") chosen by what it holds.

``which`` picks the node: ``etcd-leader`` (the master whose stacked etcd member leads, read from the
inventory's ``k8s-etcd`` cluster), ``controller-manager`` or ``scheduler`` (the holder of that lease),
``random``, or a node/member name. The fault is a :class:`ContainerFault` on the node (the lab and kind
run masters as containers); its revert starts the container again and waits, bounded, until the
node's etcd member answers with a leader and its API server's ``/readyz`` is ``ok``.
"""

from __future__ import annotations

import random
import time
from typing import Any, ClassVar

from hadrill.clients.etcd import etcd_leader
from hadrill.clients.kube import LEASES, api_reference, kube_api, lease_holder, node_problem
from hadrill.errors import ConfigError, TargetError
from hadrill.faults.base import DEFAULT_TIME_LIMIT, wait_back
from hadrill.faults.container import Action, ContainerFault
from hadrill.faults.ledger import FaultRecord, Ledger
from hadrill.faults.picking import free_members, gate
from hadrill.inventory import Cluster, Inventory, Member

__all__ = [
    "ControlPlaneFault",
    "etcd_cluster_of",
    "kill_control_plane_node",
    "pick_control_plane",
]

REVERT_TIMEOUT = 120.0  # seconds the revert waits for the node's etcd member and API server


def etcd_cluster_of(inv: Inventory, cluster: Cluster) -> Cluster | None:
    """The inventory's etcd cluster of this Kubernetes cluster (``settings.etcd_cluster``, else ``k8s-etcd``)."""
    name = str(cluster.settings.get("etcd_cluster", "k8s-etcd"))
    return next((c for c in inv.clusters if c.name == name), None)


def pick_control_plane(inv: Inventory, cluster: Cluster, which: str, *, ledger: Ledger | None = None) -> Member:
    """``etcd-leader``, ``controller-manager``, ``scheduler``, ``random`` or a member/node name; a
    holder already held by an open fault is refused (TargetError), ``random`` picks a free node."""
    if which == "etcd-leader":
        etcd = etcd_cluster_of(inv, cluster)
        if etcd is None:
            raise ConfigError(
                "inventory", "clusters", f"the etcd cluster of {cluster.name} (k8s-etcd) for which: etcd-leader"
            )
        leader = etcd_leader(inv, etcd)
        if leader is None:
            raise TargetError(f"etcd cluster {etcd.name}: no member reports a leader")
        return free_members(cluster, [cluster.member(leader.node)], ledger=ledger, what="etcd leader")[0]
    if which in LEASES:
        holder = lease_holder(kube_api(cluster), LEASES[which])
        if not holder:
            raise TargetError(f"cluster {cluster.name}: nobody holds the {LEASES[which]} lease")
        return free_members(cluster, [cluster.member(holder)], ledger=ledger, what=f"{which} holder")[0]
    if which == "random":
        return random.choice(free_members(cluster, ledger=ledger, what="control-plane node"))
    try:
        return cluster.member(which)
    except ConfigError as e:
        raise ConfigError(
            e.file, e.field, f"etcd-leader, controller-manager, scheduler, random or {e.expected}", which
        ) from None


class ControlPlaneFault(ContainerFault):
    """A container fault on a master whose revert waits until its etcd member and API server are back."""

    kind: ClassVar[str] = "kube.control_plane"
    checks: dict[str, Any] | None = None  # set by kill_control_plane_node: endpoints and TLS paths

    def params(self) -> dict[str, Any]:
        return {**super().params(), **(self.checks or {})}

    @classmethod
    def revert(cls, record: FaultRecord) -> None:
        p = record.params
        p["restarted_at"] = time.time()
        ContainerFault.revert(record)
        p["rejoined_at"] = wait_back(
            lambda: node_problem(p),
            timeout=float(p.get("revert_timeout", REVERT_TIMEOUT)),
            what=f"{record.description}: node not back",
        )


def kill_control_plane_node(
    inv: Inventory,
    cluster: str = "kubernetes",
    which: str = "etcd-leader",
    *,
    action: Action = "kill",
    time_limit: float = DEFAULT_TIME_LIMIT,
    force: bool = False,
    revert_timeout: float = REVERT_TIMEOUT,
    ledger: Ledger | None = None,
) -> ControlPlaneFault:
    """Kill (or stop, pause, restart) the container of one control-plane node (see :func:`pick_control_plane`)."""
    c = inv.cluster(cluster)
    member = pick_control_plane(inv, c, which, ledger=ledger)
    node = inv.member_node(c, member.name)
    etcd = etcd_cluster_of(inv, c)
    checks: dict[str, Any] = {"revert_timeout": revert_timeout, "chosen_by": which}
    reference = api_reference(c)  # as kube_api reaches it: kubeconfig, else TLS files, else in-cluster
    if member.endpoints.get("api") and reference:
        checks.update(api=member.endpoints["api"], **reference)
    if member.endpoints.get("etcd") and etcd is not None and etcd.tls is not None:
        checks.update(etcd=member.endpoints["etcd"], etcd_tls=etcd.tls.model_dump())
    fault = ControlPlaneFault(
        target=node.url,
        action=action,
        time_limit=time_limit,
        **gate(inv, c, [member], force=force),
        description=f"{action} control-plane node {member.name} ({which})",
    )
    fault.checks = checks
    return fault

"""Kubernetes faults: kill a control-plane node (a "master") chosen by what it holds.

``which`` picks the node: ``etcd-leader`` (the master whose stacked etcd member leads, read from the
inventory's ``k8s-etcd`` cluster), ``controller-manager`` or ``scheduler`` (the holder of that lease),
``random``, or a node/member name. On a master reached as ``docker://`` (the lab, kind) the fault is a
:class:`ContainerFault` on its container; on any other host (``ssh://``, a BMC) a kill is a power cut
(:class:`ControlPlanePowerOff`, through :func:`~hadrill.faults.power.power_off`'s drivers). Either
revert starts the node again and waits, bounded, until its etcd member answers with a leader and its
API server's ``/readyz`` is ``ok``.
"""

from __future__ import annotations

import dataclasses
import random
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from hadrill.clients.etcd import etcd_leader
from hadrill.clients.kube import LEASES, api_reference, kube_api, lease_holder, node_problem
from hadrill.errors import ConfigError, TargetError
from hadrill.faults.base import DEFAULT_TIME_LIMIT, wait_back
from hadrill.faults.container import Action, ContainerFault
from hadrill.faults.ledger import FaultRecord, Ledger
from hadrill.faults.picking import free_members, gate
from hadrill.faults.power import PowerOff, power_off
from hadrill.inventory import Cluster, Inventory, Member

__all__ = [
    "CONTROL_PLANE_KINDS",
    "ControlPlaneFault",
    "ControlPlanePowerOff",
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


def _wait_node_back(record: FaultRecord) -> None:
    p = record.params
    p["rejoined_at"] = wait_back(
        lambda: node_problem(p),
        timeout=float(p.get("revert_timeout", REVERT_TIMEOUT)),
        what=f"{record.description}: node not back",
    )


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
        _wait_node_back(record)


@dataclass
class ControlPlanePowerOff(PowerOff):
    """A master's power cut (a host with no container to kill) whose revert powers it on and then waits,
    as :class:`ControlPlaneFault`'s does, until its etcd member and API server are back."""

    checks: dict[str, Any] | None = None  # set by kill_control_plane_node: endpoints and TLS paths
    kind: ClassVar[str] = "kube.control_plane_power_off"

    def params(self) -> dict[str, Any]:
        return {**super().params(), **(self.checks or {})}

    @classmethod
    def revert(cls, record: FaultRecord) -> None:
        record.params["restarted_at"] = time.time()
        PowerOff.revert(record)
        _wait_node_back(record)


CONTROL_PLANE_KINDS = (ControlPlaneFault.kind, ControlPlanePowerOff.kind)  # what the probes of a master kill read


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
) -> ControlPlaneFault | ControlPlanePowerOff:
    """Kill (or stop, pause, restart) the container of one control-plane node (see :func:`pick_control_plane`);
    on a host that is no container, power it off (``kill`` only)."""
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
    if not node.url.startswith("docker://"):
        if action != "kill":
            raise ConfigError(
                "experiment", "action", f"kill (a power cut) for master {node.name} at {node.url.split('?', 1)[0]}: "
                f"{action} acts on a container", action,
            )  # fmt: skip
        cut = power_off(inv, node.name, time_limit=time_limit, force=force, cls=ControlPlanePowerOff)
        # its members are the Kubernetes cluster's
        return dataclasses.replace(cut, checks=checks, **gate(inv, c, [member], force=force))
    fault = ControlPlaneFault(
        target=node.url,
        action=action,
        time_limit=time_limit,
        **gate(inv, c, [member], force=force),
        description=f"{action} control-plane node {member.name} ({which})",
    )
    fault.checks = checks
    return fault

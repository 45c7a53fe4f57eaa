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

from hadrill.clients.etcd import EtcdClient, etcd_leader
from hadrill.clients.kube import KubeApi, KubeApiError, kube_api, lease_holder, node_problem
from hadrill.errors import ConfigError, ProbeFailed, RevertFailed, TargetError
from hadrill.faults.base import DEFAULT_TIME_LIMIT
from hadrill.faults.container import Action, ContainerFault
from hadrill.faults.ledger import FaultRecord
from hadrill.inventory import Cluster, Inventory, Member
from hadrill.slo import Verdict

__all__ = [
    "ControlPlaneFault",
    "DeploymentAvailableProbe",
    "etcd_cluster_of",
    "etcd_kept_quorum",
    "kill_control_plane_node",
    "leases_moved",
    "node_rejoined",
    "pdb_allows",
    "pick_control_plane",
]

LEASES = {"controller-manager": "kube-controller-manager", "scheduler": "kube-scheduler"}
REVERT_TIMEOUT = 120.0  # seconds the revert waits for the node's etcd member and API server


def etcd_cluster_of(inv: Inventory, cluster: Cluster) -> Cluster | None:
    """The inventory's etcd cluster of this Kubernetes cluster (``settings.etcd_cluster``, else ``k8s-etcd``)."""
    name = str(cluster.settings.get("etcd_cluster", "k8s-etcd"))
    return next((c for c in inv.clusters if c.name == name), None)


def pick_control_plane(inv: Inventory, cluster: Cluster, which: str) -> Member:
    """``etcd-leader``, ``controller-manager``, ``scheduler``, ``random`` or a member/node name."""
    if which == "etcd-leader":
        etcd = etcd_cluster_of(inv, cluster)
        if etcd is None:
            raise ConfigError(
                "inventory", "clusters", f"the etcd cluster of {cluster.name} (k8s-etcd) for which: etcd-leader"
            )
        leader = etcd_leader(inv, etcd)
        if leader is None:
            raise TargetError(f"etcd cluster {etcd.name}: no member reports a leader")
        return cluster.member(leader.node)
    if which in LEASES:
        holder = lease_holder(kube_api(cluster), LEASES[which])
        if not holder:
            raise TargetError(f"cluster {cluster.name}: nobody holds the {LEASES[which]} lease")
        return cluster.member(holder)
    if which == "random":
        return random.choice(cluster.members)
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
        deadline = time.monotonic() + float(p.get("revert_timeout", REVERT_TIMEOUT))
        last = "not checked"
        while time.monotonic() < deadline:
            last = node_problem(p) or ""
            if not last:
                p["rejoined_at"] = time.time()
                return
            time.sleep(0.2)
        raise RevertFailed(
            f"{record.description}: node not back after {p.get('revert_timeout', REVERT_TIMEOUT)} s: {last}"
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
) -> ControlPlaneFault:
    """Kill (or stop, pause, restart) the container of one control-plane node (see :func:`pick_control_plane`)."""
    c = inv.cluster(cluster)
    member = pick_control_plane(inv, c, which)
    node = inv.member_node(c, member.name)
    etcd = etcd_cluster_of(inv, c)
    checks: dict[str, Any] = {"revert_timeout": revert_timeout, "chosen_by": which}
    if member.endpoints.get("api") and c.tls is not None:
        checks.update(api=member.endpoints["api"], api_tls=c.tls.model_dump())
    if member.endpoints.get("etcd") and etcd is not None and etcd.tls is not None:
        checks.update(etcd=member.endpoints["etcd"], etcd_tls=etcd.tls.model_dump())
    fault = ControlPlaneFault(
        target=node.url,
        action=action,
        time_limit=time_limit,
        cluster=f"{inv.platform}/{c.name}",
        members=(member.name,),
        failure_budget=c.failure_budget,
        force=force,
        description=f"{action} control-plane node {member.name} ({which})",
    )
    fault.checks = checks
    return fault


# -- checks (verdicts for experiments) -------------------------------------------------------------
def leases_moved(cluster: Cluster, former: str, since: float, objective_s: float, *, limit: float = 60.0) -> Verdict:
    """Time from ``since`` until the controller-manager and scheduler leases are held by other masters.

    A lease the former node did not hold counts as moved when it is held by a surviving master.
    """
    api = kube_api(cluster, timeout=1.0)
    survivors = {m.name for m in cluster.members if m.name != former} | {
        m.node for m in cluster.members if m.name != former
    }
    deadline = time.monotonic() + max(limit, objective_s)
    holders: dict[str, str] = {}
    last_error = ""
    while time.monotonic() < deadline:
        try:
            holders = {lease: lease_holder(api, lease) for lease in LEASES.values()}
        except KubeApiError as e:
            last_error = f" (last error: {str(e)[-80:]})"
            time.sleep(0.2)
            continue
        if all(h in survivors for h in holders.values()):
            took = time.time() - since
            ok = took <= objective_s
            where = ", ".join(f"{lease} -> {h}" for lease, h in holders.items())
            return Verdict(
                "leases_moved_s", objective_s, took, "s", ok,
                f"leases held by surviving masters ({where}) {took:.2f} s after the fault "
                f"{'<=' if ok else '>'} objective {objective_s:.2f} s",
            )  # fmt: skip
        time.sleep(0.2)
    return Verdict(
        "leases_moved_s", objective_s, None, "s", False,
        f"leases not all held by surviving masters within {max(limit, objective_s):.0f} s: {holders}{last_error}",
    )  # fmt: skip


def etcd_kept_quorum(etcd: Cluster, former: str) -> Verdict:
    """The etcd members other than ``former`` answer and agree on one leader among themselves."""
    survivors = [m for m in etcd.members if m.name != former and m.node != former]
    leaders: dict[str, str] = {}
    names: dict[str, str] = {}
    for m in survivors:
        client = EtcdClient(m.endpoints["client"], timeout=2.0, tls=etcd.tls)
        try:
            leaders[m.name] = client.status().leader
            names = names or {x.id: x.name for x in client.members()}
        except TargetError as e:
            leaders[m.name] = f"unreachable ({str(e)[-60:]})"
    agreed = set(leaders.values())
    quorum = len(etcd.members) // 2 + 1
    leader = names.get(next(iter(agreed)), "") if len(agreed) == 1 else ""
    ok = len(survivors) >= quorum and leader != "" and leader in {m.name for m in survivors}
    detail = (
        f"{len(survivors)} of {len(etcd.members)} etcd members (quorum {quorum}) agree on leader {leader}"
        if ok
        else f"etcd lost quorum or has no leader among the survivors: {leaders}"
    )
    return Verdict("etcd_kept_quorum", 1, 1 if ok else 0, "bool", ok, detail)


def node_rejoined(record: FaultRecord, objective_s: float, *, limit: float = 120.0) -> Verdict:
    """After the revert, the node's etcd member and API server are back: time from its restart."""
    p = record.params
    node = (p.get("members") or ["?"])[0]
    restarted = p.get("restarted_at")
    if restarted is None:
        return Verdict("node_rejoined_s", objective_s, None, "s", False, f"{node} was not restarted (fault not healed)")
    rejoined = p.get("rejoined_at")
    deadline = time.monotonic() + limit
    while rejoined is None and time.monotonic() < deadline:
        if node_problem(p) is None:
            rejoined = time.time()
            break
        time.sleep(0.2)
    if rejoined is None:
        return Verdict(
            "node_rejoined_s", objective_s, None, "s", False, f"{node}: {node_problem(p)} after {limit:.0f} s"
        )
    took = float(rejoined) - float(restarted)
    ok = took <= objective_s
    return Verdict(
        "node_rejoined_s", objective_s, took, "s", ok,
        f"{node}: etcd member healthy and API server ready {took:.2f} s after its restart "
        f"{'<=' if ok else '>'} objective {objective_s:.2f} s",
    )  # fmt: skip


# -- workloads: what a PodDisruptionBudget allows ---------------------------------------------------
class DeploymentAvailableProbe:
    """A sample is ok while Deployment ``name`` has at least ``min_available`` available replicas."""

    def __init__(self, api: KubeApi, namespace: str, name: str, min_available: int = 1) -> None:
        self.api = api
        self.path = f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
        self.min_available = min_available
        self.name = f"deployment-{name}-available"

    def sample(self) -> dict[str, Any]:
        try:
            status = self.api.get(self.path).get("status") or {}
        except KubeApiError as e:
            raise ProbeFailed(str(e)) from e
        available = int(status.get("availableReplicas") or 0)
        if available < self.min_available:
            raise ProbeFailed(f"{available} available replicas < {self.min_available}")
        return {"available": available, "replicas": int(status.get("replicas") or 0)}


def pdb_allows(api: KubeApi, namespace: str, name: str, disruptions: int) -> Verdict:
    """The PodDisruptionBudget's status: ``disruptions`` evictions allowed now, and healthy >= desired."""
    try:
        st = api.get(f"/apis/policy/v1/namespaces/{namespace}/poddisruptionbudgets/{name}").get("status") or {}
    except KubeApiError as e:
        return Verdict("pdb_disruptions_allowed", disruptions, None, "pods", False, f"PDB {namespace}/{name}: {e}")
    allowed = int(st.get("disruptionsAllowed") or 0)
    healthy, desired = int(st.get("currentHealthy") or 0), int(st.get("desiredHealthy") or 0)
    ok = allowed == disruptions and healthy >= desired
    return Verdict(
        "pdb_disruptions_allowed", disruptions, allowed, "pods", ok,
        f"PDB {namespace}/{name}: {allowed} disruption(s) allowed (expected {disruptions}), "
        f"{healthy} healthy pod(s), {desired} desired",
    )  # fmt: skip

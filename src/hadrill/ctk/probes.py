"""Chaos Toolkit probes: steady state, one-shot etcd and NFS checks, and the objectives verdict."""

from __future__ import annotations

from typing import Any

from hadrill.clients.etcd import EtcdClient
from hadrill.clients.nfs import vip_holder
from hadrill.ctk import current_run
from hadrill.errors import ConfigError, TargetError
from hadrill.faults import vip
from hadrill.faults.ledger import FaultRecord
from hadrill.inventory import Member
from hadrill.probes import gluster
from hadrill.probes.remote import RemoteProbe
from hadrill.recovery import etcd as etcd_recovery
from hadrill.recovery import nfs as nfs_recovery
from hadrill.run import Run

__all__ = [
    "acked_files_on_every_brick",
    "cluster_healthy",
    "etcd_kept_quorum",
    "failed_server_rejoined_as_backup",
    "gluster_healthy",
    "heal_completed",
    "kube_api_ready",
    "leases_moved",
    "member_caught_up",
    "member_refuses_writes",
    "new_leader_elected",
    "node_rejoined",
    "objectives_met",
    "pdb_allows",
    "restore_verified",
    "vip_held",
    "vip_moved",
    "writes_fail_without_quorum",
]


def _faulted(run: Run, member: str, cluster: str) -> Member:
    """``faulted`` = the member of the run's latest fault; else a member name."""
    c = run.inventory.cluster(cluster)
    if member == "faulted":
        if not run.faults:
            raise ConfigError("experiment", "member", "a fault injected before this check (member: faulted)")
        return c.member(run.faults[-1][1].params["members"][0])
    return c.member(member)


def cluster_healthy(cluster: str = "etcd", configuration: dict[str, Any] | None = None) -> bool:
    """Every member answers and all agree on one leader."""
    run = current_run(configuration)
    c = run.inventory.cluster(cluster)
    leaders = set()
    for m in c.members:
        try:
            leaders.add(EtcdClient(m.endpoints["client"], timeout=2.0, tls=c.tls).status().leader)
        except TargetError:
            return False
    return len(leaders) == 1 and "0" not in leaders


def member_refuses_writes(
    cluster: str = "etcd", member: str = "faulted", configuration: dict[str, Any] | None = None
) -> bool:
    """The isolated member (``faulted``: the run's latest fault, else a member name) refuses writes."""
    run = current_run(configuration)
    c = run.inventory.cluster(cluster)
    return run.check(etcd_recovery.member_refuses_writes(c, _faulted(run, member, cluster))).ok


def new_leader_elected(
    cluster: str = "etcd", objective_s: float = 5.0, configuration: dict[str, Any] | None = None
) -> bool:
    """The survivors elect a leader other than the faulted member within the objective."""
    run = current_run(configuration)
    c = run.inventory.cluster(cluster)
    former = _faulted(run, "faulted", cluster)
    since = run.windows[-1]["start"]
    return run.check(etcd_recovery.new_leader_elected(run.inventory, c, former, since, objective_s)).ok


def member_caught_up(
    cluster: str = "etcd",
    member: str = "faulted",
    objective_s: float = 30.0,
    configuration: dict[str, Any] | None = None,
) -> bool:
    """After healing, the member reaches the leader's raft index within the objective."""
    run = current_run(configuration)
    c = run.inventory.cluster(cluster)
    return run.check(etcd_recovery.member_caught_up(c, _faulted(run, member, cluster), objective_s)).ok


def _vip_fault(run: Run) -> FaultRecord:
    """The run's latest VIP fault."""
    for _, record in reversed(run.faults):
        if record.kind == vip.FailVip.kind:
            return record
    raise ConfigError("experiment", "method", "a fail_vip action before this check")


def vip_held(cluster: str = "nfs", configuration: dict[str, Any] | None = None) -> bool:
    """Exactly one server holds the VIP (steady state)."""
    run = current_run(configuration)
    return vip_holder(run.inventory, run.inventory.cluster(cluster)) is not None


def vip_moved(cluster: str = "nfs", objective_s: float = 6.0, configuration: dict[str, Any] | None = None) -> bool:
    """The VIP is on the other server, and moved there within the objective after the fault."""
    run = current_run(configuration)
    record = _vip_fault(run)
    p = record.params
    verdict = nfs_recovery.vip_moved(
        run.inventory, run.inventory.cluster(cluster), p["members"][0], float(p.get("injected_at", record.created)),
        objective_s, moved_at=lambda: p.get("vip_moved_at"),
    )  # fmt: skip
    return run.check(verdict).ok


def failed_server_rejoined_as_backup(
    cluster: str = "nfs", objective_s: float = 30.0, configuration: dict[str, Any] | None = None
) -> bool:
    """After healing, the failed server runs again as BACKUP and the VIP stays where it moved."""
    run = current_run(configuration)
    record = _vip_fault(run)
    c = run.inventory.cluster(cluster)
    return run.check(nfs_recovery.rejoined_as_backup(run.inventory, c, record.params["members"][0], objective_s)).ok


def objectives_met(objectives: dict[str, Any] | None = None, configuration: dict[str, Any] | None = None) -> bool:
    """Every objective asked for was measured and met, every check holds and no method activity failed.

    Before the method (the 'before' hypothesis) nothing can be measured yet: True. After it, no
    verdict at all, a "not measured" one or a failed activity is False (the journal says deviated).
    """
    run = current_run(configuration)
    if not run.method_started:
        return True
    verdicts = run.evaluate(objectives or {})
    return bool(verdicts) and all(v.ok for v in verdicts) and not run.failed_activities


def gluster_healthy(cluster: str = "gluster", configuration: dict[str, Any] | None = None) -> bool:
    """Every brick of the volume is online and the client has it mounted."""
    return gluster.volume_problem(current_run(configuration).inventory, cluster) is None


def heal_completed(
    cluster: str = "gluster", objective_s: float = 60.0, configuration: dict[str, Any] | None = None
) -> bool:
    """No entry is pending heal within ``objective_s`` of the revert (the brick's return)."""
    run = current_run(configuration)
    return run.check(gluster.wait_heal(run.inventory, cluster, objective_s, since=run.healed_at)).ok


def acked_files_on_every_brick(cluster: str = "gluster", configuration: dict[str, Any] | None = None) -> bool:
    """Every file the write probe had acknowledged is on every brick, with its sha256."""
    run = current_run(configuration)
    name = f"{run.inventory.cluster(cluster).name}-write"
    if name not in run.samplers:
        raise ConfigError("experiment", "method", f"the {name} probe started before this check (start_gluster_probes)")
    recorder = run.samplers[name]
    history = recorder.refresh() if isinstance(recorder, RemoteProbe) and recorder.running else recorder.history
    return run.check(gluster.acked_files_check(run.inventory, cluster, gluster.acked_files(history))).ok


def writes_fail_without_quorum(
    cluster: str = "gluster", bound_s: float | None = None, configuration: dict[str, Any] | None = None
) -> bool:
    """While quorum is lost, a write through the mount fails (ENOTCONN) within ``bound_s`` and lands nowhere."""
    run = current_run(configuration)
    return run.check(gluster.writes_fail_without_quorum(run.inventory, cluster, bound_s=bound_s)).ok


def _kube_fault(run: Run) -> FaultRecord:
    """The run's latest control-plane fault."""
    from hadrill.faults.kube import CONTROL_PLANE_KINDS

    for _, record in reversed(run.faults):
        if record.kind in CONTROL_PLANE_KINDS:
            return record
    raise ConfigError("experiment", "method", "a kill_control_plane_node action before this check")


def kube_api_ready(cluster: str = "kubernetes", configuration: dict[str, Any] | None = None) -> bool:
    """The API answers /readyz "ok" at the cluster's address (through the load balancer)."""
    from hadrill.clients.kube import kube_api

    run = current_run(configuration)
    try:
        return kube_api(run.inventory.cluster(cluster), timeout=2.0).readyz() == "ok"
    except TargetError:
        return False


def leases_moved(
    cluster: str = "kubernetes", objective_s: float = 30.0, configuration: dict[str, Any] | None = None
) -> bool:
    """The controller-manager and scheduler leases are held by surviving masters within the objective."""
    from hadrill.recovery import kube

    run = current_run(configuration)
    record = _kube_fault(run)
    since = float(next(w["start"] for w in run.windows if w["fault"] == record.id))
    c = run.inventory.cluster(cluster)
    return run.check(kube.leases_moved(c, record.params["members"][0], since, objective_s)).ok


def etcd_kept_quorum(cluster: str = "k8s-etcd", configuration: dict[str, Any] | None = None) -> bool:
    """While a master is down, the other etcd members answer and agree on a leader among themselves."""
    from hadrill.recovery import kube

    run = current_run(configuration)
    record = _kube_fault(run)
    return run.check(kube.etcd_kept_quorum(run.inventory.cluster(cluster), record.params["members"][0])).ok


def node_rejoined(
    cluster: str = "kubernetes", objective_s: float = 60.0, configuration: dict[str, Any] | None = None
) -> bool:
    """After the revert, the killed master's etcd member is healthy and its API server ready (time from restart)."""
    from hadrill.recovery import kube

    run = current_run(configuration)
    run.inventory.cluster(cluster)  # a wrong name reads as an inventory error
    return run.check(kube.node_rejoined(_kube_fault(run), objective_s)).ok


def restore_verified(configuration: dict[str, Any] | None = None) -> bool:
    """The restore drill ran and every one of its checks holds (RTO, exact RPO accounting, objects, PKI modes)."""
    run = current_run(configuration)
    return bool(run.checks) and all(v.ok for v in run.checks)


def pdb_allows(
    namespace: str,
    name: str,
    disruptions: int = 1,
    cluster: str = "kubernetes",
    configuration: dict[str, Any] | None = None,
) -> bool:
    """The PodDisruptionBudget allows exactly ``disruptions`` evictions now, and its healthy pods meet it."""
    from hadrill.clients.kube import kube_api
    from hadrill.recovery import kube

    run = current_run(configuration)
    api = kube_api(run.inventory.cluster(cluster), timeout=5.0)
    return run.check(kube.pdb_allows(api, namespace, name, disruptions)).ok

"""Verdicts after a control-plane node was killed (:mod:`hadrill.faults.kube`): the leases moved to surviving
masters, etcd kept its quorum, the node rejoined; and what a PodDisruptionBudget allows during a drain."""

from __future__ import annotations

import time
from typing import Any

from hadrill.clients.etcd import EtcdClient
from hadrill.clients.kube import LEASES, KubeApi, KubeApiError, kube_api, lease_holder, node_problem
from hadrill.errors import TargetError
from hadrill.faults.ledger import FaultRecord
from hadrill.inventory import Cluster
from hadrill.slo import Verdict

__all__ = ["etcd_kept_quorum", "leases_moved", "node_rejoined", "pdb_allows"]


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
            if e.status in (401, 403):  # credentials or RBAC: waiting out the limit would only bury the reason
                return Verdict("leases_moved_s", objective_s, None, "s", False, f"not measured: {e}")
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


def _unchecked(p: dict[str, Any]) -> list[str]:
    """What :func:`~hadrill.clients.kube.node_problem` cannot check on this node: no endpoint or TLS for it."""
    out = []
    if not (p.get("etcd") and p.get("etcd_tls")):
        out.append("its etcd member (the inventory has no etcd endpoint and TLS files for it)")
    if not (p.get("api") and (p.get("api_tls") or p.get("api_kubeconfig") or p.get("api_in_cluster"))):
        out.append("its API server (the inventory has no API endpoint, kubeconfig or TLS files for it)")
    return out


def node_rejoined(record: FaultRecord, objective_s: float, *, limit: float = 120.0) -> Verdict:
    """After the revert, the node's etcd member and API server are back: time from its restart."""
    p = record.params
    node = (p.get("members") or ["?"])[0]
    restarted = p.get("restarted_at")
    if restarted is None:
        return Verdict("node_rejoined_s", objective_s, None, "s", False, f"{node} was not restarted (fault not healed)")
    unchecked = _unchecked(p)
    if unchecked:  # a verdict never claims what it did not check
        return Verdict("node_rejoined_s", objective_s, None, "s", False, f"{node}: not checked: {'; '.join(unchecked)}")
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

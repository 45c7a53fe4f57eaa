"""Run the compliance suites against an inventory: pick the nodes, run the checks, apply waivers and baseline.

``hadrill check`` and the pytest suites in ``compliance/`` both end here, so they give the same
findings: a suite's nodes are those with one of its policy roles (or named in it); the network suite
looks at every node attached to a storage network. Nodes are checked a few at a time (each check is a
handful of commands on the node, so the time is spent waiting on the nodes, not here).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

from hadrill.compliance.baseline import apply_baseline
from hadrill.compliance.docker import check_docker
from hadrill.compliance.etcd_backup import check_etcd_backup
from hadrill.compliance.network import check_node_networks, storage_networks
from hadrill.compliance.nfs_mounts import check_nfs_mounts
from hadrill.compliance.pki import check_pki
from hadrill.compliance.policy import CLUSTER_SUITES, SUITES, CompliancePolicy, select_nodes
from hadrill.compliance.registry import CHECKS, Finding
from hadrill.compliance.scst import check_scst
from hadrill.compliance.swarm import check_swarm
from hadrill.compliance.waivers import Waiver, apply_waivers
from hadrill.errors import ConfigError
from hadrill.inventory import Inventory, Node

__all__ = [
    "assert_no_failures",
    "describe",
    "exit_code",
    "gate",
    "parse_suites",
    "run_checks",
    "run_cluster_suites",
    "run_suite_on_node",
    "suite_nodes",
]

_NODE_CHECKS: dict[str, Callable[..., list[Finding]]] = {
    "docker": check_docker,
    "scst": check_scst,
    "nfs_mounts": check_nfs_mounts,
    "pki": check_pki,
    "etcd_backup": check_etcd_backup,
    "swarm": check_swarm,
}
WORKERS = 6


def parse_suites(text: str | Iterable[str]) -> list[str]:
    """``docker,network`` → ["docker", "network"]; an unknown suite is a ConfigError."""
    items = text.split(",") if isinstance(text, str) else list(text)
    names = [s.strip().replace("-", "_") for s in items if s.strip()]
    for s in names:
        if s not in SUITES and s not in CLUSTER_SUITES:
            raise ConfigError("--suite", s, f"one of {', '.join(SUITES + CLUSTER_SUITES)}")
    return names or list(SUITES)


def suite_nodes(inventory: Inventory, policy: CompliancePolicy, suite: str, source: str = "policy") -> list[Node]:
    """The inventory nodes a suite applies to."""
    if suite in CLUSTER_SUITES:
        return []  # checked through the cluster's API: run_cluster_suites
    if suite == "network":
        nets = {n.name for n in storage_networks(inventory, policy.network)}
        return [n for n in inventory.nodes if nets.intersection(n.addresses)]
    return select_nodes(inventory, getattr(policy, suite), suite, source)


def run_suite_on_node(
    suite: str, node_like: Any, node: Node, inventory: Inventory, policy: CompliancePolicy
) -> list[Finding]:
    """One suite against one node (``node_like``: a hadrill Target, a testinfra host or the node's URL)."""
    if suite == "network":
        return check_node_networks(node_like, node, inventory, policy.network)
    return _NODE_CHECKS[suite](node_like, getattr(policy, suite), name=node.name)


def run_checks(
    inventory: Inventory,
    policy: CompliancePolicy | None = None,
    suites: Sequence[str] = SUITES,
    *,
    source: str = "policy",
    workers: int = WORKERS,
) -> list[Finding]:
    """Every selected suite against its nodes; findings in suite, node, check order."""
    policy = policy or CompliancePolicy()
    jobs = [(s, n) for s in suites for n in suite_nodes(inventory, policy, s, source)]
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(jobs) or 1)), thread_name_prefix="check") as pool:
        results = list(pool.map(lambda job: run_suite_on_node(job[0], job[1].url, job[1], inventory, policy), jobs))
    return [f for batch in results for f in batch] + run_cluster_suites(inventory, policy, suites)


def run_cluster_suites(inventory: Inventory, policy: CompliancePolicy, suites: Sequence[str]) -> list[Finding]:
    """The Kubernetes-API suites (pss, workloads, the etcd backup CronJob) against the inventory's cluster."""
    from hadrill.clients.kube import kube_api
    from hadrill.compliance.etcd_backup import check_etcd_backup_cronjob
    from hadrill.compliance.kube_workloads import kube_cluster, run_cluster_suite

    out: list[Finding] = []
    for s in suites:
        if s in CLUSTER_SUITES:
            out += run_cluster_suite(s, inventory, policy)
        elif s == "etcd_backup" and policy.etcd_backup.cronjob:
            cluster = kube_cluster(inventory, policy.etcd_backup.cluster)
            if cluster is not None:
                out += check_etcd_backup_cronjob(kube_api(cluster, timeout=10.0), policy.etcd_backup, name=cluster.name)
    return out


def gate(
    findings: list[Finding], waivers: list[Waiver] | None = None, baseline: set[str] | None = None,
    today: date | None = None,
) -> list[Finding]:  # fmt: skip
    """Waivers first (a waived failure is not a failure), then the baseline (known failures do not gate)."""
    out = apply_waivers(findings, waivers or [], today)
    return apply_baseline(out, baseline) if baseline is not None else out


EMPTY_SCOPE = 4  # exit code: no failing finding, but a suite asked for matched no node


def empty_scopes(
    inventory: Inventory, policy: CompliancePolicy, suites: Sequence[str], named: Iterable[str] = (),
    source: str = "policy",
) -> list[str]:  # fmt: skip
    """Suites asked for (``named`` with --suite, or given roles or nodes in the policy) that matched no node.

    Each is a sentence naming the roles that matched nothing: a typo in a role must not turn a suite green.
    """
    asked = set(named)
    out = []
    for s in suites:
        if s in CLUSTER_SUITES:
            continue
        section = getattr(policy, s, None)
        declared = section is not None and bool({"roles", "nodes"} & section.model_fields_set)
        if s not in asked and not declared:
            continue
        if suite_nodes(inventory, policy, s, source):
            continue
        if s == "network":
            out.append("suite network: no node is on a storage network")
            continue
        roles = ", ".join(getattr(section, "roles", []) or []) or "none"
        nodes = ", ".join(getattr(section, "nodes", []) or [])
        out.append(f"suite {s}: roles [{roles}]{f' and nodes [{nodes}]' if nodes else ''} matched no node")
    return out


def exit_code(findings: Iterable[Finding], empty: Sequence[str] = ()) -> int:
    """0: nothing failing; 1: a failing finding (or an object in a file that cannot be judged: a
    manifest's pod that cannot be read); 4 (``EMPTY_SCOPE``): no failure, but a suite asked for matched
    no node; 3: no failure, but a check could not run (infrastructure)."""
    items = [f for f in findings if f.failing]
    if any(f.status == "fail" or (f.status == "error" and f.file) for f in items):
        return 1
    if empty:
        return EMPTY_SCOPE
    return 3 if items else 0


def describe(f: Finding) -> str:
    chk = CHECKS.get(f.check_id)
    where = f.target + (f" {f.object}" if f.object else "")
    if f.status == "error":
        return f"{f.check_id} [{where}] could not be checked: {f.message}"
    text = f"{f.check_id} [{where}] {chk.title if chk else ''}: observed {f.observed!r}, expected {f.expected!r}"
    text += f"\n    {f.message}"
    if chk:
        text += f"\n    remediation: {chk.remediation}"
    return text


def assert_no_failures(findings: Iterable[Finding]) -> None:
    """The pytest side of a check: fail with every failing finding's id, observed value and remediation."""
    __tracebackhide__ = True
    failing = [f for f in findings if f.failing]
    if failing:
        raise AssertionError(f"{len(failing)} failing compliance finding(s):\n" + "\n".join(map(describe, failing)))

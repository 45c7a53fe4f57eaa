"""One-shot Swarm checks around a fault, each measured and returned as a verdict.

The questions a Swarm operator asks of an incident: how long until the managers elected a new Raft
leader? when did the control plane accept a change again? while quorum was lost, did it refuse changes
(and not silently accept them)? after a node died, how long until the service had its replicas back on
the others? did the node rejoin after its restart? Every call to the control plane is bounded (it hangs
without quorum); polling is bounded in time and attempts.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from hadrill.clients.swarm import NO_LEADER, SwarmCli
from hadrill.errors import ProbeFailed, TargetError
from hadrill.inventory import Cluster, Inventory
from hadrill.probes.swarm import SwarmControlProbe, manager_urls
from hadrill.slo import Verdict

__all__ = [
    "control_plane_back",
    "control_plane_refuses_changes",
    "new_leader_elected",
    "nodes_rejoined",
    "replicas_restored",
]


def _timed(
    name: str, objective_s: float, since: float, what: str, done: Callable[[], str | None], limit: float
) -> Verdict:
    """Poll ``done`` (a detail when true, None while not) until ``limit``; the time counts from ``since``."""
    deadline = time.monotonic() + max(limit, objective_s)
    for _ in range(int(max(limit, objective_s) / 0.05) + 2):
        detail = done()
        if detail is not None:
            took = time.time() - since
            ok = took <= objective_s
            return Verdict(
                name, objective_s, took, "s", ok,
                f"{detail} {took:.2f} s after {what} {'<=' if ok else '>'} objective {objective_s:.2f} s",
            )  # fmt: skip
        if time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    return Verdict(name, objective_s, None, "s", False, f"not measured: not true within {limit:.0f} s of the check")


def new_leader_elected(
    inv: Inventory, cluster: Cluster, former: str, since: float, objective_s: float, *, limit: float = 90.0
) -> Verdict:
    """Time from ``since`` until a surviving manager reports a Raft leader other than ``former``."""
    urls = manager_urls(inv, cluster, exclude=(former,))

    def elected() -> str | None:
        for url in urls:
            try:
                leader = SwarmCli(url, timeout=2.0).leader()
            except TargetError:
                continue
            if leader != former:
                return f"new leader {leader}"
        return None

    return _timed("new_leader_s", objective_s, since, "the fault", elected, limit)


def control_plane_back(
    inv: Inventory,
    cluster: Cluster,
    since: float,
    objective_s: float,
    *,
    after: str = "the fault",
    limit: float = 120.0,
) -> Verdict:
    """Time from ``since`` until a manager commits a change (a no-op label update of the service)."""
    probe = SwarmControlProbe(
        manager_urls(inv, cluster), op="update", service=str(cluster.settings.get("service", "web")), timeout=3.0
    )

    def accepted() -> str | None:
        try:
            detail = probe.sample() or {}
        except ProbeFailed:
            return None
        return f"a service update was accepted through {str(detail.get('manager', '?')).removeprefix('docker://')}"

    return _timed("control_plane_back_s", objective_s, since, after, accepted, limit)


def control_plane_refuses_changes(
    inv: Inventory, cluster: Cluster, survivors: list[str], *, bound_s: float = 10.0
) -> Verdict:
    """Without quorum, a change sent to each surviving manager must not be committed: it hangs past
    ``bound_s`` or fails saying there is no leader. Accepted by any survivor is a split brain (the
    check fails and names it); any other error is not a refusal we can vouch for (not measured)."""
    service = str(cluster.settings.get("service", "web"))
    refused = []
    for name in survivors:
        url = inv.member_node(cluster, name).url
        started = time.monotonic()
        res = SwarmCli(url, timeout=bound_s).run(
            f"docker service update --detach --quiet --label-add hadrill.quorum-check={time.time():.0f} {service}"
        )
        took = time.monotonic() - started
        if res.ok:
            return Verdict(
                "control_plane_refuses_changes", 1, 0, "bool", False,
                f"{name} ACCEPTED a service update without quorum ({took:.2f} s)",
            )  # fmt: skip
        text = (res.stderr or res.stdout).strip()
        said = (text.splitlines() or ["?"])[-1][-120:]  # for the report; the markers are looked for in all of it
        if res.rc in (124, 137):
            refused.append(f"{name} (no answer within {bound_s:g} s)")
        elif any(marker in text for marker in NO_LEADER):
            refused.append(f"{name} ({said}, {took:.1f} s)")
        else:
            return Verdict(
                "control_plane_refuses_changes", 1, None, "bool", False,
                f"not measured: {name} failed the update for another reason: {said}",
            )  # fmt: skip
    if not refused:
        return Verdict("control_plane_refuses_changes", 1, None, "bool", False, "not measured: no surviving manager")
    return Verdict(
        "control_plane_refuses_changes", 1, 1, "bool", True, f"changes refused without quorum: {'; '.join(refused)}"
    )


def replicas_restored(
    inv: Inventory,
    cluster: Cluster,
    lost: list[str],
    since: float,
    objective_s: float,
    *,
    limit: float = 120.0,
    service: str = "",
) -> Verdict:
    """Time from ``since`` until ``service`` (default: the cluster's) runs its desired replicas on nodes
    other than ``lost``."""
    service = service or str(cluster.settings.get("service", "web"))
    urls = manager_urls(inv, cluster, exclude=tuple(lost))

    def restored() -> str | None:
        for url in urls:
            cli = SwarmCli(url, timeout=3.0)
            try:
                svc = cli.services().get(service)
                nodes = cli.task_nodes(service)
            except TargetError:
                continue
            if svc is None:
                return None
            if len(nodes) >= svc.desired and not set(nodes) & set(lost):
                return f"{service} {len(nodes)}/{svc.desired} running on {', '.join(nodes)}"
            return None
        return None

    return _timed("replicas_restored_s", objective_s, since, "the fault", restored, limit)


def nodes_rejoined(
    inv: Inventory, cluster: Cluster, nodes: list[str], since: float, objective_s: float, *, limit: float = 120.0
) -> Verdict:
    """Time from ``since`` (the restart) until ``nodes`` are Ready and Active again, managers Reachable or Leader."""
    urls = manager_urls(inv, cluster)

    def rejoined() -> str | None:
        for url in urls:
            try:
                seen = {n.hostname: n for n in SwarmCli(url, timeout=3.0).nodes()}
            except TargetError:
                continue
            back = [
                n for n in nodes
                if n in seen and seen[n].status == "Ready" and seen[n].availability == "Active"
                and seen[n].manager_status in ("", "Leader", "Reachable")
            ]  # fmt: skip
            if len(back) < len(nodes):
                return None
            # the managers' view can be stale (a node is marked Down only after missed heartbeats):
            # each node's own engine must say it is back in the swarm too
            if not all(_locally_active(inv.member_node(cluster, n).url) for n in nodes):
                return None
            return f"{', '.join(nodes)} Ready in the swarm and active on their own engines"
        return None

    return _timed("node_rejoined_s", objective_s, since, "the restart", rejoined, limit)


def _locally_active(url: str) -> bool:
    try:
        return SwarmCli(url, timeout=3.0).local_state() == "active"
    except TargetError:
        return False

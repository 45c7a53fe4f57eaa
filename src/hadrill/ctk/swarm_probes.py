"""Chaos Toolkit probes for Docker Swarm: steady state and the one-shot checks of
:mod:`hadrill.recovery.swarm`, measured from the run's fault windows and kept as the run's verdicts."""

from __future__ import annotations

import time
from typing import Any

from hadrill.ctk import current_run
from hadrill.errors import ConfigError, TargetError
from hadrill.faults.container import ContainerFault
from hadrill.faults.ledger import FaultRecord
from hadrill.faults.power import PowerOff
from hadrill.faults.swarm import DrainNode, swarm_view
from hadrill.inventory import Cluster
from hadrill.probes.swarm import manager_urls
from hadrill.recovery import swarm as recovery
from hadrill.run import Run

__all__ = [
    "swarm_control_plane_back",
    "swarm_healthy",
    "swarm_new_leader_elected",
    "swarm_nodes_rejoined",
    "swarm_refuses_changes",
    "swarm_replicas_restored",
]


def _swarm_faults(run: Run, cluster: str) -> list[tuple[FaultRecord, float]]:
    """The run's container, power and drain faults on this swarm's nodes, with their windows' start."""
    names = {m.node for m in run.inventory.cluster(cluster).members}
    starts = {w["fault"]: float(w["start"]) for w in run.windows}
    found = [
        (r, starts[r.id]) for _, r in run.faults
        if r.kind in (ContainerFault.kind, PowerOff.kind, DrainNode.kind) and set(r.params.get("nodes", ())) & names
    ]  # fmt: skip
    if not found:
        raise ConfigError(
            "experiment", "method", f"a kill_swarm_node or lose_swarm_quorum on {cluster} before this check"
        )
    return found


def _faulted_nodes(run: Run, cluster: str) -> list[str]:
    return [n for r, _ in _swarm_faults(run, cluster) for n in r.params["nodes"]]


def _swarm_problems(run: Run, c: Cluster) -> list[str]:
    """What keeps the swarm from its steady state, as seen by the first manager that answers."""
    try:
        nodes, tasks = swarm_view(run.inventory, c)
    except TargetError as e:
        return [str(e)]
    members = {m.node for m in c.members}
    seen = {n.hostname: n for n in nodes}
    ready = {n.hostname for n in nodes if n.status == "Ready" and n.availability == "Active"}
    leaders = [n.hostname for n in nodes if n.leader]
    replicas = int(c.settings.get("replicas", 1))
    states = [
        f"{h} {seen[h].status}/{seen[h].availability}" if h in seen else f"{h} absent" for h in sorted(members - ready)
    ]  # fmt: skip
    problems = [f"not Ready and Active: {', '.join(states)}"] if states else []
    problems += [f"leaders: {leaders or 'none'}"] if len(leaders) != 1 else []
    problems += [f"{len(tasks)}/{replicas} tasks running ({', '.join(tasks)})"] if len(tasks) < replicas else []
    return problems


def swarm_healthy(cluster: str = "swarm", settle_s: float = 0.0, configuration: dict[str, Any] | None = None) -> bool:
    """Every node Ready, one Raft leader, the service at its replica count (asked of a manager).

    ``settle_s`` bounds how long the swarm may take to get there: a new Raft leader marks every node
    Unknown until its next heartbeat (swarmkit's dispatcher), so the view right after a leadership
    change is not yet the steady state. The wait is recorded as an event."""
    run = current_run(configuration)
    c = run.inventory.cluster(cluster)
    started = time.monotonic()
    deadline = started + max(0.0, settle_s)
    while True:
        problems = _swarm_problems(run, c)
        if not problems or time.monotonic() >= deadline:
            break
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
    waited = time.monotonic() - started
    if problems:
        run.event("steady-state", f"swarm {cluster} not healthy after {waited:.1f} s: {'; '.join(problems)}")
    elif waited >= 0.5:
        run.event("steady-state", f"swarm {cluster} healthy after {waited:.1f} s (settle bound {settle_s:.0f} s)")
    return not problems


def swarm_new_leader_elected(
    cluster: str = "swarm", objective_s: float = 30.0, configuration: dict[str, Any] | None = None
) -> bool:
    """A surviving manager reports a new Raft leader within the objective (from the kill)."""
    run = current_run(configuration)
    record, start = _swarm_faults(run, cluster)[-1]
    c = run.inventory.cluster(cluster)
    return run.check(recovery.new_leader_elected(run.inventory, c, record.params["nodes"][0], start, objective_s)).ok


def swarm_control_plane_back(
    cluster: str = "swarm", objective_s: float = 30.0, after: str = "fault", configuration: dict[str, Any] | None = None
) -> bool:
    """A manager commits a change (a no-op service update) within the objective, counted from the
    first fault (``after: fault``) or from the revert (``after: revert``)."""
    run = current_run(configuration)
    c = run.inventory.cluster(cluster)
    if after == "fault":
        since, what = min(s for _, s in _swarm_faults(run, cluster)), "the fault"
    elif after == "revert":
        if run.revert_started is None:
            raise ConfigError("experiment", "after", "a heal before this check (after: revert)")
        since, what = run.revert_started, "the restart"
    else:
        raise ConfigError("experiment", "after", "fault or revert", after)
    return run.check(recovery.control_plane_back(run.inventory, c, since, objective_s, after=what)).ok


def swarm_refuses_changes(
    cluster: str = "swarm", bound_s: float = 10.0, configuration: dict[str, Any] | None = None
) -> bool:
    """While quorum is lost, every surviving manager refuses a change (fails, or no answer within ``bound_s``)."""
    run = current_run(configuration)
    c = run.inventory.cluster(cluster)
    down = set(_faulted_nodes(run, cluster))
    survivors = [str(n) for n in c.settings.get("managers", []) if n not in down]
    manager_urls(run.inventory, c)  # a swarm without managers listed reads as an inventory error
    return run.check(recovery.control_plane_refuses_changes(run.inventory, c, survivors, bound_s=bound_s)).ok


def swarm_replicas_restored(
    cluster: str = "swarm", objective_s: float = 60.0, service: str = "", configuration: dict[str, Any] | None = None
) -> bool:
    """The service (``service``: ``store`` for the stateful one, default the cluster's HTTP service) is
    back at its replica count within the objective (from the first fault): on the other nodes while the
    faulted ones are down, on any node once they were restarted (the heal)."""
    run = current_run(configuration)
    c = run.inventory.cluster(cluster)
    faults = _swarm_faults(run, cluster)
    since = min(s for _, s in faults)
    lost = _faulted_nodes(run, cluster) if run.revert_started is None else []
    if service == "store":
        service = str((c.settings.get("store") or {}).get("service", "")) or service
    return run.check(recovery.replicas_restored(run.inventory, c, lost, since, objective_s, service=service)).ok


def swarm_nodes_rejoined(
    cluster: str = "swarm", objective_s: float = 60.0, nodes: str = "faulted",
    configuration: dict[str, Any] | None = None,
) -> bool:  # fmt: skip
    """After the heal, the faulted nodes (``nodes: all``: every node) are Ready again (managers Reachable
    or Leader) and Active (after a drain), within the objective."""
    run = current_run(configuration)
    if run.revert_started is None:
        raise ConfigError("experiment", "method", "a heal before swarm_nodes_rejoined")
    c = run.inventory.cluster(cluster)
    if nodes not in ("faulted", "all"):
        raise ConfigError("experiment", "nodes", "faulted or all", nodes)
    # "all": after a quorum loss the workers re-register with the new leader too
    names = _faulted_nodes(run, cluster) if nodes == "faulted" else [m.node for m in c.members]
    return run.check(recovery.nodes_rejoined(run.inventory, c, names, run.revert_started, objective_s)).ok

"""Chaos Toolkit actions for Docker Swarm: start its probes, kill a node chosen by asking the swarm,
lose the managers' quorum. Plain functions: the signature is the schema discovery reads."""

from __future__ import annotations

from typing import Any

from hadrill.clients.swarm import SwarmCli
from hadrill.ctk import current_run, steady_state
from hadrill.errors import TargetError
from hadrill.faults.container import Action
from hadrill.faults.swarm import drain_swarm_node as _drain_swarm_node
from hadrill.faults.swarm import kill_swarm_node as _kill_swarm_node
from hadrill.faults.swarm import pick_swarm_nodes
from hadrill.inventory import Cluster, Member
from hadrill.probes.gluster import gluster_read_back_for
from hadrill.probes.swarm import SwarmHttpProbe, SwarmStoreProbe, http_endpoints, manager_urls, store_endpoints
from hadrill.run import Run

__all__ = [
    "drain_swarm_node",
    "kill_swarm_node",
    "lose_swarm_quorum",
    "rebalance_swarm_service",
    "start_swarm_probes",
    "start_swarm_store_probe",
]


def _pick_node(run: Run, c: Cluster, node: str) -> Member:
    """One node chosen as ``node`` says (asking the swarm), the choice written to the run's timeline."""
    member = pick_swarm_nodes(run.inventory, c, node, ledger=run.ledger)[0]
    run.event("pick", f"{node}: {member.name}")
    return member


def start_swarm_probes(
    cluster: str = "swarm", timeout: float = 1.0, configuration: dict[str, Any] | None = None
) -> list[str]:
    """Start the HTTP probe through the published ports (failing over between nodes within ``timeout``)."""
    run = current_run(configuration)
    c = run.inventory.cluster(cluster)
    run.start_probe(SwarmHttpProbe(http_endpoints(c), timeout=timeout, name=f"{c.name}-http"), timeout=timeout)
    return steady_state(run)


def start_swarm_store_probe(
    cluster: str = "swarm", timeout: float = 1.0, configuration: dict[str, Any] | None = None
) -> list[str]:
    """Start the acknowledged-writes probe through the stateful service (``settings.store``): one PUT of a
    new key per interval; after the heal every acknowledged key is read back from the Gluster volume the
    service keeps its files on (the measured RPO, ``acked_writes_lost``)."""
    run = current_run(configuration)
    c = run.inventory.cluster(cluster)
    store = c.settings.get("store", {})
    probe = SwarmStoreProbe(
        store_endpoints(c), folder=str(store.get("dir", "")), timeout=timeout, name=f"{c.name}-store"
    )
    volume = str(store.get("volume", "gluster"))
    run.start_probe(probe, timeout=timeout, read_back=gluster_read_back_for(run.inventory, volume))
    return steady_state(run)


def kill_swarm_node(
    cluster: str = "swarm",
    node: str = "leader",
    action: Action = "kill",
    time_limit: float = 120.0,
    force: bool = False,
    configuration: dict[str, Any] | None = None,
) -> str:
    """Kill (stop, pause) one node: ``leader`` (asked of the swarm), ``manager``, ``worker`` (one
    running a task), ``store`` (the one running the stateful service), ``random`` or a name. Returns the
    node's name."""
    run = current_run(configuration)
    c = run.inventory.cluster(cluster)
    member = _pick_node(run, c, node)
    run.inject(
        _kill_swarm_node(run.inventory, c, member, action=action, time_limit=time_limit, force=force, chosen_by=node)
    )
    return member.name


def lose_swarm_quorum(
    cluster: str = "swarm",
    action: Action = "kill",
    time_limit: float = 120.0,
    configuration: dict[str, Any] | None = None,
) -> list[str]:
    """Kill a majority of the managers (the leader first), forced past the failure budget; returns them."""
    run = current_run(configuration)
    c = run.inventory.cluster(cluster)
    managers = len(c.settings.get("managers", []))
    victims = pick_swarm_nodes(run.inventory, c, "leader", count=managers // 2 + 1, ledger=run.ledger)
    for member in victims:
        fault = _kill_swarm_node(
            run.inventory, c, member, action=action, time_limit=time_limit, force=True, chosen_by="quorum"
        )
        run.inject(fault)
    return [m.name for m in victims]


def drain_swarm_node(
    cluster: str = "swarm",
    node: str = "worker",
    time_limit: float = 180.0,
    force: bool = False,
    configuration: dict[str, Any] | None = None,
) -> str:
    """Drain one node (``worker``: one running a task, ``manager``, ``leader``, ``random`` or a name):
    the maintenance rehearsal. The heal sets it Active again. Returns the node's name."""
    run = current_run(configuration)
    c = run.inventory.cluster(cluster)
    member = _pick_node(run, c, node)
    run.inject(_drain_swarm_node(run.inventory, c, member, time_limit=time_limit, force=force, chosen_by=node))
    return member.name


def rebalance_swarm_service(
    cluster: str = "swarm", timeout: float = 90.0, configuration: dict[str, Any] | None = None
) -> list[str]:
    """Reschedule the service's tasks (``docker service update --force``): Swarm never moves tasks back
    to a node that returned, so earlier faults can leave the workers idle. With the service spreading
    over placement zones, every worker runs a task again. Returns the nodes running its tasks."""
    run = current_run(configuration)
    c = run.inventory.cluster(cluster)
    service = str(c.settings.get("service", "web"))
    replicas = int(c.settings.get("replicas", 1))
    errors: list[str] = []
    for url in manager_urls(run.inventory, c):
        cli = SwarmCli(url, timeout=timeout)
        try:
            cli.check(f"docker service update --force --quiet {service}")  # waits for the rolling update
            nodes = cli.task_nodes(service)
        except TargetError as e:
            errors.append(str(e)[-160:])
            continue
        run.event("setup", f"{service} rebalanced: tasks on {', '.join(nodes)}")
        if len(nodes) < replicas:
            raise TargetError(f"{service}: {len(nodes)}/{replicas} tasks running after the rebalance")
        return nodes
    raise TargetError(f"rebalance of {service}: no manager accepted it: {' | '.join(errors)}")

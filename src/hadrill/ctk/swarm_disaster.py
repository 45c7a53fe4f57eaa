"""Chaos Toolkit action for Swarm's disaster procedure: after quorum is lost, force a new cluster on the
surviving manager (:class:`hadrill.faults.swarm_disaster.ForceNewCluster`); the heal re-joins the
managers it dropped. Plain functions: the signature is the schema discovery reads."""

from __future__ import annotations

from typing import Any

from hadrill.ctk import current_run
from hadrill.ctk.swarm_probes import _faulted_nodes, _swarm_faults
from hadrill.errors import ConfigError, TargetError
from hadrill.faults.picking import gate
from hadrill.faults.power import PowerOff, power_on_action
from hadrill.faults.swarm_disaster import ForceNewCluster, lost_manager

__all__ = ["force_new_swarm_cluster"]


def _address(endpoint: str, fallback: str) -> str:
    """The host of ``tcp://HOST:2377`` (the manager's swarm endpoint), else the node's address."""
    return endpoint.removeprefix("tcp://").rsplit(":", 1)[0] if endpoint else fallback


def force_new_swarm_cluster(
    cluster: str = "swarm", time_limit: float = 240.0, configuration: dict[str, Any] | None = None
) -> str:
    """``docker swarm init --force-new-cluster`` on the manager the run did not kill (after
    lose_swarm_quorum); the heal re-joins the others as managers. Returns the survivor's name."""
    run = current_run(configuration)
    c = run.inventory.cluster(cluster)
    down = set(_faulted_nodes(run, cluster))
    managers = [str(n) for n in c.settings.get("managers", [])]
    survivors = [m for m in managers if m not in down]
    lost = [m for m in managers if m in down]
    if not survivors or not lost:
        raise ConfigError(
            "experiment", "method", f"lose_swarm_quorum on {cluster} before force_new_swarm_cluster (lost: {lost})"
        )
    survivor = survivors[0]
    node = run.inventory.member_node(c, survivor)
    member = c.member(survivor)
    advertise = _address(member.endpoints.get("swarm", ""), node.address())
    # a lost host comes back by the driver that cut its power (its fault's record)
    cuts = [r.params for r, _ in _swarm_faults(run, cluster) if r.kind == PowerOff.kind]
    powers = {p["node"]: power_on_action(p) for p in cuts}
    try:
        described = []
        for m in lost:
            at = run.inventory.member_node(c, m)
            address = _address(c.member(m).endpoints.get("swarm", ""), at.address())
            described.append(lost_manager(m, at.url, address, powers.get(at.name)))
    except TargetError as e:
        raise TargetError(f"force-new-cluster: cannot describe the lost managers: {e}") from e
    run.event("pick", f"survivor {survivor}; lost managers {', '.join(lost)}")
    fault = ForceNewCluster(
        target=node.url,
        survivor=survivor,
        survivor_url=node.url,
        advertise=advertise,
        lost=described,
        time_limit=time_limit,
        **gate(run.inventory, c, [member], force=True),
        description=f"swarm init --force-new-cluster on {survivor} (re-join {', '.join(lost)} on revert)",
    )
    run.inject(fault)
    return survivor

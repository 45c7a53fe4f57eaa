"""Choosing members for a fault: skip what an open fault already holds, and fill in the safety gate.

A member is *held* when an open fault in the ledger (this run's or another live run's) took its node,
through any cluster: with the etcd leader stopped by a first fault, a second ``follower`` pick must not
land on that stopped member again (its proof would be vacuous, and quorum would never be lost while
the journal says two members were stopped). Picking nothing is an error that says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hadrill.errors import TargetError
from hadrill.faults.base import held_nodes
from hadrill.faults.ledger import Ledger
from hadrill.inventory import Cluster, Inventory, Member

__all__ = ["free_members", "gate", "held_by_open_faults"]


def held_by_open_faults(cluster: Cluster, ledger: Ledger | None = None) -> list[Member]:
    """Members of ``cluster`` whose node (or name) an open fault holds."""
    held = held_nodes(ledger or Ledger())
    return [m for m in cluster.members if m.node in held or m.name in held]


def free_members(
    cluster: Cluster, candidates: Sequence[Member] | None = None, *, ledger: Ledger | None = None, what: str = "member"
) -> list[Member]:
    """``candidates`` (default: every member) that no open fault holds; TargetError when none is left."""
    pool = list(cluster.members if candidates is None else candidates)
    held = {m.name for m in held_by_open_faults(cluster, ledger)}
    free = [m for m in pool if m.name not in held]
    if not free:
        raise TargetError(
            f"cluster {cluster.name}: no {what} to pick: "
            + (f"{', '.join(m.name for m in pool)} already held by open faults" if pool else "none exists")
        )
    return free


def gate(inv: Inventory, cluster: Cluster, members: Sequence[Member], *, force: bool = False) -> dict[str, Any]:
    """The safety-gate fields of a fault taking ``members`` (keyword arguments of :class:`Fault`)."""
    return {
        "cluster": f"{inv.platform}/{cluster.name}",
        "members": tuple(m.name for m in members),
        "nodes": tuple(m.node for m in members),
        "cluster_nodes": {m.name: m.node for m in cluster.members},
        "failure_budget": cluster.failure_budget,
        "force": force,
    }

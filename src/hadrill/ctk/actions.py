"""Chaos Toolkit actions (method steps and rollbacks). Each is a plain function: the signature is
the schema Chaos Toolkit's discovery reads."""

from __future__ import annotations

import time
from typing import Any

from hadrill.ctk import current_run
from hadrill.faults.container import Action
from hadrill.faults.etcd import kill_member as _kill_member
from hadrill.faults.etcd import partition_member as _partition_member
from hadrill.faults.etcd import pick_member

__all__ = [
    "heal",
    "kill_member",
    "partition_member",
    "start_probes",
    "stop_probes",
    "verify_acked_writes",
]


def start_probes(
    cluster: str = "etcd", probes: list[str] | None = None, configuration: dict[str, Any] | None = None
) -> list[str]:
    """Start the cluster's probes (etcd: ``write`` and ``read``) sampling in the background."""
    run = current_run(configuration)
    run.start_etcd_probes(cluster, tuple(probes or ("write", "read")))
    time.sleep(1.0)  # a second of steady state before anything happens, for the timeline
    return sorted(run.samplers)


def partition_member(
    cluster: str = "etcd",
    member: str = "follower",
    time_limit: float = 120.0,
    force: bool = False,
    configuration: dict[str, Any] | None = None,
) -> str:
    """Cut one member (``leader``, ``follower``, ``random`` or a name) from its peers; returns it."""
    run = current_run(configuration)
    c = run.inventory.cluster(cluster)
    m = pick_member(run.inventory, c, member)
    run.inject(_partition_member(run.inventory, c, m, time_limit=time_limit, force=force))
    return m.name


def kill_member(
    cluster: str = "etcd",
    member: str = "leader",
    action: Action = "kill",
    time_limit: float = 120.0,
    force: bool = False,
    configuration: dict[str, Any] | None = None,
) -> str:
    """Kill (or stop, pause) the node of one member; returns the member's name."""
    run = current_run(configuration)
    c = run.inventory.cluster(cluster)
    m = pick_member(run.inventory, c, member)
    run.inject(_kill_member(run.inventory, c, m, action=action, time_limit=time_limit, force=force))
    return m.name


def heal(configuration: dict[str, Any] | None = None) -> None:
    """Revert every fault of the run (idempotent: also the experiment's rollback)."""
    current_run(configuration).heal()


def stop_probes(settle: float = 2.0, configuration: dict[str, Any] | None = None) -> dict[str, int]:
    """Keep sampling ``settle`` seconds after healing, then stop; returns sample counts."""
    run = current_run(configuration)
    run.stop_probes(settle)
    return {n: len(s.history) for n, s in run.samplers.items()}


def verify_acked_writes(configuration: dict[str, Any] | None = None) -> dict[str, int]:
    """Read back every acknowledged write; returns lost counts per write probe."""
    lost = current_run(configuration).verify_writes()
    return {n: len(k) for n, k in lost.items()}

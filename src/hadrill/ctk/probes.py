"""Chaos Toolkit probes: steady state, one-shot etcd checks, and the objectives verdict."""

from __future__ import annotations

from typing import Any

from hadrill import etcd_recovery
from hadrill.ctk import current_run
from hadrill.errors import ConfigError, TargetError
from hadrill.etcd import EtcdClient
from hadrill.inventory import Member
from hadrill.run import Run

__all__ = ["cluster_healthy", "member_caught_up", "member_refuses_writes", "new_leader_elected", "objectives_met"]


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
    run = current_run(configuration)
    c = run.inventory.cluster(cluster)
    return run.check(etcd_recovery.member_caught_up(c, _faulted(run, member, cluster), objective_s)).ok


def objectives_met(objectives: dict[str, Any] | None = None, configuration: dict[str, Any] | None = None) -> bool:
    """All objectives and checks hold; True before anything was measured (the 'before' hypothesis)."""
    run = current_run(configuration)
    if not run.samplers:
        return True
    return all(v.ok for v in run.evaluate(objectives or {}))

"""One-shot etcd checks around a fault, each measured and returned as a verdict.

They answer the questions an operator asks of an etcd incident: did the isolated member stop
accepting writes (no split brain)? how long until a new leader? did the member catch up after?
"""

from __future__ import annotations

import time

from hadrill.clients.etcd import EtcdClient, etcd_leader
from hadrill.errors import TargetError
from hadrill.inventory import Cluster, Inventory, Member
from hadrill.slo import Verdict

__all__ = ["member_caught_up", "member_refuses_writes", "new_leader_elected"]


def _client(cluster: Cluster, member: Member, timeout: float) -> EtcdClient:
    return EtcdClient(member.endpoints["client"], timeout=timeout, tls=cluster.tls)


def member_refuses_writes(cluster: Cluster, member: Member, *, timeout: float = 2.0) -> Verdict:
    """A write sent to a member cut from its quorum must fail (it must not accept it alone)."""
    try:
        _client(cluster, member, timeout).put(f"/hadrill/split-brain-check/{time.time():.6f}", "x")
    except TargetError as e:
        return Verdict("member_refuses_writes", 1, 1, "bool", True, f"{member.name} refused a write: {str(e)[-80:]}")
    return Verdict("member_refuses_writes", 1, 0, "bool", False, f"{member.name} ACCEPTED a write without quorum")


def new_leader_elected(
    inv: Inventory, cluster: Cluster, former: Member, since: float, objective_s: float, *, limit: float = 30.0
) -> Verdict:
    """Time from ``since`` until the survivors agree on a leader other than ``former``."""
    deadline = time.monotonic() + max(limit, objective_s)
    survivors = [m for m in cluster.members if m.name != former.name]
    while time.monotonic() < deadline:
        leader = etcd_leader(inv, cluster.model_copy(update={"members": survivors}), timeout=0.5)
        if leader is not None and leader.name != former.name:
            took = time.time() - since
            ok = took <= objective_s
            return Verdict(
                "new_leader_s",
                objective_s,
                took,
                "s",
                ok,
                f"new leader {leader.name} {took:.2f} s after the fault "
                f"{'<=' if ok else '>'} objective {objective_s:.2f} s",
            )
        time.sleep(0.05)
    return Verdict("new_leader_s", objective_s, None, "s", False, f"no new leader within {limit:.0f} s")


def member_caught_up(cluster: Cluster, member: Member, objective_s: float, *, limit: float = 60.0) -> Verdict:
    """After healing, ``member`` reaches the raft index the leader had when the check began."""
    start = time.time()
    deadline = time.monotonic() + max(limit, objective_s)
    target_index = None
    while time.monotonic() < deadline:
        try:
            if target_index is None:
                others = [m for m in cluster.members if m.name != member.name]
                target_index = max(_client(cluster, m, 1.0).status().raft_index for m in others)
            got = _client(cluster, member, 1.0).status().raft_index
            if got >= target_index:
                took = time.time() - start
                ok = took <= objective_s
                return Verdict(
                    "caught_up_s",
                    objective_s,
                    took,
                    "s",
                    ok,
                    f"{member.name} reached raft index {target_index} in {took:.2f} s "
                    f"{'<=' if ok else '>'} objective {objective_s:.2f} s",
                )
        except TargetError:
            pass
        time.sleep(0.1)
    return Verdict("caught_up_s", objective_s, None, "s", False, f"{member.name} did not catch up within {limit:.0f} s")

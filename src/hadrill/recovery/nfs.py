"""Verdicts after the NFS VIP holder failed (:mod:`hadrill.faults.vip`): how long the VIP took to move, and
whether the failed server came back as BACKUP while the VIP stayed where it was."""

from __future__ import annotations

import time
from collections.abc import Callable

from hadrill.clients.nfs import holds_vip, server_state, vip_holders
from hadrill.inventory import Cluster, Inventory
from hadrill.slo import Verdict

__all__ = ["rejoined_as_backup", "vip_moved"]


def vip_moved(
    inv: Inventory, cluster: Cluster, former: str, since: float, objective_s: float, *,
    moved_at: Callable[[], float | None] | None = None, limit: float = 30.0,
) -> Verdict:  # fmt: skip
    """The VIP is on a server other than ``former``; measured from ``since`` to when it was seen there.

    Waits (bounded by ``limit`` or the objective) for the move: the fault is proven as soon as the holder
    is down, before the backup takes over. ``moved_at`` reads when the fault's watcher first saw the VIP
    there (:func:`hadrill.faults.vip._watch_move`); without it, when this check first sees it.
    """
    wait = max(limit, objective_s)
    deadline = time.monotonic() + wait
    holders = []
    seen_at = None
    for _ in range(int(wait / 0.05) + 2):
        # The others first: asking the failed server (maybe powered off: an SSH call waits out its timeout)
        # only once the VIP is seen elsewhere, to tell a move from a split brain.
        holders = vip_holders(inv, cluster, but=former)
        if len(holders) == 1:
            seen_at = time.time()
            if not holds_vip(inv.member_node(cluster, former).url, str(cluster.settings["vip"])):
                break
            holders, seen_at = [*holders, cluster.member(former)], None
        if time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    if seen_at is None:
        where = ", ".join(m.name for m in holders) or "no server"
        detail = f"VIP still on {where}, not moved off {former} in {wait:.0f} s"
        return Verdict("vip_moved_s", objective_s, None, "s", False, detail)
    watched = moved_at() if moved_at is not None else None
    took = (watched if watched is not None and watched <= seen_at else seen_at) - since
    ok = took <= objective_s
    return Verdict(
        "vip_moved_s", objective_s, took, "s", ok,
        f"VIP moved from {former} to {holders[0].name} {took:.2f} s after the fault "
        f"{'<=' if ok else '>'} objective {objective_s:.2f} s",
    )  # fmt: skip


def rejoined_as_backup(
    inv: Inventory, cluster: Cluster, member: str, objective_s: float, *, limit: float = 60.0
) -> Verdict:
    """After healing, ``member`` runs NFS and keepalived again as BACKUP while the VIP stays put."""
    start = time.time()
    deadline = time.monotonic() + max(limit, objective_s)
    m = cluster.member(member)
    state = server_state(inv, cluster, m)
    for _ in range(int(max(limit, objective_s) / 0.2) + 2):
        state = server_state(inv, cluster, m)
        holders = vip_holders(inv, cluster)
        if state.nfs and state.keepalived and state.vrrp == "BACKUP" and len(holders) == 1 and holders[0] != m:
            took = time.time() - start
            ok = took <= objective_s
            return Verdict(
                "rejoined_backup_s", objective_s, took, "s", ok,
                f"{member} back as BACKUP in {took:.2f} s {'<=' if ok else '>'} objective {objective_s:.2f} s; "
                f"the VIP stayed on {holders[0].name}",
            )  # fmt: skip
        if holders == [m] and state.vrrp == "MASTER":
            return Verdict(
                "rejoined_backup_s", objective_s, None, "s", False,
                f"{member} took the VIP back after {time.time() - start:.2f} s (preempted: nopreempt not honoured)",
            )  # fmt: skip
        if time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    return Verdict(
        "rejoined_backup_s", objective_s, None, "s", False,
        f"{member} not back as BACKUP within {max(limit, objective_s):.0f} s: {state}",
    )  # fmt: skip

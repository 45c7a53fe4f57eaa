"""An NFS server pair's state as hadrill reads it: who holds the keepalived VIP, and what one server looks like
from inside (ganesha listening, keepalived running, its VRRP state). No faults, no verdicts.

The VRRP state is read from the file the lab's keepalived notify script writes
(:data:`hadrill.lab.nfs_files.STATE_FILE`).
"""

from __future__ import annotations

import shlex
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from hadrill.clients.targets import target
from hadrill.errors import TargetError
from hadrill.inventory import Cluster, Inventory, Member

__all__ = [
    "NFS_PORT",
    "NFS_PROCESS",
    "STATE_FILE",
    "ServerState",
    "holds_vip",
    "iface_carrying",
    "server_state",
    "vip_holder",
    "vip_holders",
    "vip_iface",
]

STATE_FILE = "/run/hadrill-nfs/vrrp.state"
NFS_PROCESS = "ganesha.nfsd"
NFS_PORT = 2049


def holds_vip(url: str, vip: str) -> bool:
    """Whether the node's interfaces that are up carry ``vip`` (a stopped node holds nothing)."""
    return vip_iface(url, vip) is not None


def vip_iface(url: str, vip: str) -> str | None:
    """The interface that is up and carries ``vip`` on the node, None when none does (or the node does
    not answer)."""
    try:
        res = target(url).run("ip -o -4 addr show up", timeout=5)
    except TargetError:
        return None
    return iface_carrying(res.stdout, vip) if res.ok else None


def iface_carrying(ip_o_addr: str, vip: str) -> str | None:
    """The interface of ``ip -o -4 addr`` output whose address is ``vip``, else None."""
    for line in ip_o_addr.splitlines():
        fields = line.split()
        if len(fields) > 3 and fields[2] == "inet" and fields[3].startswith(f"{vip}/"):
            return fields[1]
    return None


def vip_holders(inv: Inventory, cluster: Cluster, *, but: str | None = None) -> list[Member]:
    """Every server (but the member ``but``) whose interfaces carry the VIP right now (more than one is a
    split brain)."""
    vip = str(cluster.settings["vip"])
    members = [m for m in cluster.members if m.name != but]
    urls = [inv.member_node(cluster, m.name).url for m in members]
    # asked at once: a host that just lost its power holds an SSH call to its timeout, not the others too
    with ThreadPoolExecutor(max_workers=len(urls) or 1) as pool:
        held = list(pool.map(lambda url: holds_vip(url, vip), urls))
    return [m for m, h in zip(members, held, strict=True) if h]


def vip_holder(inv: Inventory, cluster: Cluster) -> Member | None:
    """The server holding the VIP, or None when none (or, split brain, more than one) does."""
    holders = vip_holders(inv, cluster)
    return holders[0] if len(holders) == 1 else None


@dataclass(frozen=True)
class ServerState:
    """What one server looks like from inside: daemons, VRRP state, the VIP."""

    running: bool
    nfs: bool
    keepalived: bool
    vrrp: str
    holds_vip: bool

    def __str__(self) -> str:
        if not self.running:
            return "not reachable"
        return (
            f"vrrp {self.vrrp}, nfs {'up' if self.nfs else 'DOWN'}, keepalived {'up' if self.keepalived else 'DOWN'}"
            f"{', holds the VIP' if self.holds_vip else ''}"
        )


def server_state(inv: Inventory, cluster: Cluster, member: Member) -> ServerState:
    url = inv.member_node(cluster, member.name).url
    # the served process, its port and the notify script's state file: NFS's unless the cluster says
    process = shlex.quote(str(cluster.settings.get("process", NFS_PROCESS)))
    port, state_file = int(cluster.settings.get("port", NFS_PORT)), cluster.settings.get("state_file", STATE_FILE)
    cmd = (
        f'echo "g=$(pgrep -x {process} | head -1) k=$(pgrep -x keepalived | head -1)'
        f' s=$(cut -d" " -f1 {shlex.quote(str(state_file))} 2>/dev/null) l=$(ss -Hltn "sport = :{port}" | head -1)"; '
        "ip -o -4 addr show up"
    )
    try:
        res = target(url).run(cmd, timeout=5)
    except TargetError:
        return ServerState(False, False, False, "?", False)
    if not res.ok:
        return ServerState(False, False, False, "?", False)
    first, _, rest = res.stdout.partition("\n")
    seen = dict(w.split("=", 1) for w in first.split() if "=" in w)
    vip = f" {cluster.settings['vip']}/"
    nfs = bool(seen.get("g")) and seen.get("l") == "LISTEN"  # the served process runs and listens
    return ServerState(True, nfs, bool(seen.get("k")), seen.get("s") or "?", vip in rest)

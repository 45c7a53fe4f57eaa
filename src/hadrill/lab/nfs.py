"""The lab's NFS service: two nfs-ganesha servers behind a keepalived virtual IP, and a client.

Both servers export the same labelled docker volume as ``/export`` (it stands in for shared storage
or DRBD). keepalived (VRRPv3, unicast peers over the storage network, ``nopreempt``, a track script
on ``pgrep -x ganesha.nfsd``) puts the VIP on one of them; a failed server that comes back joins as
BACKUP and the VIP stays where it is. The client container has no kernel NFS client (the kernel has
none here): probes use libnfs in userspace (``nfs-cp``, ``nfs-cat``, ctypes).

Addresses (offsets in the lab's /24s): servers .21 and .22 on the main and the storage network,
the VIP .20 on the storage network, the client .29 on both. Capabilities: NET_ADMIN (keepalived
moves the VIP; faults take a link down), DAC_READ_SEARCH and SYS_ADMIN (ganesha's VFS FSAL uses
file handles). ``--init`` reaps what the daemons and the faults' deadmen leave behind.
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from docker.errors import APIError, NotFound

from hadrill.errors import LabError
from hadrill.inventory import Cluster, Member, Node
from hadrill.lab.exporter_files import EXPORTER_PORT
from hadrill.lab.hosts import host_run_options, wait_system_running
from hadrill.lab.images import ImageSpec
from hadrill.lab.labfile import NfsPart
from hadrill.lab.nfs_files import SERVER_FILES, START_PATH, STATE_FILE
from hadrill.lab.runtime import LabContext, StatusRow
from hadrill.lab.ssh import LabSsh
from hadrill.lab.storage_host import (
    BOOT_TIMEOUT,
    NFS_UNITS,
    STORAGE_HOST_IMAGE,
    configure_nfs_server,
    install_exporter,
)

__all__ = ["CLIENT_IMAGE", "EXPORT", "SERVER_IMAGE", "NfsService"]

SERVER_IMAGE = ImageSpec(
    name="nfs-server",
    packages=(
        "nfs-ganesha", "nfs-ganesha-vfs", "keepalived", "rpcbind", "netbase", "iproute2", "procps",
        "iptables", "python3",
    ),
    files=SERVER_FILES,
    dockerfile=(f'CMD ["{START_PATH}"]',),
)  # fmt: skip
CLIENT_IMAGE = ImageSpec(
    name="nfs-client",
    packages=("libnfs13", "libnfs-utils", "python3", "iproute2", "procps"),
    dockerfile=('CMD ["sleep", "infinity"]',),
)
EXPORT = "/export"
VIP_OFFSET = 20
SERVER_OFFSETS = (21, 22)
CLIENT_OFFSET = 29
SERVER_CAPS = ["NET_ADMIN", "DAC_READ_SEARCH", "SYS_ADMIN"]
# One line: g=<ganesha pid> k=<keepalived pid> s=<VRRP state> (empty values when down/unknown).
_DAEMONS = (
    'echo "g=$(pgrep -x ganesha.nfsd | head -1) k=$(pgrep -x keepalived | head -1)'
    f' s=$(cut -d" " -f1 {STATE_FILE} 2>/dev/null)"'
)


class NfsService:
    """Creates the servers and the client, waits for the VIP and an NFS round trip through it."""

    name = "nfs"
    storage = True

    def __init__(self, part: NfsPart, *, hosts: bool = False, transport: str = "docker") -> None:
        self.part = part
        self.hosts = hosts  # systemd hosts (lab/storage_host.py) instead of one-process containers
        self.transport = transport

    def images(self) -> list[ImageSpec]:
        return [STORAGE_HOST_IMAGE] if self.hosts else [SERVER_IMAGE, CLIENT_IMAGE]

    def node_url(self, ctx: LabContext, name: str, ip: str) -> str:
        return LabSsh(ctx.name).url(ip) if self.transport == "ssh" else f"docker://{name}"

    # -- names and addresses -------------------------------------------------------------------------
    def servers(self, ctx: LabContext) -> list[tuple[str, str, str]]:
        """(container, main address, storage address) of each server."""
        storage = ctx.storage_network_name
        return [
            (f"{ctx.name}-nfs-{i}", ctx.ip(off), ctx.ip(off, storage)) for i, off in enumerate(SERVER_OFFSETS, start=1)
        ]

    def client(self, ctx: LabContext) -> tuple[str, str, str]:
        return f"{ctx.name}-nfs-client", ctx.ip(CLIENT_OFFSET), ctx.ip(CLIENT_OFFSET, ctx.storage_network_name)

    def vip(self, ctx: LabContext) -> str:
        return ctx.ip(VIP_OFFSET, ctx.storage_network_name)

    def metrics_targets(self, ctx: LabContext) -> list[tuple[str, str]]:
        """Each server's lab exporter (VIP held, keepalived, ganesha): a process, or a unit on a host."""
        return [("nfs", f"{ip}:{EXPORTER_PORT}") for _, ip, _ in self.servers(ctx)]

    # -- up ------------------------------------------------------------------------------------------
    def up(self, ctx: LabContext) -> None:
        storage = ctx.storage_network_name
        prefix = ctx.subnets[storage].prefixlen
        servers = self.servers(ctx)
        volume = f"{ctx.name}-nfs-export"
        if self.hosts:
            self._up_hosts(ctx, volume)
            return
        for i, (name, ip, sip) in enumerate(servers):
            environment = {
                "SELF": sip,
                "PEER": servers[1 - i][2],
                "VIP": f"{self.vip(ctx)}/{prefix}",
                "PRIORITY": str(self.part.priorities[i]),
                "ADVERT": f"{self.part.advert_int:g}",
            }
            ctx.ensure_container(
                name, SERVER_IMAGE.ref, "nfs-server", ip, networks={storage: sip}, cap_add=SERVER_CAPS,
                volumes={volume: {"bind": EXPORT, "mode": "rw"}}, environment=environment, init=True,
            )  # fmt: skip
        name, ip, sip = self.client(ctx)
        ctx.ensure_container(name, CLIENT_IMAGE.ref, "nfs-client", ip, networks={storage: sip}, init=True)

    def _up_hosts(self, ctx: LabContext, volume: str) -> None:
        """Boot the servers and the client as hosts, provision SSH, then configure and start the units."""
        storage = ctx.storage_network_name
        servers = self.servers(ctx)
        options = host_run_options()
        cgroup = options.pop("volumes")
        nodes = [
            ctx.ensure_container(
                name, STORAGE_HOST_IMAGE.ref, "nfs-server", ip, networks={storage: sip},
                volumes={**cgroup, volume: {"bind": EXPORT, "mode": "rw"}}, **options,
            )
            for name, ip, sip in servers
        ]  # fmt: skip
        name, ip, sip = self.client(ctx)
        nodes.append(
            ctx.ensure_container(
                name, STORAGE_HOST_IMAGE.ref, "nfs-client", ip, networks={storage: sip}, volumes=cgroup, **options
            )
        )
        with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
            list(pool.map(lambda c: wait_system_running(c, BOOT_TIMEOUT), nodes))
        addresses = [ip for _, ip, _ in servers] + [ip]
        LabSsh(ctx.name).provision(nodes, addresses)
        vip = f"{self.vip(ctx)}/{ctx.subnets[storage].prefixlen}"
        for i, (c, (_, _, sip)) in enumerate(zip(nodes, servers, strict=False)):
            configure_nfs_server(
                c, self_ip=sip, peer_ip=servers[1 - i][2], vip=vip, priority=self.part.priorities[i],
                advert=self.part.advert_int,
            )  # fmt: skip
            # the checks of the container servers' start script (lab/nfs_files.py)
            checks = {"keepalived": "proc:keepalived", "ganesha": "proc:ganesha.nfsd", "vip": f"addr:{self.vip(ctx)}"}
            install_exporter(c, checks, NFS_UNITS)

    # -- observation ---------------------------------------------------------------------------------
    @staticmethod
    def _exec(ctx: LabContext, container: str, command: str, timeout: float = 5.0) -> tuple[int, str]:
        """Run a bounded shell command in a lab container: (exit code, output); -1 if it cannot run."""
        try:
            c = ctx.client.containers.get(container)
            res = c.exec_run(["timeout", "-k", "1", f"{timeout:g}", "sh", "-c", command])
        except (APIError, NotFound) as e:
            return -1, str(e)
        return int(res.exit_code), res.output.decode(errors="replace")

    def holders(self, ctx: LabContext) -> list[str]:
        """The servers whose storage interface (up) carries the VIP."""
        vip = self.vip(ctx)
        found = []
        for name, _, _ in self.servers(ctx):
            rc, out = self._exec(ctx, name, "ip -o -4 addr show up")
            if rc == 0 and f" {vip}/" in out:
                found.append(name)
        return found

    def round_trip(self, ctx: LabContext) -> str | None:
        """Write a file through the VIP from the client and read it back; None if it worked."""
        token = uuid.uuid4().hex
        # nfs-cp creates exclusively: one small file per check (the lab's volume goes with the lab)
        url = f"nfs://{self.vip(ctx)}{EXPORT}/.hadrill-ready-{token}?autoreconnect=0"
        cmd = (
            f"printf %s {token} > /tmp/hadrill-ready && timeout 5 nfs-cp /tmp/hadrill-ready '{url}' >/dev/null"
            f" && timeout 5 nfs-cat '{url}'"
        )
        rc, out = self._exec(ctx, self.client(ctx)[0], cmd, timeout=12)
        if rc == 0 and out.strip() == token:
            return None
        return f"write+read through the VIP failed (exit {rc}): {out.strip()[-200:]}"

    def wait_healthy(self, ctx: LabContext, timeout: float = 90.0) -> None:
        """The VIP is held by exactly one server, and an NFS write+read through it works."""
        deadline = time.monotonic() + timeout
        problem: str | None = "not checked"
        for _ in range(int(timeout / 0.3) + 2):
            holders = self.holders(ctx)
            if len(holders) != 1:
                problem = f"VIP {self.vip(ctx)} held by {holders or 'no server'}"
            else:
                problem = self.round_trip(ctx)
                if problem is None:
                    if self.transport == "ssh":
                        servers = [(n, ip, NFS_UNITS) for n, ip, _ in self.servers(ctx)]
                        LabSsh(ctx.name).check_hosts([*servers, (self.client(ctx)[0], self.client(ctx)[1], ())])
                    return
            if time.monotonic() >= deadline:
                break
            time.sleep(0.3)
        raise LabError(f"NFS of lab {ctx.name} not healthy after {timeout:.0f} s: {problem}")

    def inventory(self, ctx: LabContext) -> tuple[list[Node], list[Cluster]]:
        storage = ctx.storage_network_name
        nodes, members = [], []
        for name, ip, sip in self.servers(ctx):
            addresses = {ctx.network_name: ip, storage: sip}
            nodes.append(Node(name=name, url=self.node_url(ctx, name, ip), roles=["nfs-server"], addresses=addresses))
            members.append(Member(name=name, node=name, endpoints={"nfs": f"nfs://{sip}{EXPORT}"}))
        client, ip, sip = self.client(ctx)
        nodes.append(
            Node(
                name=client,
                url=self.node_url(ctx, client, ip),
                roles=["nfs-client"],
                addresses={ctx.network_name: ip, storage: sip},
            )
        )
        holders = self.holders(ctx)
        settings = {
            "vip": self.vip(ctx),
            "export": EXPORT,
            "client": client,
            "advert_int": self.part.advert_int,
            "holder": holders[0] if len(holders) == 1 else None,
        }
        if self.hosts:  # the services are units: faults go through systemd (faults/vip.py)
            settings["units"] = list(NFS_UNITS)
        return nodes, [Cluster(name="nfs", type="nfs", members=members, failure_budget=1, settings=settings)]

    def status(self, ctx: LabContext) -> list[StatusRow]:
        states = {c.name: c.status for c in ctx.containers()}
        holders = self.holders(ctx)
        rows = []
        for name, _, sip in self.servers(ctx):
            state = states.get(name, "missing")
            rc, out = self._exec(ctx, name, _DAEMONS)
            seen = dict(w.split("=", 1) for w in out.split() if "=" in w) if rc == 0 else {}
            ganesha, keepalived, vrrp = bool(seen.get("g")), bool(seen.get("k")), seen.get("s") or "?"
            role = "nfs active (VIP)" if name in holders else "nfs backup"
            health = "healthy" if ganesha and keepalived else "unhealthy"
            detail = f"vrrp {vrrp}, ganesha {'up' if ganesha else 'DOWN'}, keepalived {'up' if keepalived else 'DOWN'}"
            rows.append(StatusRow(name, role, sip, state, health if state == "running" else "down", detail))
        client, _, sip = self.client(ctx)
        state = states.get(client, "missing")
        problem = self.round_trip(ctx) if state == "running" and len(holders) == 1 else "no single VIP holder"
        health = "healthy" if problem is None else "unhealthy"
        detail = f"VIP {self.vip(ctx)} on {holders[0] if len(holders) == 1 else holders}"
        rows.append(StatusRow(client, "nfs client", sip, state, health, detail if problem is None else problem))
        return rows

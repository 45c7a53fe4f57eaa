"""The lab's GlusterFS: three servers with a ``replica 3`` volume, and a FUSE client that mounts it.

Servers run ``glusterd -N`` with ``--init`` and SYS_ADMIN (bricks keep ``trusted.*`` xattrs), the
brick on a labelled docker volume (``/bricks``, not the overlay root) and ``/var/lib/glusterd`` on
another, so a killed server restarts as the same peer with its data. Gluster traffic uses the storage
network: every container gets ``/etc/hosts`` entries for the servers' storage addresses (docker's
embedded DNS would answer with the main network's address). ``network.ping-timeout`` comes from the
lab file (Gluster's 42 s default stalls writes for 42–84 s on a frozen node); server quorum is on
(type server, ratio 51). The client mounts with ``backup-volfile-servers`` and is checked with
``mountpoint``, because a failed FUSE mount can exit 0.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from hadrill.clients.gluster import BrickStatus, GlusterCli
from hadrill.clients.targets import target
from hadrill.errors import LabError, TargetError
from hadrill.inventory import Cluster, Member, Node
from hadrill.lab.exporter_files import EXPORTER, EXPORTER_PATH, EXPORTER_PORT, exporter_command
from hadrill.lab.hosts import host_run_options, wait_system_running
from hadrill.lab.images import ImageSpec
from hadrill.lab.labfile import GlusterPart
from hadrill.lab.runtime import LabContext, StatusRow
from hadrill.lab.ssh import LabSsh
from hadrill.lab.storage_host import (
    BOOT_TIMEOUT,
    GLUSTER_UNIT,
    STORAGE_HOST_IMAGE,
    install_exporter,
    start_glusterd,
)

__all__ = ["BRICK", "GLUSTER_IMAGE", "GlusterService"]

GLUSTER_IMAGE = ImageSpec(
    name="gluster",
    packages=(
        "glusterfs-server", "glusterfs-client", "procps", "iproute2", "python3", "attr", "psmisc", "iptables",
    ),
    files={EXPORTER_PATH: EXPORTER},
)  # fmt: skip
# glusterd in the foreground, after the lab exporter (one brick per server: "brick" = a glusterfsd runs).
# The brick pidfiles go first, as a host's boot clears its /run (a tmpfs): a container keeps its /run
# across a restart, and a pidfile left there names a pid that may now be another process's, so glusterd
# would take the brick for running and never start it.
_EXPORTER_CHECKS = {"brick": "proc:glusterfsd"}
_SERVER_COMMAND = [
    "sh", "-c", f"rm -f /run/gluster/vols/*/*.pid; {exporter_command(_EXPORTER_CHECKS)} exec glusterd -N"
]  # fmt: skip
BRICK = "/bricks/b"
_SERVER_OFFSET = 60  # servers at .61-.63 of both lab networks
_CLIENT_OFFSET = 69
_SERVERS = 3
_HEALTH_CHECK = (
    "import os, sys, time\n"
    "p = sys.argv[1]; d = str(time.time()).encode()\n"
    "fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)\n"
    "os.write(fd, d); os.fsync(fd); os.close(fd)\n"
    "assert open(p, 'rb').read() == d, 'read back differs'\n"
)


class GlusterService:
    """Creates the servers, the trusted pool, the volume and the client mount; describes them."""

    name = "gluster"
    storage = True

    def __init__(self, part: GlusterPart, *, hosts: bool = False, transport: str = "docker") -> None:
        self.part = part
        self.hosts = hosts  # systemd hosts running Debian's glusterd unit (lab/storage_host.py)
        self.transport = transport

    def node_url(self, ctx: LabContext, name: str, ip: str) -> str:
        return LabSsh(ctx.name).url(ip) if self.transport == "ssh" else f"docker://{name}"

    @property
    def mount(self) -> str:
        return f"/mnt/{self.part.volume}"

    def images(self) -> list[ImageSpec]:
        return [STORAGE_HOST_IMAGE] if self.hosts else [GLUSTER_IMAGE]

    # -- shape ---------------------------------------------------------------------------------------
    def servers(self, ctx: LabContext) -> list[tuple[str, str, str]]:
        """(name, main address, storage address) of each server."""
        storage = ctx.storage_network_name
        return [
            (f"{ctx.name}-gluster-{i}", ctx.ip(_SERVER_OFFSET + i), ctx.ip(_SERVER_OFFSET + i, storage))
            for i in range(1, _SERVERS + 1)
        ]

    def client(self, ctx: LabContext) -> tuple[str, str, str]:
        return f"{ctx.name}-gluster-client", ctx.ip(_CLIENT_OFFSET), ctx.ip(_CLIENT_OFFSET, ctx.storage_network_name)

    def _hosts(self, ctx: LabContext) -> dict[str, str]:
        """Every Gluster name to its storage address, for the containers' /etc/hosts."""
        return {name: sip for name, _, sip in [*self.servers(ctx), self.client(ctx)]}

    @staticmethod
    def _cli(name: str, timeout: float = 20.0) -> GlusterCli:
        return GlusterCli(f"docker://{name}", timeout=timeout)

    def metrics_targets(self, ctx: LabContext) -> list[tuple[str, str]]:
        """Each server's lab exporter (its brick process runs): a process, or a unit on a host."""
        return [("gluster", f"{ip}:{EXPORTER_PORT}") for _, ip, _ in self.servers(ctx)]

    # -- up ------------------------------------------------------------------------------------------
    def up(self, ctx: LabContext) -> None:
        hosts = self._hosts(ctx)
        servers = self.servers(ctx)
        if self.hosts:
            self._up_hosts(ctx, hosts)
        for name, ip, sip in [] if self.hosts else servers:
            ctx.ensure_container(
                name, GLUSTER_IMAGE.ref, "gluster-server", ip,
                networks={ctx.storage_network_name: sip}, extra_hosts=hosts,
                command=_SERVER_COMMAND, init=True, cap_add=["SYS_ADMIN"],
                volumes={
                    f"{name}-brick": {"bind": "/bricks", "mode": "rw"},
                    f"{name}-state": {"bind": "/var/lib/glusterd", "mode": "rw"},
                },
            )  # fmt: skip
        names = [n for n, _, _ in servers]
        self._wait(f"glusterd answers on {', '.join(names)}", lambda: all(self._cli(n).answers() for n in names))
        self._pool(names)
        self._volume(names)
        cname, cip, csip = self.client(ctx)
        if not self.hosts:
            ctx.ensure_container(
                cname, GLUSTER_IMAGE.ref, "gluster-client", cip,
                networks={ctx.storage_network_name: csip}, extra_hosts=hosts,
                command=["sleep", "infinity"], init=True, cap_add=["SYS_ADMIN"], devices=["/dev/fuse:/dev/fuse:rwm"],
            )  # fmt: skip
        self._mount(cname, names)

    def _up_hosts(self, ctx: LabContext, hosts: dict[str, str]) -> None:
        """Boot servers and client as hosts (state and brick on the node's volumes, as on disks of its
        own), provision SSH, then start glusterd on the servers."""
        options = host_run_options()
        cgroup = options.pop("volumes")
        storage = ctx.storage_network_name
        nodes = [
            ctx.ensure_container(
                name, STORAGE_HOST_IMAGE.ref, "gluster-server", ip, networks={storage: sip}, extra_hosts=hosts,
                volumes={
                    **cgroup,
                    f"{name}-brick": {"bind": "/bricks", "mode": "rw"},
                    f"{name}-state": {"bind": "/var/lib/glusterd", "mode": "rw"},
                },
                **options,
            )
            for name, ip, sip in self.servers(ctx)
        ]  # fmt: skip
        cname, cip, csip = self.client(ctx)
        nodes.append(
            ctx.ensure_container(
                cname, STORAGE_HOST_IMAGE.ref, "gluster-client", cip, networks={storage: csip}, extra_hosts=hosts,
                volumes=cgroup, devices=["/dev/fuse:/dev/fuse:rwm"], **options,
            )
        )  # fmt: skip
        with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
            list(pool.map(lambda c: wait_system_running(c, BOOT_TIMEOUT), nodes))
        LabSsh(ctx.name).provision(nodes, [ip for _, ip, _ in self.servers(ctx)] + [cip])
        for c in nodes[:-1]:
            start_glusterd(c)
            install_exporter(c, _EXPORTER_CHECKS, (GLUSTER_UNIT,))

    @staticmethod
    def _wait(what: str, done: Callable[[], bool], timeout: float = 60.0, interval: float = 0.5) -> None:
        deadline = time.monotonic() + timeout
        for _ in range(int(timeout / interval) + 1):
            if done():
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(interval)
        raise LabError(f"gluster: {what}: not true after {timeout:.0f} s")

    def _pool(self, names: list[str]) -> None:
        """Probe the peers by name, only those missing; node 2 probes node 1 back so it is known by name."""
        first = self._cli(names[0])
        for peer in names[1:]:
            if peer not in first.peers():
                first.check(f"peer probe {peer}")
        if names[0] not in self._cli(names[1]).peers():
            self._cli(names[1]).check(f"peer probe {names[0]}")

        def connected() -> bool:
            peers = first.peers()
            return all(peers.get(p) for p in names[1:])

        self._wait("peers connected", connected)

    def _volume(self, names: list[str]) -> None:
        cli, vol = self._cli(names[0], timeout=60.0), shlex.quote(self.part.volume)
        info = cli.volume_info(self.part.volume)
        if info is None:
            bricks = " ".join(f"{n}:{BRICK}" for n in names)
            cli.check(f"volume create {vol} replica {len(names)} {bricks}")
            info = cli.volume_info(self.part.volume)
            assert info is not None
        wanted = {"network.ping-timeout": str(self.part.ping_timeout), "cluster.server-quorum-type": "server"}
        for key, value in wanted.items():
            if info.options.get(key) != value:
                cli.check(f"volume set {vol} {key} {value}")
        if " 51" not in cli.check("volume get all cluster.server-quorum-ratio"):
            cli.check("volume set all cluster.server-quorum-ratio 51")
        if info.status != "Started":
            cli.check(f"volume start {vol}")
        elif not all(b.online for b in cli.volume_status(self.part.volume).values()):
            cli.start_force(self.part.volume)  # a brick killed earlier: up repairs it

    def _mount(self, client: str, names: list[str]) -> None:
        m = shlex.quote(self.mount)
        backups = ":".join(names[1:])
        cmd = (
            f"mkdir -p {m}; mountpoint -q {m} || {{ umount -l {m} 2>/dev/null; "
            f"mount -t glusterfs -o backup-volfile-servers={backups} {names[0]}:/{self.part.volume} {m}; }}; "
            f"mountpoint -q {m}"
        )
        t = target(f"docker://{client}")
        self._wait(f"{self.mount} mounted on {client}", lambda: t.run(cmd, timeout=30).ok)

    # -- health --------------------------------------------------------------------------------------
    def problem(self, ctx: LabContext) -> str | None:
        """What is not healthy yet (None when all bricks are online, mounted, and a write goes through)."""
        names = [n for n, _, _ in self.servers(ctx)]
        try:
            bricks = self._cli(names[0], timeout=10).volume_status(self.part.volume)
        except TargetError as e:
            return str(e)
        offline = [f"{n}:{BRICK}" for n in names if not getattr(bricks.get(f"{n}:{BRICK}"), "online", False)]
        if offline:
            return f"bricks offline: {', '.join(offline)}"
        client = target(f"docker://{self.client(ctx)[0]}")
        if not client.run(f"mountpoint -q {shlex.quote(self.mount)}", timeout=10).ok:
            return f"{self.mount} not mounted"
        probe = f"python3 -c {shlex.quote(_HEALTH_CHECK)} {shlex.quote(self.mount + '/.hadrill-health')}"
        res = client.run(probe, timeout=15)
        return None if res.ok else f"write+fsync+read through {self.mount} failed: {res.stderr.strip()[-200:]}"

    def wait_healthy(self, ctx: LabContext, timeout: float = 90.0) -> None:
        """All three bricks online, the client mounted, and a write+fsync+read through the mount."""
        deadline = time.monotonic() + timeout
        problem: str | None = "not checked"
        for _ in range(int(timeout) + 2):
            problem = self.problem(ctx)
            if problem is None:
                if self.transport == "ssh":
                    servers = [(n, ip, (GLUSTER_UNIT,)) for n, ip, _ in self.servers(ctx)]
                    LabSsh(ctx.name).check_hosts([*servers, (self.client(ctx)[0], self.client(ctx)[1], ())])
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(1.0)
        raise LabError(f"gluster volume of lab {ctx.name} not healthy after {timeout:.0f} s: {problem}")

    # -- describe ------------------------------------------------------------------------------------
    def inventory(self, ctx: LabContext) -> tuple[list[Node], list[Cluster]]:
        main, storage = ctx.network_name, ctx.storage_network_name
        nodes, members = [], []
        for name, ip, sip in self.servers(ctx):
            addresses = {main: ip, storage: sip}
            nodes.append(
                Node(name=name, url=self.node_url(ctx, name, ip), roles=["gluster-server"], addresses=addresses)
            )
            members.append(Member(name=name, node=name, endpoints={"brick": f"{name}:{BRICK}"}))
        cname, cip, csip = self.client(ctx)
        nodes.append(
            Node(
                name=cname,
                url=self.node_url(ctx, cname, cip),
                roles=["gluster-client"],
                addresses={main: cip, storage: csip},
            )
        )
        settings = {
            "volume": self.part.volume,
            "mount": self.mount,
            "client": cname,
            "bricks": {m.name: BRICK for m in members},
            "ping_timeout": self.part.ping_timeout,
        }
        if self.hosts:  # node faults go through the service manager (faults/gluster.py)
            settings["unit"] = GLUSTER_UNIT
        cluster = Cluster(name="gluster", type="gluster", members=members, failure_budget=1, settings=settings)
        return nodes, [cluster]

    def status(self, ctx: LabContext) -> list[StatusRow]:
        """A row per brick (online, pid, port, pending heals) and one for the client's mount."""
        states = {c.name: c.status for c in ctx.containers()}
        servers = self.servers(ctx)
        bricks: dict[str, BrickStatus] = {}
        heal: dict[str, int | None] = {}
        error = "no server answers"
        for name, _, _ in servers:
            if states.get(name) != "running":
                continue
            cli = self._cli(name, timeout=5)
            try:
                bricks = cli.volume_status(self.part.volume)
                heal = cli.heal_counts(self.part.volume)
                break
            except TargetError as e:
                error = str(e)[-80:]
        rows = []
        for name, _, sip in servers:
            b = bricks.get(f"{name}:{BRICK}")
            pending = heal.get(f"{name}:{BRICK}")
            heals = f"{pending} pending heal" if pending is not None else "heal count unknown"
            if b is None:
                rows.append(StatusRow(name, "gluster brick", sip, states.get(name, "missing"), "offline", error))
                continue
            detail = f"{self.part.volume} {b.name}, pid {b.pid or '-'}, port {b.port or '-'}, {heals}"
            health = "online" if b.online else "offline"
            rows.append(StatusRow(name, "gluster brick", sip, states.get(name, "missing"), health, detail))
        cname, _, csip = self.client(ctx)
        mounted = False
        if states.get(cname) == "running":
            mounted = target(f"docker://{cname}").run(f"mountpoint -q {shlex.quote(self.mount)}", timeout=5).ok
        detail = f"{self.part.volume} on {self.mount} (FUSE)"
        rows.append(
            StatusRow(
                cname,
                "gluster client",
                csip,
                states.get(cname, "missing"),
                "mounted" if mounted else "not mounted",
                detail,
            )
        )
        return rows

"""The lab's etcd cluster: N members from Debian's etcd-server, one container each.

Each member gets NET_ADMIN (partition faults put iptables rules inside it), a named data volume (a
killed member restarts with its data, as a real node would), and ``--init`` so the processes a fault
leaves behind (the deadman) are reaped.

With ``nodes: host`` each member is a systemd host instead (:mod:`hadrill.lab.etcd_host`): etcd is a
unit, sshd runs, and with ``transport: ssh`` the inventory reaches the nodes as ``ssh://root@ADDR``.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from hadrill.clients.etcd import EtcdClient
from hadrill.errors import LabError, TargetError
from hadrill.inventory import Cluster, Member, Node
from hadrill.lab.etcd_host import ETCD_HOST_IMAGE, ETCD_UNIT, configure_member, member_env
from hadrill.lab.hosts import host_run_options, wait_system_running
from hadrill.lab.images import ImageSpec
from hadrill.lab.labfile import EtcdPart
from hadrill.lab.runtime import LabContext, StatusRow
from hadrill.lab.ssh import LabSsh

__all__ = ["ETCD_IMAGE", "EtcdService"]

ETCD_IMAGE = ImageSpec(
    name="etcd",
    packages=("etcd-server", "etcd-client", "iptables", "iproute2", "procps", "netbase", "ca-certificates"),
)
_BASE_OFFSET = 10
CLIENT_PORT = 2379
PEER_PORT = 2380


class EtcdService:
    """Creates the members, waits for a leader, and describes the cluster for the inventory."""

    name = "etcd"

    def __init__(self, part: EtcdPart, *, hosts: bool = False, transport: str = "docker") -> None:
        self.part = part
        self.hosts = hosts
        self.transport = transport

    def images(self) -> list[ImageSpec]:
        return [ETCD_HOST_IMAGE if self.hosts else ETCD_IMAGE]

    def _members(self, ctx: LabContext) -> list[tuple[str, str]]:
        return [(f"{ctx.name}-etcd-{i}", ctx.ip(_BASE_OFFSET + i)) for i in range(1, self.part.members + 1)]

    def up(self, ctx: LabContext) -> None:
        members = self._members(ctx)
        initial = ",".join(f"{n}=http://{ip}:{PEER_PORT}" for n, ip in members)
        if self.hosts:
            self._up_hosts(ctx, members, initial)
            return
        for name, ip in members:
            command = [
                "etcd", "--name", name, "--data-dir", "/var/lib/etcd/data",
                "--listen-client-urls", f"http://0.0.0.0:{CLIENT_PORT}",
                "--advertise-client-urls", f"http://{ip}:{CLIENT_PORT}",
                "--listen-peer-urls", f"http://0.0.0.0:{PEER_PORT}",
                "--initial-advertise-peer-urls", f"http://{ip}:{PEER_PORT}",
                "--initial-cluster", initial, "--initial-cluster-state", "new",
                "--initial-cluster-token", f"{ctx.name}-etcd",
                "--heartbeat-interval", "100", "--election-timeout", "1000", "--pre-vote",
            ]  # fmt: skip
            ctx.ensure_container(
                name, ETCD_IMAGE.ref, "etcd", ip, command=command, init=True, cap_add=["NET_ADMIN"],
                volumes={f"{name}-data": {"bind": "/var/lib/etcd", "mode": "rw"}},
            )  # fmt: skip

    def _up_hosts(self, ctx: LabContext, members: list[tuple[str, str]], initial: str) -> None:
        """Boot every node, then provision it as a real machine is: the lab's key, pinned host keys,
        the member's settings, and the unit started (all members before any is waited for)."""
        nodes = [
            ctx.ensure_container(name, ETCD_HOST_IMAGE.ref, "etcd", ip, **host_run_options()) for name, ip in members
        ]
        with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
            list(pool.map(wait_system_running, nodes))
        LabSsh(ctx.name).provision(nodes, [ip for _, ip in members])
        for c, (name, ip) in zip(nodes, members, strict=True):
            configure_member(c, member_env(name, ip, initial, f"{ctx.name}-etcd", CLIENT_PORT, PEER_PORT))

    def metrics_targets(self, ctx: LabContext) -> list[tuple[str, str]]:
        """etcd serves Prometheus metrics at /metrics on its client port."""
        return [("etcd", f"{ip}:{CLIENT_PORT}") for _, ip in self._members(ctx)]

    def node_url(self, ctx: LabContext, name: str, ip: str) -> str:
        return LabSsh(ctx.name).url(ip) if self.transport == "ssh" else f"docker://{name}"

    def clients(self, ctx: LabContext, timeout: float = 1.0) -> dict[str, EtcdClient]:
        return {n: EtcdClient(f"http://{ip}:{CLIENT_PORT}", timeout=timeout) for n, ip in self._members(ctx)}

    def wait_healthy(self, ctx: LabContext, timeout: float = 90.0) -> None:
        """Every member answers, agrees on one leader, and a write goes through."""
        deadline = time.monotonic() + timeout
        problem = "not checked"
        while time.monotonic() < deadline:
            try:
                statuses = [c.status() for c in self.clients(ctx).values()]
                leaders = {s.leader for s in statuses}
                if len(leaders) == 1 and "0" not in leaders and "" not in leaders:
                    next(iter(self.clients(ctx).values())).put("/hadrill/lab/ready", str(time.time()))
                    if self.transport == "ssh":  # the key is accepted, the pinned host key matches
                        LabSsh(ctx.name).check_hosts([(n, ip, (ETCD_UNIT,)) for n, ip in self._members(ctx)])
                    return
                problem = f"members disagree on the leader: {sorted(leaders)}"
            except TargetError as e:
                problem = str(e)
            time.sleep(0.5)
        raise LabError(f"etcd cluster of lab {ctx.name} not healthy after {timeout:.0f} s: {problem}")

    def inventory(self, ctx: LabContext) -> tuple[list[Node], list[Cluster]]:
        nodes, members = [], []
        for name, ip in self._members(ctx):
            nodes.append(
                Node(name=name, url=self.node_url(ctx, name, ip), roles=["etcd"], addresses={ctx.network_name: ip})
            )
            endpoints = {"client": f"http://{ip}:{CLIENT_PORT}", "peer": f"http://{ip}:{PEER_PORT}"}
            members.append(Member(name=name, node=name, endpoints=endpoints))
        cluster = Cluster(name="etcd", type="etcd", members=members, failure_budget=self.part.budget)
        return nodes, [cluster]

    def status(self, ctx: LabContext) -> list[StatusRow]:
        states = {c.name: c.status for c in ctx.containers("etcd")}
        clients = self.clients(ctx, timeout=1.0)
        ids: dict[str, str] = {}
        for c in clients.values():  # the first member that answers names the others
            try:
                ids = {m.id: m.name for m in c.members()}
                break
            except TargetError:
                continue
        rows = []
        for name, ip in self._members(ctx):
            state = states.get(name, "missing")
            try:
                st = clients[name].status()
                role = "leader" if st.leader == st.member_id else "follower"
                leader = ids.get(st.leader, st.leader)
                detail = f"raft index {st.raft_index}, term {st.raft_term}, leader {leader}, v{st.version}"
                rows.append(StatusRow(name, f"etcd {role}", ip, state, "healthy", detail))
            except TargetError as e:
                rows.append(StatusRow(name, "etcd", ip, state, "unreachable", str(e)[-80:]))
        return rows

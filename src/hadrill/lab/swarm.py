"""The lab's Docker Swarm: three managers and two workers, each a host node running its own engine.

Each node is a systemd host (:mod:`hadrill.lab.hosts`) with Debian's ``docker.io``, ``/var/lib/docker``
on a labelled volume (overlay2 cannot sit on the container's own overlay root) and a fixed address.
``docker.service`` gets a drop-in that makes ``/proc/sys`` writable and ``/`` shared before dockerd
starts, as LAB-NOTES found it needs. With ``transport: ssh`` the inventory reaches them as
``ssh://root@ADDR`` (the lab's key, pinned host keys); the lab itself is built through the engine.
``swarm init`` runs on the first manager, the others join with
tokens read from it and handed to ``docker exec`` in the environment: they are never written to the
inventory, the journal, a log or an error message.

There is no registry: the HTTP application image (nginx from Debian packages) is loaded into every
node with ``docker save | docker exec -i NODE docker load``. This kernel has no IPVS, so the ingress
routing mesh cannot work: the service publishes its port in ``mode=host`` with ``--endpoint-mode
dnsrr``. A host-mode port is taken once per node, so its 3 replicas run at most one per node
(``--replicas-max-per-node 1``) on any of the five nodes: a lost node's task then has a free node to
move to. Autolock is off in the lab (a restarted manager would wait for its unlock key): the ``swarm``
compliance suite reports it, as it should.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import requests

from hadrill.clients.docker import container
from hadrill.clients.swarm import SwarmCli, SwarmNode
from hadrill.errors import LabError, TargetError
from hadrill.inventory import Cluster, Member, Node
from hadrill.lab.hosts import host_image, host_run_options, wait_system_running
from hadrill.lab.images import ImageSpec
from hadrill.lab.labfile import GlusterPart, SwarmPart
from hadrill.lab.runtime import LabContext, StatusRow
from hadrill.lab.ssh import LabSsh
from hadrill.lab.swarm_store import (
    STORE_APP,
    STORE_APP_PATH,
    STORE_DIR,
    STORE_PORT,
    STORE_SERVICE,
    create_store,
    mount_volume,
    store_problem,
)

__all__ = ["APP_PORT", "SWARM_APP_IMAGE", "SWARM_NODE_IMAGE", "SwarmService"]

APP_PORT = 8080
ZONE_LABEL = "hadrill.zone"
SERVICE = "web"
_MANAGER_OFFSET = 80  # managers .81-.83, workers .86-.87
_WORKER_OFFSET = 85

_DOCKER_DROPIN = """\
[Service]
ExecStartPre=/bin/sh -c 'mount -o remount,rw /proc/sys; mount --make-rshared /'
Restart=always
RestartSec=1
"""

_NEEDLESS_UNITS = ("systemd-ask-password-console.path", "systemd-ask-password-wall.path")

_DAEMON_JSON = '{"storage-driver": "overlay2", "log-driver": "json-file", "log-opts": {"max-size": "1m"}}\n'

SWARM_NODE_IMAGE = host_image(
    "swarm",
    packages=("docker.io", "ca-certificates", "glusterfs-client"),  # the client: the stateful service's volume
    files={
        "/etc/systemd/system/docker.service.d/hadrill.conf": _DOCKER_DROPIN,
        "/etc/docker/daemon.json": _DAEMON_JSON,
    },
    dockerfile=("RUN systemctl enable docker.service containerd.service",),
)

_NGINX_SITE = f"""\
server {{
    listen {APP_PORT} default_server;
    access_log off;
    location / {{ default_type text/plain; return 200 "$hostname\\n"; }}
}}
"""

SWARM_APP_IMAGE = ImageSpec(
    name="swarm-app",
    packages=("nginx-light", "python3"),  # python3: the stateful service (lab/swarm_store_app.py)
    files={"/etc/nginx/sites-enabled/default": _NGINX_SITE, STORE_APP_PATH: STORE_APP},
    dockerfile=("RUN ln -sf /dev/stderr /var/log/nginx/error.log", 'CMD ["nginx", "-g", "daemon off;"]'),
)


class SwarmService:
    """Creates the nodes, the swarm and its HTTP service; describes them."""

    name = "swarm"

    def __init__(self, part: SwarmPart, gluster: GlusterPart | None = None, *, transport: str = "docker") -> None:
        self.part = part
        self.gluster = gluster  # the lab's Gluster part: the stateful service's data lives on its volume
        self.transport = transport  # how the inventory reaches the nodes (the lab builds them through the engine)

    @property
    def mount(self) -> str:
        return f"/mnt/{self.gluster.volume}" if self.gluster else ""

    def _gluster_servers(self, ctx: LabContext) -> list[str]:
        from hadrill.lab.gluster import GlusterService

        return [n for n, _, _ in GlusterService(self.gluster).servers(ctx)] if self.gluster else []

    def images(self) -> list[ImageSpec]:
        return [SWARM_NODE_IMAGE, SWARM_APP_IMAGE]

    # -- shape ---------------------------------------------------------------------------------------
    def managers(self, ctx: LabContext) -> list[tuple[str, str]]:
        return [(f"{ctx.name}-swarm-m{i}", ctx.ip(_MANAGER_OFFSET + i)) for i in range(1, self.part.managers + 1)]

    def workers(self, ctx: LabContext) -> list[tuple[str, str]]:
        return [(f"{ctx.name}-swarm-w{i}", ctx.ip(_WORKER_OFFSET + i)) for i in range(1, self.part.workers + 1)]

    def nodes(self, ctx: LabContext) -> list[tuple[str, str]]:
        return self.managers(ctx) + self.workers(ctx)

    @staticmethod
    def _cli(name: str, timeout: float = 20.0) -> SwarmCli:
        return SwarmCli(f"docker://{name}", timeout=timeout)

    # -- up ------------------------------------------------------------------------------------------
    def up(self, ctx: LabContext) -> None:
        containers = []
        for name, ip in self.nodes(ctx):
            opts = host_run_options()
            # No console to ask a password on; these path units take inotify instances, which every
            # container's systemd shares with the whole host (128 for root): with many host nodes up
            # they failed and left systemd degraded. systemd in a container reads its "kernel command
            # line" from its own arguments.
            opts["command"] = [*opts["command"], *(f"systemd.mask={u}" for u in _NEEDLESS_UNITS)]
            volumes = {**opts.pop("volumes"), f"{name}-docker": {"bind": "/var/lib/docker", "mode": "rw"}}
            role = "swarm-manager" if name.rsplit("-", 1)[-1].startswith("m") else "swarm-worker"
            if self.gluster:  # the FUSE client of the volume
                opts["devices"] = ["/dev/fuse:/dev/fuse:rwm"]
            containers.append(ctx.ensure_container(name, SWARM_NODE_IMAGE.ref, role, ip, volumes=volumes, **opts))
        with ThreadPoolExecutor(max_workers=len(containers)) as pool:
            list(pool.map(lambda c: wait_system_running(c, 120.0), containers))
        if self.transport == "ssh":  # the lab's key on every host, their own host keys pinned
            LabSsh(ctx.name).provision(containers, [ip for _, ip in self.nodes(ctx)])
        names = [n for n, _ in self.nodes(ctx)]
        _wait("dockerd answers on every node", lambda: all(self._engine_up(n) for n in names), 90.0)
        with ThreadPoolExecutor(max_workers=len(names)) as pool:
            list(pool.map(self._load_app, names))
        self._form(ctx)
        self._service(ctx)
        if self.gluster:
            mount_volume(names, self._gluster_servers(ctx), self.gluster.volume, self.mount)
            create_store(self._cli(self.managers(ctx)[0][0], timeout=60), SWARM_APP_IMAGE.ref, self.mount)

    def _engine_up(self, name: str) -> bool:
        try:
            return self._cli(name, timeout=5).run("docker info --format '{{.ServerVersion}}'").ok
        except TargetError:
            return False

    @staticmethod
    def _load_app(name: str) -> None:
        """``docker save | docker exec -i NODE docker load`` unless the node has the image already."""
        cli = SwarmCli(f"docker://{name}", timeout=20)
        if cli.run(f"docker image inspect {SWARM_APP_IMAGE.ref} >/dev/null").ok:
            return
        save = subprocess.Popen(["docker", "save", SWARM_APP_IMAGE.ref], stdout=subprocess.PIPE)
        try:
            load = subprocess.run(
                ["docker", "exec", "-i", name, "docker", "load", "-q"],
                stdin=save.stdout,
                capture_output=True,
                timeout=300,
                check=False,
            )
        finally:
            if save.stdout is not None:
                save.stdout.close()
            save.wait(timeout=60)
        if load.returncode != 0 or save.returncode != 0:
            detail = load.stderr.decode(errors="replace").strip()[-300:]
            raise LabError(f"swarm: loading {SWARM_APP_IMAGE.ref} into {name} failed: {detail}")

    def _form(self, ctx: LabContext) -> None:
        """Init on the first manager, join the others (only those not in a swarm yet)."""
        managers, workers = self.managers(ctx), self.workers(ctx)
        first, first_ip = managers[0]
        cli = self._cli(first)
        if cli.local_state() != "active":
            cli.check(f"docker swarm init --advertise-addr {first_ip} --listen-addr {first_ip}:2377", timeout=60)
        for role, group in (("manager", managers[1:]), ("worker", workers)):
            pending = [(n, ip) for n, ip in group if self._cli(n).local_state() != "active"]
            if not pending:
                continue
            token = cli.check(f"docker swarm join-token -q {role}").strip()
            for name, ip in pending:
                _join(name, ip, f"{first_ip}:2377", token)
        want = {n for n, _ in self.nodes(ctx)}

        def all_ready() -> bool:
            seen = {n.hostname for n in self._cli(first).nodes() if n.status == "Ready"}
            return want <= seen

        _wait("every node Ready in the swarm", all_ready, 90.0)
        # placement zones: the managers share one, each worker has its own, and the service spreads its
        # tasks over zones, so a rebalance puts one task on every worker (kill-worker needs one there)
        for name, _ in managers:
            cli.check(f"docker node update --label-add {ZONE_LABEL}=control {name}")
        for name, _ in workers:
            cli.check(f"docker node update --label-add {ZONE_LABEL}={name} {name}")

    def _service(self, ctx: LabContext) -> None:
        cli = self._cli(self.managers(ctx)[0][0], timeout=60)
        if SERVICE in cli.services():
            return
        cli.check(
            f"docker service create --detach --name {SERVICE} --replicas {self.part.replicas}"
            f" --replicas-max-per-node 1 --endpoint-mode dnsrr --placement-pref spread=node.labels.{ZONE_LABEL}"
            f" --publish mode=host,target={APP_PORT},published={APP_PORT}"
            f" --restart-delay 1s --update-parallelism 1 --stop-grace-period 2s"
            f" {SWARM_APP_IMAGE.ref}"
        )

    # -- health --------------------------------------------------------------------------------------
    def problem(self, ctx: LabContext) -> str | None:
        """What is not healthy yet: a node not Ready, no leader, the service short of replicas, a task
        whose node does not answer HTTP."""
        first = self.managers(ctx)[0][0]
        try:
            cli = self._cli(first, timeout=10)
            nodes = cli.nodes()
            svc = cli.services().get(SERVICE)
            tasks = cli.task_nodes(SERVICE)
        except TargetError as e:
            return str(e)
        down = [n.hostname for n in nodes if n.status != "Ready"]
        if down:
            return f"nodes not Ready: {', '.join(down)}"
        if not any(n.leader for n in nodes):
            return "no Raft leader"
        if svc is None or svc.running < self.part.replicas:
            return f"service {SERVICE}: {svc.running if svc else 0}/{self.part.replicas} replicas running"
        addresses = dict(self.nodes(ctx))
        for node in tasks:
            try:
                requests.get(f"http://{addresses[node]}:{APP_PORT}/", timeout=2).raise_for_status()
            except (requests.RequestException, KeyError) as e:
                return f"HTTP on {node}:{APP_PORT}: {type(e).__name__}"
        return store_problem(cli, addresses) if self.gluster else None

    def wait_healthy(self, ctx: LabContext, timeout: float = 120.0) -> None:
        problem: str | None = "not checked"
        deadline = time.monotonic() + timeout
        for _ in range(int(timeout) + 2):
            problem = self.problem(ctx)
            if problem is None:
                if self.transport == "ssh":  # and over SSH: lab up fails here rather than the first experiment
                    LabSsh(ctx.name).check_hosts([(n, ip, ("docker.service",)) for n, ip in self.nodes(ctx)])
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(1.0)
        raise LabError(f"swarm of lab {ctx.name} not healthy after {timeout:.0f} s: {problem}")

    # -- describe ------------------------------------------------------------------------------------
    def inventory(self, ctx: LabContext) -> tuple[list[Node], list[Cluster]]:
        main = ctx.network_name
        nodes, members = [], []
        managers, workers = self.managers(ctx), self.workers(ctx)
        for group, role in ((managers, "swarm-manager"), (workers, "swarm-worker")):
            for name, ip in group:
                url = LabSsh(ctx.name).url(ip) if self.transport == "ssh" else f"docker://{name}"
                nodes.append(Node(name=name, url=url, roles=[role], addresses={main: ip}))
                endpoints = {"http": f"http://{ip}:{APP_PORT}"}
                if self.gluster:
                    endpoints["store"] = f"http://{ip}:{STORE_PORT}"
                if role == "swarm-manager":
                    endpoints["swarm"] = f"tcp://{ip}:2377"
                members.append(Member(name=name, node=name, endpoints=endpoints))
        settings = {
            "managers": [n for n, _ in managers],
            "workers": [n for n, _ in workers],
            "service": SERVICE,
            "replicas": self.part.replicas,
            "port": APP_PORT,
        }
        if self.gluster:  # the stateful service: its files are STORE_DIR/KEY on the gluster cluster's volume
            settings["store"] = {"service": STORE_SERVICE, "port": STORE_PORT, "volume": "gluster", "dir": STORE_DIR}
        budget = (len(managers) - 1) // 2
        cluster = Cluster(name="swarm", type="swarm", members=members, failure_budget=budget, settings=settings)
        return nodes, [cluster]

    def status(self, ctx: LabContext) -> list[StatusRow]:
        states = {c.name: c.status for c in ctx.containers()}
        seen: dict[str, SwarmNode] = {}
        error = "no manager answers"
        for name, _ in self.managers(ctx):
            if states.get(name) != "running":
                continue
            try:
                seen = {n.hostname: n for n in self._cli(name, timeout=5).nodes()}
                break
            except TargetError as e:
                error = str(e)[-80:]
        rows = []
        for name, ip in self.nodes(ctx):
            n = seen.get(name)
            if n is None:
                rows.append(StatusRow(name, "swarm node", ip, states.get(name, "missing"), "unknown", error))
                continue
            role = f"swarm {n.role}"
            detail = f"{n.availability}, {n.manager_status or 'worker'}, engine {n.engine}"
            rows.append(StatusRow(name, role, ip, states.get(name, "missing"), n.status.lower(), detail))
        return rows


def _join(name: str, ip: str, remote: str, token: str) -> None:
    """Join a node; the token travels in the exec's environment, never in a command line or a message."""
    cmd = f'docker swarm join --token "$HADRILL_JOIN_TOKEN" --advertise-addr {ip} --listen-addr {ip}:2377 {remote}'
    rc, out = container(name).exec_run(
        ["timeout", "60", "sh", "-c", cmd], environment={"HADRILL_JOIN_TOKEN": token}, demux=False
    )
    if rc != 0:
        text = (out or b"").decode(errors="replace").replace(token, "<token>").strip()[-300:]
        raise LabError(f"swarm: {name} could not join {remote}: {shlex.quote(text)}")


def _wait(what: str, done: Callable[[], bool], timeout: float, interval: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / interval) + 1):
        try:
            if done():
                return
        except TargetError:
            pass
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise LabError(f"swarm: {what}: not true after {timeout:.0f} s")

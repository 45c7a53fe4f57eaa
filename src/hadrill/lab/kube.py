"""The lab's Kubernetes: an HA control plane built from the Go module proxy, with kwok workers.

kind cannot run here (its node containers are privileged), so the lab builds what kind's HA layout
runs, shaped by the same kind config (``kind-configs/ha.yaml``):

- one container per control-plane node (``<lab>-control-plane``, ``<lab>-control-plane2``...) running a
  stacked etcd member, kube-apiserver, kube-controller-manager and kube-scheduler (leader election on)
  under a small supervisor that restarts a daemon which exits, as the kubelet restarts a static pod:
  killing the container kills the whole master;
- ``<lab>-external-load-balancer``: haproxy in TCP mode in front of the API servers, health-checked on
  /readyz, as kind's;
- the workers are Node objects (``<lab>-worker``, ``<lab>-worker2``...) that kwok (``<lab>-kwok``) keeps
  Ready and whose pods it marks Running: scheduling, Deployments and evictions behave as on a real
  cluster, without a container runtime.

Containers carry kind's labels (``io.x-k8s.kind.cluster``, ``io.x-k8s.kind.role``) besides the lab's.
The PKI is the harness's (:mod:`.kube_pki`); the admin kubeconfig is ``state_dir()/labs/<lab>/kubeconfig``.
"""

from __future__ import annotations

import ipaddress
import shlex
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hadrill.clients.etcd import EtcdClient
from hadrill.clients.kube import KubeApi, KubeApiError, lease_holder, ready_nodes
from hadrill.errors import ConfigError, LabError, TargetError
from hadrill.inventory import Cluster, Member, Node, TLSFiles
from hadrill.lab.gobuild import KWOK_VERSION, ensure_binaries, etcd_binaries, kubernetes_binaries, kwok_binaries
from hadrill.lab.images import ImageSpec
from hadrill.lab.kindconfig import load_kind_config
from hadrill.lab.kube_pki import KubePKI, ensure_pki, scrape_dir, write_scrape_client
from hadrill.lab.labfile import KubernetesPart
from hadrill.lab.runtime import LabContext, StatusRow
from hadrill.paths import state_dir
from hadrill.progress import Progress

__all__ = ["KIND_CLUSTER_LABEL", "KIND_ROLE_LABEL", "KubeService"]

# kind's external load balancer: haproxy alone, its configuration mounted (the kubeadm mode's pair are
# hosts running haproxy and keepalived as units: :mod:`hadrill.lab.kubeadm_lb`)
LB_IMAGE = ImageSpec(
    name="kube-lb", packages=("ca-certificates", "iproute2", "procps", "iptables", "netbase", "haproxy")
)

KIND_CLUSTER_LABEL = "io.x-k8s.kind.cluster"
KIND_ROLE_LABEL = "io.x-k8s.kind.role"
API_PORT = 6443
_LB_OFFSET = 100  # the load balancer at .100, control planes at .101..., kwok at .120
_CP_OFFSET = 100
_KWOK_OFFSET = 120
PKI = "/etc/kubernetes/pki"
_BASE = ("ca-certificates", "iproute2", "procps", "iptables", "netbase")
_REPO = Path(__file__).resolve().parents[3]
KWOK_ANNOTATION = "kwok.x-k8s.io/node"
BACKUP_DIR = "/var/backups/etcd"

SUPERVISOR = r"""#!/bin/bash
# Runs a control-plane node's daemons, given as NAME 'COMMAND LINE' pairs, each logged to
# /var/log/kube/NAME.log. A daemon that exits starts again after 1 s, as the kubelet restarts a static pod.
set -u
mkdir -p /var/log/kube
supervise() {
  local name=$1 cmd=$2 pid= rc=
  trap '[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null; wait; exit 0' TERM
  while true; do
    echo "$(date -u +%FT%TZ) start $name" >>/var/log/kube/supervisor.log
    bash -c "exec $cmd" >>"/var/log/kube/$name.log" 2>&1 &
    pid=$!
    wait "$pid"
    rc=$?
    echo "$(date -u +%FT%TZ) $name exited ($rc)" >>/var/log/kube/supervisor.log
    sleep 1
  done
}
while [ $# -ge 2 ]; do supervise "$1" "$2" & shift 2; done
trap 'kill -TERM $(jobs -p) 2>/dev/null; wait; exit 0' TERM INT
wait
"""


def _kind_name(base: str, index: int) -> str:
    """kind's node names: ``x``, ``x2``, ``x3``..."""
    return base if index == 1 else f"{base}{index}"


class HealthWait:
    """Waits for a cluster's conditions one after another, all against one deadline set when it is made:
    a slow first condition leaves less time for the next, so the whole wait is bounded by ``timeout``."""

    def __init__(self, lab: str, timeout: float) -> None:
        self.lab, self.timeout = lab, timeout
        self.deadline = time.monotonic() + timeout

    def __call__(self, what: str, problem: Callable[[], str | None]) -> None:
        """Ask ``problem`` every second until it finds none (None); a TargetError is the problem found."""
        last = "not checked"
        while time.monotonic() < self.deadline:
            try:
                found = problem()
            except TargetError as e:
                found = str(e)
            if found is None:
                return
            last = found
            time.sleep(1.0)
        raise LabError(f"Kubernetes of lab {self.lab}: {what} not true after {self.timeout:.0f} s: {last[-300:]}")


class KubeService:
    """Builds the binaries and images, starts the nodes, and describes the cluster for the inventory."""

    name = "kubernetes"

    def __init__(self, part: KubernetesPart, base_dir: Path | None = None, progress: Progress | None = None) -> None:
        self.part = part
        self.base_dir = base_dir or Path.cwd()
        self.progress = progress or Progress(quiet=True)
        self.kind = load_kind_config(self._kind_path())
        self.service_ip = str(ipaddress.ip_network(self.kind.networking.service_subnet).network_address + 1)

    def _kind_path(self) -> Path:
        p = Path(self.part.kind_config)
        cands = (p,) if p.is_absolute() else (self.base_dir / p, _REPO / p, _REPO / "kind-configs" / p.name)
        for cand in cands:
            try:
                if cand.exists():
                    return cand  # load_kind_config says what is wrong with it if it is not a regular file
            except (OSError, ValueError):
                return cand
        raise ConfigError(str(cands[0]), "", "an existing kind config file (the lab file's kubernetes.kind_config, "
                          "relative to the lab file)")  # fmt: skip

    # -- images ------------------------------------------------------------------------------------
    def images(self) -> list[ImageSpec]:
        """Build (or find cached) the Go binaries, then describe the images that carry them."""
        bins = ensure_binaries(
            [*kubernetes_binaries(self.part.version), *etcd_binaries(self.part.etcd_version), *kwok_binaries()],
            progress=self.progress,
        )
        node = {f"/usr/local/bin/{n}": str(bins[n]) for n in bins if n != "kwok"}
        supervisor = {"/usr/local/bin/kube-node": SUPERVISOR}
        return [
            ImageSpec(name="kube-node", packages=_BASE, files=supervisor, binaries=node),
            LB_IMAGE,
            ImageSpec(name="kwok", packages=_BASE, binaries={"/usr/local/bin/kwok": str(bins["kwok"])}),
        ]

    def _image(self, name: str) -> str:
        return next(i.ref for i in self.images() if i.name == name)

    # -- shape -------------------------------------------------------------------------------------
    def control_planes(self, ctx: LabContext) -> list[tuple[str, str]]:
        n = self.kind.control_planes
        return [(_kind_name(f"{ctx.name}-control-plane", i), ctx.ip(_CP_OFFSET + i)) for i in range(1, n + 1)]

    def probe_targets(self, ctx: LabContext) -> list[tuple[str, str]]:
        """The API servers, for the monitoring's TCP probe (their /metrics wants a client certificate)."""
        return [("kube-apiserver", f"{ip}:{API_PORT}") for _, ip in self.control_planes(ctx)]

    def kube_metrics_targets(self, ctx: LabContext) -> list[tuple[str, str]]:
        """The API servers' /metrics (the addresses the TCP probe reaches), scraped with the monitoring's
        client certificate (:meth:`scrape_client`)."""
        return self.probe_targets(ctx)

    def scrape_client(self, ctx: LabContext, ca_cert: bytes, ca_key: bytes) -> None:
        """The monitoring's client certificate, signed by the cluster CA (read by its Prometheus)."""
        write_scrape_client(scrape_dir(ctx.name), ca_cert, ca_key)

    def workers(self, ctx: LabContext) -> list[str]:
        return [_kind_name(f"{ctx.name}-worker", i) for i in range(1, self.kind.workers + 1)]

    def lb(self, ctx: LabContext) -> tuple[str, str]:
        return f"{ctx.name}-external-load-balancer", ctx.ip(_LB_OFFSET)

    def api_url(self, ctx: LabContext) -> str:
        return f"https://{self.lb(ctx)[1]}:{API_PORT}"

    def state(self, ctx: LabContext) -> Path:
        return state_dir() / "labs" / ctx.name

    def kubeconfig_path(self, ctx: LabContext) -> Path:
        return self.state(ctx) / "kubeconfig"

    def pki(self, ctx: LabContext) -> KubePKI:
        return KubePKI(self.state(ctx) / "pki")

    def admin_tls(self, ctx: LabContext) -> TLSFiles:
        return self.pki(ctx).admin_tls()

    def etcd_tls(self, ctx: LabContext) -> TLSFiles:
        return self.pki(ctx).etcd_tls()

    def api(self, ctx: LabContext, timeout: float = 2.0, server: str | None = None) -> KubeApi:
        return KubeApi(server or self.api_url(ctx), self.admin_tls(ctx), timeout=timeout)

    # -- up ----------------------------------------------------------------------------------------
    @staticmethod
    def _kind_labels(ctx: LabContext, role: str) -> dict[str, str]:
        """kind's own labels, so one provider finds the lab's nodes and a real kind cluster's alike."""
        return {KIND_CLUSTER_LABEL: ctx.name, KIND_ROLE_LABEL: role}

    def _node_command(self, name: str, ip: str, members: list[tuple[str, str]], token: str) -> list[str]:
        initial = ",".join(f"{n}=https://{a}:2380" for n, a in members)
        etcd = [
            "etcd", f"--name={name}", "--data-dir=/var/lib/etcd/data",
            "--listen-client-urls=https://0.0.0.0:2379", f"--advertise-client-urls=https://{ip}:2379",
            "--listen-peer-urls=https://0.0.0.0:2380", f"--initial-advertise-peer-urls=https://{ip}:2380",
            f"--initial-cluster={initial}", "--initial-cluster-state=new", f"--initial-cluster-token={token}",
            "--listen-metrics-urls=http://127.0.0.1:2381", "--heartbeat-interval=100", "--election-timeout=1000",
            f"--cert-file={PKI}/etcd/server.crt", f"--key-file={PKI}/etcd/server.key",
            f"--trusted-ca-file={PKI}/etcd/ca.crt", "--client-cert-auth=true",
            f"--peer-cert-file={PKI}/etcd/peer.crt", f"--peer-key-file={PKI}/etcd/peer.key",
            f"--peer-trusted-ca-file={PKI}/etcd/ca.crt", "--peer-client-cert-auth=true", "--snapshot-count=10000",
        ]  # fmt: skip
        net = self.kind.networking
        apiserver = [
            "kube-apiserver", f"--advertise-address={ip}", "--bind-address=0.0.0.0", f"--secure-port={API_PORT}",
            "--allow-privileged=true", "--authorization-mode=Node,RBAC", f"--client-ca-file={PKI}/ca.crt",
            "--enable-admission-plugins=NodeRestriction", "--enable-bootstrap-token-auth=true",
            "--etcd-servers=https://127.0.0.1:2379", f"--etcd-cafile={PKI}/etcd/ca.crt",
            f"--etcd-certfile={PKI}/apiserver-etcd-client.crt", f"--etcd-keyfile={PKI}/apiserver-etcd-client.key",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={PKI}/sa.pub", f"--service-account-signing-key-file={PKI}/sa.key",
            f"--service-cluster-ip-range={net.service_subnet}", f"--tls-cert-file={PKI}/apiserver.crt",
            f"--tls-private-key-file={PKI}/apiserver.key", "--profiling=false",
        ]  # fmt: skip
        common = ["--bind-address=127.0.0.1", "--leader-elect=true", "--profiling=false"]
        kcm_conf = f"{PKI}/controller-manager.conf"
        kcm = [
            "kube-controller-manager", *common, f"--kubeconfig={kcm_conf}",
            f"--authentication-kubeconfig={kcm_conf}", f"--authorization-kubeconfig={kcm_conf}",
            f"--cluster-signing-cert-file={PKI}/ca.crt", f"--cluster-signing-key-file={PKI}/ca.key",
            f"--root-ca-file={PKI}/ca.crt", f"--service-account-private-key-file={PKI}/sa.key",
            "--use-service-account-credentials=true", "--controllers=*,bootstrapsigner,tokencleaner",
            "--allocate-node-cidrs=true", f"--cluster-cidr={net.pod_subnet}",
            f"--service-cluster-ip-range={net.service_subnet}",
        ]  # fmt: skip
        sched_conf = f"{PKI}/scheduler.conf"
        sched = [
            "kube-scheduler", *common, f"--kubeconfig={sched_conf}",
            f"--authentication-kubeconfig={sched_conf}", f"--authorization-kubeconfig={sched_conf}",
        ]  # fmt: skip
        # What the backup CronJob does on a real cluster (kwok runs no pods): a snapshot of the local
        # member into /var/backups/etcd 20 s after start and every 30 min, the last 3 kept.
        backup_loop = (
            f"for i in $(seq 1 1000); do sleep 20; mkdir -p {BACKUP_DIR}; "
            f"if etcdctl --endpoints=https://127.0.0.1:2379 --cacert={PKI}/etcd/ca.crt --cert={PKI}/etcd/client.crt "
            f"--key={PKI}/etcd/client.key --command-timeout=60s snapshot save {BACKUP_DIR}/snapshot.part && "
            f"mv {BACKUP_DIR}/snapshot.part {BACKUP_DIR}/snapshot-$(date -u +%Y%m%dT%H%M%SZ).db; then "
            f"ls -1t {BACKUP_DIR}/snapshot-*.db | tail -n +4 | xargs -r rm -f; sleep 1780; fi; done"
        )  # a failed snapshot (etcd not ready yet) is retried 20 s later
        backup = ["bash", "-c", backup_loop]
        daemons = {
            "etcd": etcd, "kube-apiserver": apiserver, "kube-controller-manager": kcm, "kube-scheduler": sched,
            "etcd-backup": backup,
        }  # fmt: skip
        return ["/usr/local/bin/kube-node", *[x for d, cmd in daemons.items() for x in (d, shlex.join(cmd))]]

    def _haproxy_cfg(self, ctx: LabContext) -> str:
        servers = "\n".join(f"  server {n} {ip}:{API_PORT}" for n, ip in self.control_planes(ctx))
        return f"""# {ctx.name}: kube-apiservers behind one address, as kind's external load balancer
global
  maxconn 4096
defaults
  mode tcp
  timeout connect 2s
  timeout client 1h
  timeout server 1h
frontend control-plane
  bind *:{API_PORT}
  default_backend kube-apiservers
backend kube-apiservers
  option httpchk GET /readyz
  http-check expect status 200
  default-server check check-ssl verify none inter 1s fall 2 rise 1 on-marked-down shutdown-sessions
{servers}
"""

    def _ensure_lb(self, ctx: LabContext, haproxy: Path) -> None:
        """The load balancer's container, serving the haproxy config written at ``haproxy``."""
        lb_name, lb_ip = self.lb(ctx)
        ctx.ensure_container(
            lb_name, self._image("kube-lb"), "external-load-balancer", lb_ip, init=True, cap_add=["NET_ADMIN"],
            command=["haproxy", "-W", "-db", "-f", "/etc/haproxy/haproxy.cfg"],
            volumes={str(haproxy): {"bind": "/etc/haproxy/haproxy.cfg", "mode": "ro"}},
            labels=self._kind_labels(ctx, "external-load-balancer"),
        )  # fmt: skip

    def up(self, ctx: LabContext) -> None:
        members = self.control_planes(ctx)
        lb_ip = self.lb(ctx)[1]
        state = self.state(ctx)
        pki = ensure_pki(
            state / "pki", cluster=ctx.name, lb=lb_ip, nodes=dict(members), kubernetes_service_ip=self.service_ip
        )
        pki.write_kubeconfig(self.kubeconfig_path(ctx), ctx.name, self.api_url(ctx))
        self.scrape_client(ctx, Path(pki.path("ca.crt")).read_bytes(), Path(pki.path("ca.key")).read_bytes())
        haproxy = state / "haproxy.cfg"
        haproxy.write_text(self._haproxy_cfg(ctx))
        pki_mount = {str(pki.dir): {"bind": PKI, "mode": "ro"}}
        node_image = self._image("kube-node")
        for name, ip in members:
            command = self._node_command(name, ip, members, f"{ctx.name}-etcd")
            ctx.ensure_container(
                name, node_image, "control-plane", ip, command=command, init=True, cap_add=["NET_ADMIN"],
                volumes={f"{name}-etcd": {"bind": "/var/lib/etcd", "mode": "rw"}, **pki_mount},
                labels=self._kind_labels(ctx, "control-plane"),
            )  # fmt: skip
        self._ensure_lb(ctx, haproxy)
        kwok = [
            "kwok", f"--kubeconfig={PKI}/kwok.conf", "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={KWOK_ANNOTATION}=fake", f"--node-ip={ctx.ip(_KWOK_OFFSET)}",
            f"--cidr={self.kind.networking.pod_subnet}",
            "--node-lease-duration-seconds=40",  # node leases: else Nodes (and their pods) flap NotReady
        ]  # fmt: skip
        ctx.ensure_container(
            f"{ctx.name}-kwok", self._image("kwok"), "kwok", ctx.ip(_KWOK_OFFSET), command=kwok, init=True,
            volumes=pki_mount,
        )  # fmt: skip

    def down(self, ctx: LabContext) -> None:
        """Remove the lab's PKI, kubeconfig and haproxy config (the containers go by label)."""
        state = self.state(ctx)
        shutil.rmtree(state / "pki", ignore_errors=True)
        shutil.rmtree(scrape_dir(ctx.name), ignore_errors=True)
        for f in ("kubeconfig", "haproxy.cfg"):
            (state / f).unlink(missing_ok=True)

    # -- health ------------------------------------------------------------------------------------
    def register_workers(self, ctx: LabContext) -> None:
        """Create the worker Node objects kwok manages (idempotent)."""
        api = self.api(ctx, timeout=5.0)
        kind_workers = [n for n in self.kind.nodes if n.role == "worker"]
        for name, spec in zip(self.workers(ctx), kind_workers, strict=True):
            labels = {
                "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                "type": "kwok", **spec.labels,
            }  # fmt: skip
            capacity = {"cpu": "8", "memory": "32Gi", "pods": "110"}
            node = {
                "apiVersion": "v1", "kind": "Node",
                "metadata": {"name": name, "labels": labels, "annotations": {KWOK_ANNOTATION: "fake"}},
                "status": {"capacity": capacity, "allocatable": capacity,
                           "nodeInfo": {"kubeletVersion": f"{self.part.version}-kwok", "architecture": "amd64",
                                        "operatingSystem": "linux"}},
            }  # fmt: skip
            api.create("/api/v1/nodes", node)

    def etcd_clients(self, ctx: LabContext, timeout: float = 1.0) -> dict[str, EtcdClient]:
        tls = self.etcd_tls(ctx)
        return {n: EtcdClient(f"https://{ip}:2379", timeout=timeout, tls=tls) for n, ip in self.control_planes(ctx)}

    def _etcd_problem(self, ctx: LabContext) -> str | None:
        try:
            statuses = [c.status() for c in self.etcd_clients(ctx).values()]
        except TargetError as e:
            return str(e)
        leaders = {s.leader for s in statuses}
        return None if len(leaders) == 1 and leaders.isdisjoint({"", "0"}) else f"etcd leaders: {sorted(leaders)}"

    def lease_holders(self, ctx: LabContext, api: KubeApi | None = None) -> dict[str, str]:
        """Which node holds the kube-controller-manager and kube-scheduler leases ("" when none)."""
        return {n: lease_holder(api or self.api(ctx), n) for n in ("kube-controller-manager", "kube-scheduler")}

    def ready_workers(self, ctx: LabContext, api: KubeApi | None = None) -> list[str]:
        """The worker Nodes whose Ready condition is True (kwok keeps them so while it runs)."""
        ready = ready_nodes(api or self.api(ctx))
        return [w for w in self.workers(ctx) if w in ready]

    def _lb_problem(self, ctx: LabContext) -> str | None:
        body = self.api(ctx).readyz()
        return None if body == "ok" else body

    def _apiservers_problem(self, ctx: LabContext) -> str | None:
        for name, ip in self.control_planes(ctx):
            try:
                self.api(ctx, 2.0, f"https://{ip}:{API_PORT}").readyz()
            except KubeApiError as e:
                return f"kube-apiserver of {name}: {e}"
        return None

    def _leases_problem(self, ctx: LabContext) -> str | None:
        missing = [k for k, v in self.lease_holders(ctx).items() if not v]
        return f"no holder for {', '.join(missing)}" if missing else None

    def _wait_control_plane(self, ctx: LabContext, wait: HealthWait) -> None:
        """etcd has a leader, then /readyz answers through the LB, then on every control-plane node."""
        wait("etcd members healthy", lambda: self._etcd_problem(ctx))
        wait("/readyz through the load balancer", lambda: self._lb_problem(ctx))
        wait("every kube-apiserver ready", lambda: self._apiservers_problem(ctx))

    def wait_healthy(self, ctx: LabContext, timeout: float = 300.0) -> None:
        """etcd has a leader, /readyz answers through the LB and on every node, both leases are held, and
        every worker is Ready (its Node object is created here, once the API answers)."""
        wait = HealthWait(ctx.name, timeout)
        self._wait_control_plane(ctx, wait)
        wait("worker Nodes registered", lambda: self.register_workers(ctx))
        wait("controller-manager and scheduler leases held", lambda: self._leases_problem(ctx))

        def workers_problem() -> str | None:
            missing = set(self.workers(ctx)) - set(self.ready_workers(ctx))
            return f"workers not Ready: {', '.join(sorted(missing))}" if missing else None

        wait("worker Nodes Ready", workers_problem)

    # -- inventory and status ---------------------------------------------------------------------
    def _nodes(self, ctx: LabContext, names_ips: list[tuple[str, str]], *roles: str) -> list[Node]:
        """Inventory nodes for containers of the lab, with their address on its network."""
        net = ctx.network_name
        return [Node(name=n, url=f"docker://{n}", roles=list(roles), addresses={net: ip}) for n, ip in names_ips]

    def inventory(self, ctx: LabContext) -> tuple[list[Node], list[Cluster]]:
        lb_name = self.lb(ctx)[0]
        nodes = [
            *self._nodes(ctx, self.control_planes(ctx), "control-plane", "etcd"),
            *self._nodes(ctx, [self.lb(ctx)], "load-balancer"),
            *self._nodes(ctx, [(f"{ctx.name}-kwok", ctx.ip(_KWOK_OFFSET))], "kwok"),
        ]
        settings = {
            "api": self.api_url(ctx), "kubeconfig": str(self.kubeconfig_path(ctx)), "workers": self.workers(ctx),
            "version": self.part.version, "etcd_version": self.part.etcd_version, "kwok_version": KWOK_VERSION,
            "load_balancer": lb_name,
        }  # fmt: skip
        return nodes, self._clusters(ctx, settings)

    def _clusters(self, ctx: LabContext, settings: dict[str, Any]) -> list[Cluster]:
        """The Kubernetes cluster (its API servers) and its stacked etcd, both on the control-plane nodes."""
        budget = (self.kind.control_planes - 1) // 2
        api_members = [
            Member(name=n, node=n, endpoints={"api": f"https://{ip}:{API_PORT}", "etcd": f"https://{ip}:2379"})
            for n, ip in self.control_planes(ctx)
        ]
        etcd_members = [
            Member(name=n, node=n, endpoints={"client": f"https://{ip}:2379", "peer": f"https://{ip}:2380"})
            for n, ip in self.control_planes(ctx)
        ]
        tls = self.admin_tls(ctx)
        return [
            Cluster(name="kubernetes", type="kubernetes", members=api_members, failure_budget=budget, tls=tls,
                    settings=settings),
            Cluster(name="k8s-etcd", type="etcd", members=etcd_members, failure_budget=budget, tls=self.etcd_tls(ctx)),
        ]  # fmt: skip

    def status(self, ctx: LabContext) -> list[StatusRow]:
        states = {c.name: c.status for c in ctx.containers()}
        try:
            holders = self.lease_holders(ctx, self.api(ctx, timeout=1.0))
        except TargetError:
            holders = {}
        clients = self.etcd_clients(ctx)
        rows = []
        for name, ip in self.control_planes(ctx):
            parts, health = [], "healthy"
            try:
                st = clients[name].status()
                parts.append("etcd leader" if st.leader == st.member_id else "etcd follower")
            except TargetError:
                parts.append("etcd unreachable")
                health = "degraded"
            try:
                parts.append(f"apiserver {self.api(ctx, 1.0, f'https://{ip}:{API_PORT}').readyz()}")
            except KubeApiError as e:
                parts.append(f"apiserver not ready ({e.status or 'no answer'})")
                health = "degraded"
            parts += [f"holds {lease}" for lease, holder in holders.items() if holder == name]
            if states.get(name) != "running":
                health = "down"
            rows.append(StatusRow(name, "control-plane", ip, states.get(name, "missing"), health, ", ".join(parts)))
        rows.append(self._lb_row(ctx, states))
        kwok, workers = f"{ctx.name}-kwok", self.workers(ctx)
        try:
            detail = f"{len(self.ready_workers(ctx, self.api(ctx, 1.0)))}/{len(workers)} workers Ready"
        except TargetError:
            detail = f"{len(workers)} workers, API unreachable"
        state = states.get(kwok, "missing")
        health = "healthy" if state == "running" else "down"
        rows.append(StatusRow(kwok, "kwok", ctx.ip(_KWOK_OFFSET), state, health, detail))
        return rows

    def _lb_row(self, ctx: LabContext, states: dict[str, str]) -> StatusRow:
        lb_name, lb_ip = self.lb(ctx)
        try:
            lb_detail, lb_health = f"/readyz {self.api(ctx, 1.0).readyz()}", "healthy"
        except KubeApiError as e:
            lb_detail, lb_health = f"/readyz failed: {str(e)[-60:]}", "unreachable"
        return StatusRow(lb_name, "load-balancer", lb_ip, states.get(lb_name, "missing"), lb_health, lb_detail)

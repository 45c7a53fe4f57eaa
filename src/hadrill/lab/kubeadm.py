"""The lab's real Kubernetes: systemd nodes with containerd and a kubelet, joined by kubeadm.

``kubernetes: {mode: kubeadm, workers: 2}`` in the lab file. The shape is the kind config's (3
control-plane nodes for ``ha.yaml``, 1 for ``single.yaml``) with ``workers`` real worker nodes:

- two haproxy load balancers in front of the API servers and a keepalived VIP between them, hosts
  running both as systemd units (:mod:`.kubeadm_lb`); kubeadm's ``controlPlaneEndpoint`` is the VIP;
- ``kubeadm init`` on the first master (static-pod control plane and stacked etcd, certificates
  uploaded), ``kubeadm join --control-plane`` on the others one at a time, ``kubeadm join`` on the
  workers meanwhile. Nothing is pulled: every image is imported into each node's containerd
  (:mod:`.kubeadm_images`);
- pod networking as kind's first CNI did it: the bridge and host-local plugins on each node's pod CIDR
  (allocated by the controller-manager) and a route to every other node's pod CIDR through that node;
  kube-proxy in iptables mode.

Each node's kubelet keeps its pods under its own cgroup root (``/kubelet-<node>``): the nodes share the
host's cgroup namespace, and a kubelet removes the pod cgroups it does not know under its root.
The admin kubeconfig kubeadm wrote is copied to ``state_dir()/labs/<lab>/kubeconfig``.

Every node (masters, workers, load balancers) is a systemd host with sshd. With ``transport: ssh`` the
lab installs its own key on each and pins their host keys (:mod:`.ssh`), and the inventory reaches them
as ``ssh://root@ADDR``, as it would a real fleet; ``inventory-docker.yaml`` keeps the engine's view.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import secrets
import shutil
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from docker.errors import APIError, NotFound
from docker.models.containers import Container

from hadrill.errors import LabError, TargetError
from hadrill.inventory import Cluster, Node, TLSFiles
from hadrill.lab.gobuild import KUBE_NODE, ensure_binaries, etcd_binaries, go_build_main, kubernetes_binaries
from hadrill.lab.hosts import host_run_options, wait_system_running
from hadrill.lab.images import ImageSpec, ensure_image
from hadrill.lab.kube import API_PORT, HealthWait, KubeService, _kind_name
from hadrill.lab.kube_app import APP_NODE_PORT, app_problem, deploy_app
from hadrill.lab.kube_backup import deploy_backup
from hadrill.lab.kube_metrics import KUBELET_PORT, grant_kubelet_metrics
from hadrill.lab.kube_pki import scrape_dir
from hadrill.lab.kubeadm_images import (
    APP_IMAGE,
    COREDNS_PLUGINS,
    COREDNS_VERSION,
    PAUSE_IMAGE,
    REPOSITORY,
    ScratchImage,
    app_image,
    ensure_scratch_image,
    image_tar,
    kube_proxy_image,
    node_image,
    pause_binary,
)
from hadrill.lab.kubeadm_lb import LB_HOST_IMAGE, LB_UNITS, ApiLoadBalancers
from hadrill.lab.labfile import KubernetesPart
from hadrill.lab.runtime import LabContext, StatusRow
from hadrill.lab.ssh import LabSsh
from hadrill.progress import Progress

__all__ = ["KubeadmService"]

_WORKER_OFFSET = 110  # workers at .111...; the load balancer at .100, control planes at .101...
_IMAGES_IN_NODE = "/opt/hadrill/images"
_IMPORTED = "/var/lib/containerd/hadrill-imported"  # on the node's containerd volume: survives restarts
_CONFIG = "/etc/hadrill/kubeadm.yaml"
_RESOLV_CONF = "/etc/hadrill/resolv.conf"
_STATIC_PODS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")


def _run(c: Container, script: str, what: str) -> str:
    """Run a shell script in a node; LabError with the output's tail when it fails."""
    try:
        rc, out = c.exec_run(["sh", "-c", script], demux=False)
    except (APIError, NotFound) as e:
        raise LabError(f"node {c.name}: cannot {what}: {e}") from e
    text = (out or b"").decode("utf-8", "replace")
    if rc != 0:
        raise LabError(f"node {c.name}: {what} failed (exit {rc}): {text[-1500:]}")
    return text


def _put(c: Container, path: str, content: str, mode: int = 0o644) -> None:
    """Write a file into a node (its folder is made first)."""
    data = content.encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(Path(path).name)
        info.size, info.mode, info.mtime = len(data), mode, int(time.time())
        tar.addfile(info, io.BytesIO(data))
    _run(c, f"mkdir -p {Path(path).parent}", f"create {Path(path).parent}")
    c.put_archive(str(Path(path).parent), buf.getvalue())


def ca_cert_hash(pem: bytes) -> str:
    """kubeadm's ``--discovery-token-ca-cert-hash``: sha256 of the CA's SubjectPublicKeyInfo."""
    spki = (
        x509.load_pem_x509_certificate(pem)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return "sha256:" + hashlib.sha256(spki).hexdigest()


def cni_conflist(pod_cidr: str) -> str:
    """The node's CNI network: a bridge with host-local addresses from its pod CIDR, masquerading out."""
    bridge = {
        "type": "bridge", "bridge": "cni0", "isGateway": True, "ipMasq": True, "hairpinMode": True,
        "ipam": {"type": "host-local", "ranges": [[{"subnet": pod_cidr}]], "routes": [{"dst": "0.0.0.0/0"}]},
    }  # fmt: skip
    plugins = [bridge, {"type": "portmap", "capabilities": {"portMappings": True}}]
    return json.dumps({"cniVersion": "0.4.0", "name": "hadrill", "plugins": plugins}, indent=1)


class KubeadmService(KubeService):
    """Real nodes joined by kubeadm; the rest (shape, load balancer, leases) as :class:`KubeService`."""

    name = "kubernetes"

    def __init__(
        self, part: KubernetesPart, base_dir: Path | None = None, progress: Progress | None = None,
        transport: str = "docker",
    ) -> None:  # fmt: skip
        super().__init__(part, base_dir, progress)
        self.transport = transport
        self.worker_count = part.workers if isinstance(part.workers, int) else self.kind.workers
        self._bins: dict[str, Path] = {}

    # -- images ------------------------------------------------------------------------------------
    def binaries(self) -> dict[str, Path]:
        if not self._bins:
            wanted = [
                *kubernetes_binaries(self.part.version), *kubernetes_binaries(self.part.version, KUBE_NODE),
                *etcd_binaries(self.part.etcd_version),
            ]  # fmt: skip
            bins = ensure_binaries(wanted, progress=self.progress)
            bins["coredns"] = go_build_main(  # once, then cached
                "coredns-kubeadm", "github.com/coredns/coredns", COREDNS_VERSION,
                [f"github.com/coredns/coredns/plugin/{p}" for p in COREDNS_PLUGINS],
                "github.com/coredns/coredns/coremain.Run",
            )  # fmt: skip
            self._bins = bins
        return self._bins

    def images(self) -> list[ImageSpec]:
        """The Docker images the lab runs or imports (built by the lab); the scratch ones are in up()."""
        bins = self.binaries()
        return [
            node_image(bins),
            LB_HOST_IMAGE,
            kube_proxy_image(bins["kube-proxy"]),
            app_image(),
        ]  # fmt: skip

    @property
    def etcd_tag(self) -> str:
        return f"{self.part.etcd_version.removeprefix('v')}-0"

    def _node_images(self, ctx: LabContext) -> tuple[list[Path], list[Path], list[Path]]:
        """Tag and save what the nodes' containerd runs: the tars of (masters only, every node, workers only:
        the application, which the masters' taint keeps off them)."""
        bins, v = self.binaries(), self.part.version
        client = ctx.client
        scratch = [
            ScratchImage(f"{REPOSITORY}/{n}:{v}", ((n, bins[n]),))
            for n in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
        ]
        # etcdutl too, as in registry.k8s.io/etcd: the restore drill runs it from this image on a master
        etcd = (("etcd", bins["etcd"]), ("etcdctl", bins["etcdctl"]), ("etcdutl", bins["etcdutl"]))
        scratch.append(ScratchImage(f"{REPOSITORY}/etcd:{self.etcd_tag}", etcd))
        control = [ensure_scratch_image(client, img) for img in scratch]
        pause = ScratchImage(PAUSE_IMAGE, (("pause", pause_binary()),), ("/usr/local/bin/pause",))
        coredns = ScratchImage(
            f"{REPOSITORY}/coredns:{COREDNS_VERSION}", (("coredns", bins["coredns"]),), ("/usr/local/bin/coredns",)
        )  # kubeadm's Deployment gives only the arguments: the image's entrypoint is the server
        common = [ensure_scratch_image(client, pause), ensure_scratch_image(client, coredns)]
        tagged = ((kube_proxy_image(bins["kube-proxy"]), f"{REPOSITORY}/kube-proxy:{v}"), (app_image(), APP_IMAGE))
        for spec, ref in tagged:
            built = ensure_image(client, spec, progress=self.progress)
            repo, tag = ref.rsplit(":", 1)
            client.images.get(built).tag(repo, tag)
            common.append(ref)
        app = common.pop()
        return [image_tar(client, r) for r in control], [image_tar(client, r) for r in common], [image_tar(client, app)]

    # -- shape -------------------------------------------------------------------------------------
    def workers(self, ctx: LabContext) -> list[str]:
        return [_kind_name(f"{ctx.name}-worker", i) for i in range(1, self.worker_count + 1)]

    def worker_nodes(self, ctx: LabContext) -> list[tuple[str, str]]:
        return [(n, ctx.ip(_WORKER_OFFSET + i)) for i, n in enumerate(self.workers(ctx), start=1)]

    def nodes(self, ctx: LabContext) -> list[tuple[str, str]]:
        return self.control_planes(ctx) + self.worker_nodes(ctx)

    def kube_metrics_targets(self, ctx: LabContext) -> list[tuple[str, str]]:
        """The API servers' and every kubelet's /metrics (the kubelets' read is granted by
        :func:`grant_kubelet_metrics`)."""
        return [*super().kube_metrics_targets(ctx), *(("kubelet", f"{ip}:{KUBELET_PORT}") for _, ip in self.nodes(ctx))]

    def _pki_dir(self, ctx: LabContext) -> Path:
        return self.state(ctx) / "kubeadm-pki"

    def admin_tls(self, ctx: LabContext) -> TLSFiles:
        d = self._pki_dir(ctx)
        return TLSFiles(ca=str(d / "ca.crt"), cert=str(d / "admin.crt"), key=str(d / "admin.key"))

    def etcd_tls(self, ctx: LabContext) -> TLSFiles:
        d = self._pki_dir(ctx)
        return TLSFiles(ca=str(d / "etcd-ca.crt"), cert=str(d / "etcd-client.crt"), key=str(d / "etcd-client.key"))

    # -- up ----------------------------------------------------------------------------------------
    def up(self, ctx: LabContext) -> None:
        t0 = time.monotonic()
        control_tars, common_tars, app_tars = self._node_images(ctx)
        self.progress.info(f"  kubeadm: node images ready in {time.monotonic() - t0:.1f} s")
        state = self.state(ctx)
        state.mkdir(parents=True, exist_ok=True)
        lb_ip = self.lb(ctx)[1]  # the API VIP
        lbs = ApiLoadBalancers(ctx)
        t_lb = time.monotonic()
        balancers = lbs.ensure(self._image("host-kube-lb"), self._kind_labels(ctx, "external-load-balancer"))
        haproxy_cfg = self._haproxy_cfg(ctx)
        image, tars = self._image("host-kubeadm-node"), control_tars[0].parent
        masters = {n for n, _ in self.control_planes(ctx)}
        containers: dict[str, Container] = {}
        for name, ip in self.nodes(ctx):
            opts = host_run_options()
            volumes = {
                **opts.pop("volumes"), f"{name}-containerd": {"bind": "/var/lib/containerd", "mode": "rw"},
                f"{name}-kubelet": {"bind": "/var/lib/kubelet", "mode": "rw"},
                str(tars): {"bind": _IMAGES_IN_NODE, "mode": "ro"},
            }  # fmt: skip
            role = "control-plane" if name in masters else "worker"
            containers[name] = ctx.ensure_container(
                name, image, role, ip, volumes=volumes, labels=self._kind_labels(ctx, role), **opts
            )

        def prepare(name: str) -> None:
            c = containers[name]
            wait_system_running(c, timeout=120)
            # Pods' upstream DNS (CoreDNS forwards there): not Docker's 127.0.0.11, which is a loop inside a
            # pod; the load balancer's address, where nothing answers on 53, keeps queries inside the lab.
            _put(c, _RESOLV_CONF, f"nameserver {lb_ip}\noptions timeout:1 attempts:1\n")
            wanted = [t.name for t in (control_tars if name in masters else app_tars) + common_tars]
            imported = _run(c, f"cat {_IMPORTED} 2>/dev/null || true", "read its imported images").split()
            for tar in wanted:
                if tar not in imported:
                    script = f"ctr -n k8s.io images import {_IMAGES_IN_NODE}/{tar} >/dev/null"
                    script += f" && echo {tar} >>{_IMPORTED}"
                    _run(c, script, f"import {tar} into containerd")

        t1 = time.monotonic()
        with ThreadPoolExecutor(max_workers=len(containers) + len(balancers)) as pool:
            lb_done = [pool.submit(lbs.configure, c, haproxy_cfg) for c in balancers.values()]
            list(pool.map(prepare, containers))
            for future in lb_done:
                future.result()
        self.progress.info(
            f"  kubeadm: nodes and load balancers booted, images imported in {time.monotonic() - t1:.1f} s"
        )
        if self.transport == "ssh":  # the lab's key on every host, their own host keys pinned
            hosts = {**containers, **balancers}
            addresses = dict([*self.nodes(ctx), *lbs.servers()])
            LabSsh(ctx.name).provision(list(hosts.values()), [addresses[n] for n in hosts])
        t_vip = time.monotonic()
        holder = lbs.wait_vip()  # elected while the nodes booted: kubeadm init reaches the API through it
        self.progress.info(
            f"  kubeadm: API VIP {lb_ip} on {holder} ({time.monotonic() - t_vip:.1f} s waited for it after the nodes, "
            f"{time.monotonic() - t_lb:.1f} s after the load balancers started)"
        )
        self._kubeadm(ctx, containers)
        self._pod_network(ctx, containers)
        if self.worker_count:
            deploy_app(self.api(ctx, timeout=5.0), APP_IMAGE)
        deploy_backup(self.api(ctx, timeout=5.0), f"{REPOSITORY}/etcd:{self.etcd_tag}", self.control_planes(ctx)[0][0])

    def app_url(self, ctx: LabContext) -> str:
        """The application through its NodePort Service, on the first worker's address ("" without workers)."""
        workers = self.worker_nodes(ctx)
        return f"http://{workers[0][1]}:{APP_NODE_PORT}/" if workers else ""

    def _node_registration(self, name: str) -> dict[str, Any]:
        return {
            "name": name, "criSocket": "unix:///run/containerd/containerd.sock", "imagePullPolicy": "Never",
            "ignorePreflightErrors": ["all"],
            "kubeletExtraArgs": [{"name": "cgroup-root", "value": f"/kubelet-{name}"}],
        }  # fmt: skip

    def _init_config(self, ctx: LabContext, name: str, ip: str, token: str, cert_key: str) -> str:
        net, lb_ip = self.kind.networking, self.lb(ctx)[1]
        init = {
            "apiVersion": "kubeadm.k8s.io/v1beta4", "kind": "InitConfiguration",
            "bootstrapTokens": [{"token": token, "ttl": "2h"}], "certificateKey": cert_key,
            "localAPIEndpoint": {"advertiseAddress": ip, "bindPort": API_PORT},
            "nodeRegistration": self._node_registration(name),
        }  # fmt: skip
        cluster = {
            "apiVersion": "kubeadm.k8s.io/v1beta4", "kind": "ClusterConfiguration",
            "kubernetesVersion": self.part.version, "clusterName": ctx.name,
            "controlPlaneEndpoint": f"{lb_ip}:{API_PORT}", "imageRepository": REPOSITORY,
            "etcd": {"local": {"imageTag": self.etcd_tag}},
            "networking": {"podSubnet": net.pod_subnet, "serviceSubnet": net.service_subnet},
            "apiServer": {"certSANs": [lb_ip, "127.0.0.1", "localhost"]},
        }  # fmt: skip
        kubelet = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            "cgroupDriver": "cgroupfs", "failSwapOn": False, "imageGCHighThresholdPercent": 100,
            "resolvConf": _RESOLV_CONF,
            # the host's disk is shared by every lab: never evict or collect the imported images
            "evictionHard": {"nodefs.available": "0%", "nodefs.inodesFree": "0%", "imagefs.available": "0%"},
        }  # fmt: skip
        proxy = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration", "mode": "iptables",
            "iptables": {"minSyncPeriod": "1s"},
            "conntrack": {"maxPerCore": 0},  # nf_conntrack_max is the host's: leave it
        }  # fmt: skip
        return yaml.safe_dump_all([init, cluster, kubelet, proxy], sort_keys=False)

    def _join_config(self, ctx: LabContext, name: str, ip: str, token: str, ca_hash: str, cert_key: str | None) -> str:
        join: dict[str, Any] = {
            "apiVersion": "kubeadm.k8s.io/v1beta4", "kind": "JoinConfiguration",
            "discovery": {"bootstrapToken": {"apiServerEndpoint": f"{self.lb(ctx)[1]}:{API_PORT}", "token": token,
                                             "caCertHashes": [ca_hash]}},
            "nodeRegistration": self._node_registration(name),
        }  # fmt: skip
        if cert_key is not None:
            join["controlPlane"] = {"localAPIEndpoint": {"advertiseAddress": ip, "bindPort": API_PORT},
                                    "certificateKey": cert_key}  # fmt: skip
        return yaml.safe_dump(join, sort_keys=False)

    def _kubeadm(self, ctx: LabContext, containers: dict[str, Container]) -> None:
        """init on the first master (unless done), then the joins; the kubelet enabled for reboots."""
        (first, first_ip), *others = self.control_planes(ctx)
        c1 = containers[first]
        token = f"{secrets.token_hex(3)}.{secrets.token_hex(8)}"
        cert_key = secrets.token_hex(32)
        done = "test -f /etc/kubernetes/kubelet.conf && echo yes || echo no"
        t0 = time.monotonic()
        if _run(c1, done, "check kubeadm init").strip() != "yes":
            _put(c1, _CONFIG, self._init_config(ctx, first, first_ip, token, cert_key), 0o600)
            _run(c1, f"kubeadm init --config {_CONFIG} --upload-certs >/var/log/kubeadm.log 2>&1 || "
                     "{ tail -40 /var/log/kubeadm.log; exit 1; }", "kubeadm init")  # fmt: skip
            self.progress.info(f"  kubeadm init on {first}: {time.monotonic() - t0:.1f} s")
        else:  # a later `up`: fresh join credentials, as an operator adds a node
            kc = "--kubeconfig /etc/kubernetes/admin.conf"
            _run(c1, f"kubeadm token create {token} --ttl 2h {kc} >/dev/null", "create a join token")
            _run(c1, f"kubeadm init phase upload-certs --upload-certs --certificate-key {cert_key} {kc} >/dev/null",
                 "upload the control-plane certificates")  # fmt: skip
        _run(c1, "systemctl enable kubelet >/dev/null 2>&1", "enable the kubelet")
        ca_cert = self._read(c1, "/etc/kubernetes/pki/ca.crt")
        ca_hash = ca_cert_hash(ca_cert)
        self._fetch_credentials(ctx, c1)
        self.scrape_client(ctx, ca_cert, self._read(c1, "/etc/kubernetes/pki/ca.key"))
        grant_kubelet_metrics(self.api(ctx, timeout=5.0))

        def join(name: str, ip: str, key: str | None) -> None:
            c = containers[name]
            if _run(c, done, "check kubeadm join").strip() == "yes":
                return
            t = time.monotonic()
            _put(c, _CONFIG, self._join_config(ctx, name, ip, token, ca_hash, key), 0o600)
            _run(c, f"kubeadm join --config {_CONFIG} >/var/log/kubeadm.log 2>&1 || "
                    "{ tail -40 /var/log/kubeadm.log; exit 1; }", "kubeadm join")  # fmt: skip
            _run(c, "systemctl enable kubelet >/dev/null 2>&1", "enable the kubelet")
            self.progress.info(f"  kubeadm join {name}: {time.monotonic() - t:.1f} s")

        with ThreadPoolExecutor(max_workers=1 + len(self.workers(ctx))) as pool:
            # masters one at a time (etcd adds one member at a time); workers meanwhile
            def masters() -> None:
                for n, ip in others:
                    join(n, ip, cert_key)

            jobs = [pool.submit(masters), *(pool.submit(join, n, ip, None) for n, ip in self.worker_nodes(ctx))]
            for job in jobs:
                job.result()

    @staticmethod
    def _read(c: Container, path: str) -> bytes:
        """A file's bytes from a node."""
        try:
            stream, _ = c.get_archive(path)
        except (APIError, NotFound) as e:
            raise LabError(f"node {c.name}: cannot read {path}: {e}") from e
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.next()
            fh = tar.extractfile(member) if member else None
            if fh is None:
                raise LabError(f"node {c.name}: {path} is not a file")
            return fh.read()

    def _fetch_credentials(self, ctx: LabContext, c: Container) -> None:
        """The admin kubeconfig kubeadm wrote (server: the load balancer), its client files, and an etcd
        client certificate for the harness's etcd probes (kubeadm's healthcheck client)."""
        admin = self._read(c, "/etc/kubernetes/admin.conf")
        path = self.kubeconfig_path(ctx)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(admin)
        path.chmod(0o600)
        conf = yaml.safe_load(admin)
        user, cluster = conf["users"][0]["user"], conf["clusters"][0]["cluster"]
        d = self._pki_dir(ctx)
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        tls, etcd = self.admin_tls(ctx), self.etcd_tls(ctx)
        files = {
            tls.ca: base64.b64decode(cluster["certificate-authority-data"]),
            tls.cert: base64.b64decode(user["client-certificate-data"]),
            tls.key: base64.b64decode(user["client-key-data"]),
            etcd.ca: self._read(c, "/etc/kubernetes/pki/etcd/ca.crt"),
            etcd.cert: self._read(c, "/etc/kubernetes/pki/etcd/healthcheck-client.crt"),
            etcd.key: self._read(c, "/etc/kubernetes/pki/etcd/healthcheck-client.key"),
        }
        for f, data in files.items():
            Path(f).write_bytes(data)
            Path(f).chmod(0o600)

    def _pod_network(self, ctx: LabContext, containers: dict[str, Container]) -> None:
        """Each node's CNI config on its pod CIDR, and routes to the others' through their addresses."""
        api = self.api(ctx, timeout=5.0)
        addresses = dict(self.nodes(ctx))
        deadline = time.monotonic() + 120
        cidrs: dict[str, str] = {}
        while time.monotonic() < deadline:
            found = {n["metadata"]["name"]: n.get("spec", {}).get("podCIDR", "") for n in api.list_all("/api/v1/nodes")}
            cidrs = {n: found.get(n, "") for n in addresses}
            if all(cidrs.values()):
                break
            time.sleep(0.5)
        missing = [n for n, cidr in cidrs.items() if not cidr]
        if missing:
            raise LabError(f"Kubernetes of lab {ctx.name}: no pod CIDR allocated to {', '.join(missing)} after 120 s")

        def configure(name: str) -> None:
            c = containers[name]
            routes = "".join(f"{cidr} {addresses[n]}\n" for n, cidr in sorted(cidrs.items()) if n != name)
            _put(c, "/etc/hadrill/pod-routes", routes)
            _put(c, "/etc/cni/net.d/10-hadrill.conflist", cni_conflist(cidrs[name]))
            script = 'while read -r cidr via; do ip route replace "$cidr" via "$via"; done </etc/hadrill/pod-routes'
            _run(c, script, "add the routes to the other nodes' pods")

        with ThreadPoolExecutor(max_workers=len(containers)) as pool:
            list(pool.map(configure, containers))

    def down(self, ctx: LabContext) -> None:
        """Remove the kubeconfig, the harness's copies of the credentials, and the nodes' cgroup roots
        on the host (the containers are gone by then, so the trees are empty)."""
        state = self.state(ctx)
        shutil.rmtree(self._pki_dir(ctx), ignore_errors=True)
        shutil.rmtree(scrape_dir(ctx.name), ignore_errors=True)
        (state / "kubeconfig").unlink(missing_ok=True)
        for name in [_kind_name(f"{ctx.name}-control-plane", i) for i in range(1, 8)] + [
            _kind_name(f"{ctx.name}-worker", i) for i in range(1, 8)
        ]:
            for root in Path("/sys/fs/cgroup").glob(f"*/kubelet-{name}"):
                for d in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                    with contextlib.suppress(OSError):
                        d.rmdir()
                with contextlib.suppress(OSError):
                    root.rmdir()

    # -- health ------------------------------------------------------------------------------------
    def ready(self, ctx: LabContext) -> set[str]:
        from hadrill.clients.kube import ready_nodes

        return ready_nodes(self.api(ctx))

    def wait_healthy(self, ctx: LabContext, timeout: float = 300.0) -> None:
        """etcd has a leader, /readyz answers through the LB and on every master, both leases are held,
        and every node is Ready."""
        wait = HealthWait(ctx.name, timeout)
        wait("haproxy and keepalived active on both load balancers", ApiLoadBalancers(ctx).units_problem)
        self._wait_control_plane(ctx, wait)
        wait("controller-manager and scheduler leases held", lambda: self._leases_problem(ctx))

        def nodes_problem() -> str | None:
            missing = {n for n, _ in self.nodes(ctx)} - self.ready(ctx)
            return f"nodes not Ready: {', '.join(sorted(missing))}" if missing else None

        wait("every node Ready", nodes_problem)

        def static_pods_problem() -> str | None:
            pods = self.api(ctx).list_all("/api/v1/namespaces/kube-system/pods", label_selector="tier=control-plane")
            running = {p["metadata"]["name"] for p in pods if p.get("status", {}).get("phase") == "Running"}
            wanted = {f"{part}-{n}" for n, _ in self.control_planes(ctx) for part in _STATIC_PODS}
            return f"static pods not Running: {', '.join(sorted(wanted - running))}" if wanted - running else None

        wait("every master's static pods Running", static_pods_problem)
        if self.worker_count:
            wait("the application's replicas ready", lambda: app_problem(self.api(ctx)))

            def app_answers() -> str | None:
                try:
                    r = requests.get(self.app_url(ctx), timeout=2.0)
                except requests.RequestException as e:
                    return f"GET {self.app_url(ctx)}: {type(e).__name__}"
                return None if r.status_code == 200 else f"GET {self.app_url(ctx)}: HTTP {r.status_code}"

            wait("the application answering through its Service", app_answers)
        if self.transport == "ssh":  # healthy over SSH too: lab up fails here rather than the first experiment
            lbs = ApiLoadBalancers(ctx)
            LabSsh(ctx.name).check_hosts([
                *((n, ip, ("containerd.service", "kubelet.service")) for n, ip in self.nodes(ctx)),
                *((n, ip, LB_UNITS) for n, ip in lbs.servers()),
            ])  # fmt: skip

    def _nodes(self, ctx: LabContext, names_ips: list[tuple[str, str]], *roles: str) -> list[Node]:
        """Inventory nodes: ``ssh://`` with the lab's key and pinned host keys, or the engine's ``docker://``."""
        nodes = super()._nodes(ctx, names_ips, *roles)
        if self.transport != "ssh":
            return nodes
        ssh = LabSsh(ctx.name)
        return [n.model_copy(update={"url": ssh.url(ip)}) for n, (_, ip) in zip(nodes, names_ips, strict=True)]

    # -- inventory and status ---------------------------------------------------------------------
    def inventory(self, ctx: LabContext) -> tuple[list[Node], list[Cluster]]:
        lbs = ApiLoadBalancers(ctx)
        first, *others = self.control_planes(ctx)
        nodes = [  # the first master holds the backups (kube_backup: the CronJob is pinned to it)
            *self._nodes(ctx, [first], "control-plane", "etcd", "etcd-backup"),
            *self._nodes(ctx, others, "control-plane", "etcd"),
            *self._nodes(ctx, self.worker_nodes(ctx), "worker"),
            *self._nodes(ctx, lbs.servers(), "load-balancer"),
        ]
        settings = {
            "api": self.api_url(ctx), "kubeconfig": str(self.kubeconfig_path(ctx)), "workers": self.workers(ctx),
            "version": self.part.version, "etcd_version": self.part.etcd_version, "api_vip": lbs.vip,
            "load_balancers": [n for n, _ in lbs.servers()],
            "mode": "kubeadm", "app_image": APP_IMAGE, "app_url": self.app_url(ctx),
            # the NodePort on every worker: what a load balancer in front of the nodes would send to
            "app_urls": [f"http://{ip}:{APP_NODE_PORT}/" for _, ip in self.worker_nodes(ctx)],
        }  # fmt: skip
        return nodes, [*self._clusters(ctx, settings), lbs.cluster()]

    def status(self, ctx: LabContext) -> list[StatusRow]:
        states = {c.name: c.status for c in ctx.containers()}
        try:
            ready = self.ready(ctx)
        except TargetError:
            ready = set()
        rows = []
        masters = {n for n, _ in self.control_planes(ctx)}
        for name, ip in self.nodes(ctx):
            state = states.get(name, "missing")
            health = "ready" if state == "running" and name in ready else "down" if state != "running" else "degraded"
            detail = "Node Ready" if name in ready else "Node not Ready"
            rows.append(StatusRow(name, "control-plane" if name in masters else "worker", ip, state, health, detail))
        lbs = ApiLoadBalancers(ctx)
        holders = lbs.holders()
        for name, ip in lbs.servers():
            state = states.get(name, "missing")
            role = "load-balancer (API VIP)" if name in holders else "load-balancer"
            health = "healthy" if state == "running" else "down"
            rows.append(StatusRow(name, role, ip, state, health, f"VIP {lbs.vip} on {', '.join(holders) or 'none'}"))
        return rows

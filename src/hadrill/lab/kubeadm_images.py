"""Images of the kubeadm lab: the node image, and the images its containerd runs, with no registry.

- ``kubeadm-node``: the host image (systemd, sshd) with containerd, runc, the CNI plugins, iptables and
  conntrack, and the project's kubelet, kubeadm and kubectl; a boot unit makes the container fit for a
  kubelet (LAB-NOTES, "Hosts that look real": /proc/sys writable, /dev/kmsg, / shared, IP forwarding).
- control-plane images ``FROM scratch`` around the cached Go binaries, tagged as kubeadm names them
  under ``imageRepository: hadrill.local`` (``hadrill.local/kube-apiserver:v1.34.4``,
  ``hadrill.local/etcd:3.6.16-0``), and a static pause image (a 20-line C program).
- kube-proxy from Debian's iptables and conntrack plus the binary (iptables mode runs ``iptables``), and
  the application: nginx from Debian.

Every image a node's containerd needs is saved once to ``cache_dir()/images/kubeadm/<name>-<id>.tar``
(named by the image id, so a changed image is saved again) and imported in each node with
``ctr -n k8s.io images import``: what ``kind load docker-image`` does, and nothing is ever pulled.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.errors import APIError, BuildError, ImageNotFound

from hadrill.errors import ImageBuildError
from hadrill.lab.hosts import host_image
from hadrill.lab.images import IMAGE_LABEL, ImageSpec, _digest, _lock, save_image
from hadrill.paths import cache_dir

__all__ = [
    "APP_IMAGE",
    "COREDNS_PLUGINS",
    "COREDNS_VERSION",
    "PAUSE_IMAGE",
    "REPOSITORY",
    "ScratchImage",
    "app_image",
    "ensure_scratch_image",
    "image_tar",
    "kube_proxy_image",
    "node_image",
    "pause_binary",
]

REPOSITORY = "hadrill.local"
PAUSE_IMAGE = f"{REPOSITORY}/pause:3.10.1"  # what kubeadm 1.34 names; containerd's sandbox_image
APP_IMAGE = f"{REPOSITORY}/web:1"
COREDNS_VERSION = "v1.12.1"  # what kubeadm 1.34 deploys (`kubeadm config images list`)
# The plugins the Corefile kubeadm writes uses (errors, health, ready, kubernetes, prometheus = the
# metrics plugin, forward, cache, loop, reload, loadbalance) plus log: the others (and their cloud SDKs)
# are not built. A Corefile naming another plugin makes CoreDNS exit with "unknown directive".
COREDNS_PLUGINS = (
    "errors", "health", "ready", "kubernetes", "metrics", "forward", "cache", "loop", "reload", "loadbalance", "log",
)  # fmt: skip
KUBELET_UNIT = "/etc/systemd/system/kubelet.service"

NODE_PACKAGES = (
    "containerd", "runc", "containernetworking-plugins", "conntrack", "ethtool", "socat", "kmod", "mount",
    "util-linux", "curl",
)  # fmt: skip

PAUSE_C = r"""/* The pod sandbox: holds the pod's namespaces, reaps orphans, exits on TERM/INT (as k8s's pause). */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
static void quit(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, NULL, WNOHANG) > 0) {} }
int main(void) {
  struct sigaction q = {.sa_handler = quit}, r = {.sa_handler = reap, .sa_flags = SA_NOCLDSTOP};
  sigaction(SIGINT, &q, NULL);
  sigaction(SIGTERM, &q, NULL);
  sigaction(SIGCHLD, &r, NULL);
  for (;;) pause();
  return 1;
}
"""

# The node's boot fix-ups, before containerd and the kubelet (LAB-NOTES): the kubelet writes sysctls
# and reads /dev/kmsg; mounts in pods propagate only under a shared /; pods route through the node.
# Routes to the other nodes' pod CIDRs are kept in /etc/hadrill/pod-routes: a restarted node has a new
# network namespace and gets them back here.
NODE_PREP = """#!/bin/sh
mount -o remount,rw /proc/sys || true
# The kubelet's cgroup root (--cgroup-root=/kubelet-NODE): the host's cgroup namespace is shared, so
# each node keeps its pods under its own root, which must exist (cpuset needs its cpus and mems).
# At boot no pod runs: the cgroups a killed node's pods left behind are stale, and the kubelet's cAdvisor
# spends ~3 s on each before the first pod starts (a restarted master took 60 s more to serve).
for d in /sys/fs/cgroup/*/; do
  [ -L "${d%/}" ] && continue
  root="${d}kubelet-$(hostname)"
  [ -d "$root" ] && find "$root" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null
  mkdir -p "$root" 2>/dev/null || continue
  if [ -f "${d}cpuset.cpus" ]; then
    cat "${d}cpuset.cpus" >"${d}kubelet-$(hostname)/cpuset.cpus"
    cat "${d}cpuset.mems" >"${d}kubelet-$(hostname)/cpuset.mems"
  fi
done
[ -e /dev/kmsg ] || ln -s /dev/null /dev/kmsg
mount --make-rshared /
sysctl -qw net.ipv4.ip_forward=1
sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true
sysctl -qw net.ipv4.conf.all.route_localnet=1 2>/dev/null || true
if [ -f /etc/hadrill/pod-routes ]; then
  while read -r cidr via; do [ -n "$cidr" ] && ip route replace "$cidr" via "$via"; done </etc/hadrill/pod-routes
fi
exit 0
"""

NODE_PREP_UNIT = """[Unit]
Description=hadrill: make this container fit for a kubelet
DefaultDependencies=no
After=local-fs.target
Before=containerd.service kubelet.service
[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/hadrill-node-prep.sh
[Install]
WantedBy=multi-user.target
"""

KUBELET_SERVICE = """[Unit]
Description=kubelet: The Kubernetes Node Agent
Wants=containerd.service
After=containerd.service hadrill-node-prep.service
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf \\
  --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=/usr/local/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
Restart=always
RestartSec=1
StartLimitIntervalSec=0
[Install]
WantedBy=multi-user.target
"""

CONTAINERD_CONFIG = f"""version = 2
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  # runc's sandbox asks for oom_score_adj -998, which needs CAP_SYS_RESOURCE (the node lacks it)
  restrict_oom_score_adj = true
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "/etc/cni/net.d"
"""


def node_image(binaries: dict[str, Path]) -> ImageSpec:
    """The kubeadm node: the host image plus containerd and the node's Kubernetes binaries."""
    files = {
        "/etc/containerd/config.toml": CONTAINERD_CONFIG,
        "/usr/local/sbin/hadrill-node-prep.sh": NODE_PREP,
        "/etc/systemd/system/hadrill-node-prep.service": NODE_PREP_UNIT,
        KUBELET_UNIT: KUBELET_SERVICE,
    }
    spec = host_image(
        "kubeadm-node", NODE_PACKAGES, files,
        ("RUN chmod 0755 /usr/local/sbin/hadrill-node-prep.sh && systemctl enable hadrill-node-prep.service"
         " containerd.service && rm -f /etc/cni/net.d/* && mkdir -p /etc/hadrill /etc/kubernetes/manifests",),
    )  # fmt: skip
    # etcdctl and etcdutl on the host, as kubeadm's backup and restore docs install them on masters: the
    # etcd_backup compliance suite reads a snapshot's status with them
    names = ("kubelet", "kubeadm", "kubectl", "etcdctl", "etcdutl")
    bins = {f"/usr/local/bin/{n}": str(binaries[n]) for n in names}
    return ImageSpec(spec.name, spec.packages, spec.files, spec.dockerfile, spec.suite, bins)


def kube_proxy_image(binary: Path) -> ImageSpec:
    """kube-proxy runs ``iptables`` (Debian's: the nft backend, as the node's CNI plugins use)."""
    return ImageSpec(
        name="kube-proxy", packages=("iptables", "conntrack", "kmod", "ca-certificates"),
        binaries={"/usr/local/bin/kube-proxy": str(binary)},
    )  # fmt: skip


def app_image() -> ImageSpec:
    """The application the SLOs are measured on: nginx, answering with the pod's name on /."""
    conf = """server {
  listen 8080 default_server;
  location / { default_type text/plain; return 200 "$hostname\\n"; }
  location = /healthz { default_type text/plain; return 200 "ok\\n"; }
}
"""
    return ImageSpec(
        name="web", packages=("nginx",), files={"/etc/nginx/sites-enabled/default": conf},
        dockerfile=("STOPSIGNAL SIGQUIT", 'CMD ["nginx", "-g", "daemon off;"]'),
    )  # fmt: skip


@dataclass(frozen=True)
class ScratchImage:
    """An image ``FROM scratch`` holding static binaries at ``/usr/local/bin/<name>``, tagged ``ref``."""

    ref: str
    binaries: tuple[tuple[str, Path], ...]
    entrypoint: tuple[str, ...] = ()

    @property
    def digest(self) -> str:
        parts = [self.ref, list(self.entrypoint), [(name, _digest(str(b))) for name, b in self.binaries]]
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:12]


def ensure_scratch_image(client: docker.DockerClient, img: ScratchImage) -> str:
    """Build ``img`` unless the engine has it with the same content (label ``dev.hadrill.tag``)."""
    digest = img.digest
    with _lock(img.ref.replace("/", "_").replace(":", "_")):
        try:
            if client.images.get(img.ref).labels.get("dev.hadrill.tag") == digest:
                return img.ref
        except ImageNotFound:
            pass
        with tempfile.TemporaryDirectory(prefix="hadrill-scratch-") as ctx:
            lines = ["FROM scratch", "ENV PATH=/usr/local/bin:/usr/bin:/bin"]
            for name, b in img.binaries:
                dest = Path(ctx) / name
                try:
                    os.link(b, dest)
                except OSError:
                    shutil.copyfile(b, dest)
                dest.chmod(0o755)
                lines.append(f"COPY {name} /usr/local/bin/{name}")
            if img.entrypoint:
                lines.append(f"ENTRYPOINT {json.dumps(list(img.entrypoint))}")
            (Path(ctx) / "Dockerfile").write_text("\n".join(lines) + "\n")
            try:
                client.images.build(
                    path=ctx, tag=img.ref, rm=True, forcerm=True,
                    labels={IMAGE_LABEL: img.ref.split("/")[-1].split(":")[0], "dev.hadrill.tag": digest},
                )  # fmt: skip
            except (BuildError, APIError) as e:
                raise ImageBuildError(f"docker build of {img.ref} failed: {e}") from e
    return img.ref


def pause_binary() -> Path:
    """The static pause program, compiled once into the cache (``gcc -static``)."""
    digest = hashlib.sha256(PAUSE_C.encode()).hexdigest()[:12]
    target = cache_dir() / "bin" / f"pause-{digest}"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _lock(target.name), tempfile.TemporaryDirectory(prefix="hadrill-pause-") as tmp:
        if target.is_file():
            return target
        src = Path(tmp) / "pause.c"
        src.write_text(PAUSE_C)
        out = Path(tmp) / "pause"
        try:
            subprocess.run(["gcc", "-Os", "-static", "-o", str(out), str(src)], check=True, capture_output=True,
                           text=True, timeout=120)  # fmt: skip
        except FileNotFoundError as e:
            raise ImageBuildError("gcc is needed for the lab's pause image: apt-get install -y gcc libc6-dev") from e
        except subprocess.CalledProcessError as e:
            raise ImageBuildError(f"gcc -static pause.c failed: {e.stderr[-500:]}") from e
        shutil.move(str(out), target)
    return target


def image_tar(client: docker.DockerClient, ref: str) -> Path:
    """``ref`` saved as a tar in the cache, once per image id; the tar's path (for ``ctr images import``)."""
    try:
        image = client.images.get(ref)
    except ImageNotFound as e:
        raise ImageBuildError(f"image {ref} is not on the engine (build it first)") from e
    name = ref.split("/")[-1].replace(":", "-")
    target = cache_dir() / "images" / "kubeadm" / f"{name}-{image.id.split(':')[-1][:12]}.tar"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _lock(f"tar-{target.name}"):
        if target.is_file():
            return target
        save_image(client, ref, target)
        for old in target.parent.glob(f"{name}-*.tar"):  # an older build of the same image
            if old != target:
                old.unlink(missing_ok=True)
    return target

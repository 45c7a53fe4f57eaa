"""The lab file: which services the offline lab runs, and their shape.

Format (YAML; every field but ``name`` has a default)::

    api_version: hadrill/v1      # fixed
    kind: Lab                    # fixed
    name: hadrill                # lab name: prefix of every container, network and volume, and the
                                 # value of their dev.hadrill.lab label; [a-z][a-z0-9-]*, at most 24
    network:
      subnet: auto               # a /24 for the lab's network, or "auto" to pick a free one
                                 # inside 10.213.0.0/16 (so two labs run side by side)
    etcd:                        # an etcd cluster ("etcd: null" to run none)
      members: 3                 # 1, 3, 5 or 7
      failure_budget: 1          # members it may lose; default: a minority, (members-1)//2
    nfs:                         # two nfs-ganesha servers sharing one export behind a keepalived VIP,
                                 # and a userspace (libnfs) client; on the storage network (omit or
                                 # "nfs: null" to run none). Servers .21/.22, VIP .20, client .29.
      advert_int: 1.0            # VRRPv3 advertisement interval, s (0.01-40.95); failover takes
                                 # about 3 intervals plus a skew (measured 3.5 s at 1, 0.8 s at 0.2)
      priorities: [150, 100]     # keepalived priorities of server 1 and 2 (different, 1-254); with
                                 # nopreempt a returning server stays BACKUP whatever its priority
    gluster:                     # three GlusterFS servers with a replica 3 volume (server quorum on,
                                 # type server, ratio 51) and a FUSE client mounting it at /mnt/VOLUME;
                                 # on the storage network (omit or "gluster: null" to run none).
                                 # Servers .61-.63, client .69.
      volume: gv0                # volume name, [a-z][a-z0-9_-]*
      ping_timeout: 5            # network.ping-timeout, s (1-42; Gluster's default 42 stalls writes
                                 # 42-84 s on a frozen server; measured stall 8 s at 5)
    kubernetes:                  # a Kubernetes cluster shaped by a kind config (omit to run none)
      kind_config: kind-configs/ha.yaml   # relative to the lab file
      mode: binaries             # binaries: the control-plane binaries under a supervisor, kwok workers;
                                 # kubeadm: real nodes (systemd, containerd, kubelet) joined by kubeadm,
                                 # static-pod control plane, bridge CNI, kube-proxy, an nginx application
      workers: 2                 # kubeadm: real worker nodes, 0-6 (default: the kind config's count);
                                 # binaries: "kwok" or nothing (the kind config counts them)
    monitoring: {}               # Prometheus, Alertmanager, Pushgateway and a node exporter in one
                                 # container (.90), scraping the parts that expose metrics (etcd; the
                                 # NFS and Gluster servers' lab exporter, on container or host nodes;
                                 # the API servers and kubeadm's kubelets over TLS), with lab-sized
                                 # alert rules (omit or "monitoring: null" for none)
    swarm:                       # Docker Swarm on systemd host nodes running Debian's docker.io
                                 # (omit or "swarm: null" to run none). Managers .81-.85, workers
                                 # .86-.89; an nginx service published mode=host on port 8080.
                                 # With a gluster part, every node mounts its volume and a
                                 # stateful service (store, port 8081) keeps its files on it.
      managers: 3                # 1, 3 or 5 (a Raft group)
      workers: 2                 # 0-4
      replicas: 3                # the HTTP service's replicas, at most one per node
    nodes: container             # container: one process per container (the default), or host:
                                 # systemd hosts (sshd, services as units with Restart=on-failure);
                                 # the etcd, nfs and gluster parts have host nodes so far; kubeadm's
                                 # nodes and load balancers are always hosts (monitoring runs as a
                                 # container beside them)
    transport: docker            # how the inventory reaches nodes: docker (docker://name) or ssh
                                 # (ssh://root@ADDR with the lab's own key and pinned host keys;
                                 # needs nodes: host, or a kubeadm lab with no etcd, nfs or gluster
                                 # part). With ssh, inventory-docker.yaml is written too

The default lab file ships inside the package (``hadrill/lab/default-lab.yaml``).
"""

from __future__ import annotations

import ipaddress
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationInfo, field_validator

from hadrill.config import load_model, load_yaml, parse_model

__all__ = [
    "EtcdPart",
    "GlusterPart",
    "LabFile",
    "LabNetwork",
    "MonitoringPart",
    "NfsPart",
    "SwarmPart",
    "default_lab_file",
    "load_lab_file",
    "parse_lab_file",
]

LAB_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,23}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LabNetwork(_Strict):
    subnet: str = "auto"
    storage_subnet: str = "auto"
    storage_mtu: int = Field(9000, ge=1280, le=9216)

    @field_validator("subnet", "storage_subnet")
    @classmethod
    def _subnet(cls, v: str) -> str:
        if v == "auto":
            return v
        try:
            net = ipaddress.ip_network(v)
        except ValueError as e:
            raise ValueError('"auto" or an IPv4 /24 such as 10.213.40.0/24') from e
        if net.version != 4 or net.prefixlen != 24:
            raise ValueError('"auto" or an IPv4 /24 such as 10.213.40.0/24')
        return v


class EtcdPart(_Strict):
    members: Literal[1, 3, 5, 7] = 3
    failure_budget: StrictInt | None = Field(None, ge=0)

    @field_validator("members", mode="before")
    @classmethod
    def _no_bool(cls, v: Any) -> Any:
        if isinstance(v, bool):  # YAML's yes/true would otherwise count as 1
            raise ValueError("1, 3, 5 or 7")
        return v

    @field_validator("failure_budget")
    @classmethod
    def _budget(cls, v: int | None, info: ValidationInfo) -> int | None:
        members = info.data.get("members")
        if v is not None and members is not None and v > (members - 1) // 2:
            raise ValueError(f"a failure_budget of at most {(members - 1) // 2} for {members} members")
        return v

    @property
    def budget(self) -> int:
        return (self.members - 1) // 2 if self.failure_budget is None else self.failure_budget


class NfsPart(_Strict):
    """Two NFS servers (nfs-ganesha) behind a keepalived VIP, active/passive, and a client."""

    advert_int: float = Field(1.0, ge=0.01, le=40.95, allow_inf_nan=False)  # VRRPv3 advertisement interval, seconds
    priorities: tuple[int, int] = (150, 100)  # keepalived priority of server 1 and server 2

    @field_validator("priorities")
    @classmethod
    def _priorities(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not all(1 <= p <= 254 for p in v) or v[0] == v[1]:
            raise ValueError("two different priorities between 1 and 254")
        return v


class GlusterPart(_Strict):
    """Three GlusterFS servers with a replica 3 volume, and a FUSE client."""

    volume: str = Field("gv0", pattern=r"^[a-z][a-z0-9_-]{0,30}$")
    ping_timeout: int = Field(5, ge=1, le=42)  # network.ping-timeout, seconds (Gluster's default: 42)


class KubernetesPart(_Strict):
    """An HA control plane built from the Kubernetes Go modules, shaped by a kind config.

    ``mode: binaries`` (the default) runs the control-plane binaries under a supervisor with kwok workers;
    ``mode: kubeadm`` runs real nodes (systemd, containerd, kubelet) joined by kubeadm, with ``workers``
    real worker nodes (default: the kind config's count).
    """

    kind_config: str = "kind-configs/ha.yaml"  # relative to the lab file, or absolute
    version: str = Field("v1.34.4", pattern=r"^v1\.\d+\.\d+$")
    etcd_version: str = Field("v3.6.16", pattern=r"^v3\.\d+\.\d+$")
    mode: Literal["binaries", "kubeadm"] = "binaries"
    workers: StrictInt | Literal["kwok"] | None = None  # after mode: its check reads it

    @field_validator("workers")
    @classmethod
    def _workers(cls, v: int | str | None, info: ValidationInfo) -> int | str | None:
        mode = info.data.get("mode")
        if mode == "kubeadm" and v is not None and (v == "kwok" or not 0 <= int(v) <= 6):
            raise ValueError("a number of real worker nodes from 0 to 6 (kubeadm mode)")
        if mode == "binaries" and v not in (None, "kwok"):
            raise ValueError('"kwok" or nothing (the binaries mode has kwok workers, counted by the kind config)')
        return v


class MonitoringPart(_Strict):
    """Prometheus + Alertmanager + Pushgateway + node exporter, from Debian's packages."""


class SwarmPart(_Strict):
    """Docker Swarm on host nodes: managers (a Raft group), workers, and an HTTP service."""

    managers: Literal[1, 3, 5] = 3
    workers: int = Field(2, ge=0, le=4)
    replicas: int = Field(3, ge=1, le=9)

    @field_validator("replicas")
    @classmethod
    def _fits(cls, v: int, info: ValidationInfo) -> int:
        nodes = (info.data.get("managers") or 0) + (info.data.get("workers") or 0)
        if v > nodes:  # host-mode ports: one task per node
            raise ValueError(f"at most one replica per node ({nodes} nodes)")
        return v


class LabFile(_Strict):
    api_version: Literal["hadrill/v1"] = "hadrill/v1"
    kind: Literal["Lab"] = "Lab"
    name: str = Field(pattern=LAB_NAME_PATTERN)
    network: LabNetwork = Field(default_factory=LabNetwork)
    etcd: EtcdPart | None = Field(default_factory=EtcdPart)
    nfs: NfsPart | None = None
    gluster: GlusterPart | None = None
    kubernetes: KubernetesPart | None = None
    monitoring: MonitoringPart | None = None
    swarm: SwarmPart | None = None
    nodes: Literal["container", "host"] = "container"  # after the parts: its check reads them
    transport: Literal["docker", "ssh"] = "docker"

    @field_validator("nodes")
    @classmethod
    def _host_parts(cls, v: str, info: ValidationInfo) -> str:
        kube = info.data.get("kubernetes")
        if v == "host" and kube is not None and kube.mode != "kubeadm":
            raise ValueError(
                f"container while the lab has kubernetes in {kube.mode} mode (host nodes run etcd, nfs, gluster and "
                "kubeadm's Kubernetes; monitoring runs beside them)"
            )
        return v

    @field_validator("transport")
    @classmethod
    def _ssh_needs_hosts(cls, v: str, info: ValidationInfo) -> str:
        if v != "ssh" or info.data.get("nodes") == "host":
            return v
        kube = info.data.get("kubernetes")
        others = [p for p in ("etcd", "nfs", "gluster") if info.data.get(p) is not None]
        hosts_anyway = (kube is not None and kube.mode == "kubeadm") or info.data.get("swarm") is not None
        if hosts_anyway and not others and (kube is None or kube.mode == "kubeadm"):
            return v  # kubeadm's and Swarm's nodes are hosts (systemd, sshd) whatever ``nodes`` says
        raise ValueError("docker unless nodes is host (only host nodes run sshd)")

    def with_transport(self, transport: str, source: str = "--transport") -> LabFile:
        """The same lab reached over ``transport``; ``ssh`` makes its nodes hosts (only they run sshd).
        A part that has no host nodes yet is refused like in a lab file (exit 2 naming ``source``)."""
        nodes = "host" if transport == "ssh" else self.nodes
        return parse_lab_data({**self.model_dump(), "transport": transport, "nodes": nodes}, source)

    def with_name(self, name: str) -> LabFile:
        """The same lab under another name (tests run several side by side)."""
        return parse_lab_data({**self.model_dump(), "name": name}, f"<lab {name}>")


def parse_lab_data(data: Any, source: str) -> LabFile:
    return parse_model(LabFile, data, source)


def parse_lab_file(text: str, source: str) -> LabFile:
    """Parse lab-file text; errors are ConfigErrors naming ``source`` and the field."""
    return parse_lab_data(load_yaml(text, source), source)


def load_lab_file(path: Path) -> LabFile:
    return load_model(LabFile, path, "lab file")


def default_lab_file() -> LabFile:
    text = resources.files("hadrill.lab").joinpath("default-lab.yaml").read_text()
    return parse_lab_file(text, "hadrill/lab/default-lab.yaml")

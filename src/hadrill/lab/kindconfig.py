"""kind cluster configs (``kind.x-k8s.io/v1alpha4``): the shape of a Kubernetes cluster.

The files in ``kind-configs/`` are real kind configs a user can hand to ``kind create cluster``; the
lab reads the same files for node roles and subnets. Fields hadrill does not use are accepted as kind
accepts them (kind owns the format); the ones it uses are validated.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hadrill.config import check_cidr, load_model

__all__ = ["KindCluster", "KindNetworking", "KindNode", "load_kind_config"]


class KindNode(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    role: Literal["control-plane", "worker"] = "control-plane"
    image: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class KindNetworking(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    ip_family: Literal["ipv4", "ipv6", "dual"] = Field("ipv4", alias="ipFamily")
    api_server_address: str | None = Field(None, alias="apiServerAddress")
    api_server_port: int | None = Field(None, alias="apiServerPort", ge=0, le=65535)
    pod_subnet: str = Field("10.244.0.0/16", alias="podSubnet")
    service_subnet: str = Field("10.96.0.0/16", alias="serviceSubnet")
    disable_default_cni: bool = Field(False, alias="disableDefaultCNI")
    kube_proxy_mode: Literal["iptables", "ipvs", "nftables", "none"] = Field("iptables", alias="kubeProxyMode")

    @field_validator("pod_subnet", "service_subnet")
    @classmethod
    def _subnets(cls, v: str) -> str:
        return check_cidr(v, "10.244.0.0/16")

    @model_validator(mode="after")
    def _lab_can_host(self) -> KindNetworking:
        """The subnets the lab's control plane can run with (kube-apiserver and the controller manager
        refuse others at start, after minutes of building)."""
        pods, services = ipaddress.ip_network(self.pod_subnet), ipaddress.ip_network(self.service_subnet)
        if services.version != 4 or not 12 <= services.prefixlen <= 28:
            raise ValueError(f"an IPv4 serviceSubnet from /12 to /28 such as 10.96.0.0/16, not {services}")
        if pods.version != 4 or not 8 <= pods.prefixlen <= 24:
            raise ValueError(f"an IPv4 podSubnet from /8 to /24 (a /24 per node) such as 10.244.0.0/16, not {pods}")
        if pods.overlaps(services):
            raise ValueError(f"podSubnet {pods} and serviceSubnet {services} that do not overlap")
        return self


class KindCluster(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    kind: Literal["Cluster"]
    api_version: Literal["kind.x-k8s.io/v1alpha4"] = Field(alias="apiVersion")
    name: str | None = Field(None, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=50)
    nodes: list[KindNode] = Field(default_factory=lambda: [KindNode()])
    networking: KindNetworking = Field(default_factory=lambda: KindNetworking.model_validate({}))

    @field_validator("nodes")
    @classmethod
    def _one_control_plane(cls, v: list[KindNode]) -> list[KindNode]:
        if not any(n.role == "control-plane" for n in v):
            raise ValueError("at least one node with role: control-plane")
        return v

    @property
    def control_planes(self) -> int:
        return sum(1 for n in self.nodes if n.role == "control-plane")

    @property
    def workers(self) -> int:
        return sum(1 for n in self.nodes if n.role == "worker")


def load_kind_config(path: Path) -> KindCluster:
    """Read a kind config; errors name the file and the field (``nodes[1].role``)."""
    return load_model(KindCluster, path, "kind config")

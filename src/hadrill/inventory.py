"""The inventory: a platform described in the harness's terms.

The lab writes one; a user with real machines writes one by hand. Faults, probes, checks and reports
read only this, never lab internals. It holds no secrets: TLS material is referenced by file path.

Example (what ``hadrill lab up`` writes)::

    api_version: hadrill/v1
    kind: Inventory
    platform: lab:hadrill
    networks:
      - {name: hadrill-net, subnet: 10.213.45.0/24, storage: false}
    nodes:
      - {name: hadrill-etcd-1, url: docker://hadrill-etcd-1, roles: [etcd],
         addresses: {hadrill-net: 10.213.45.11}}
    clusters:
      - name: etcd
        type: etcd
        failure_budget: 0    # a one-member example; the lab's cluster has 3 members and a budget of 1
        members:
          - {name: hadrill-etcd-1, node: hadrill-etcd-1,
             endpoints: {client: "http://10.213.45.11:2379", peer: "http://10.213.45.11:2380"}}
"""

from __future__ import annotations

import ipaddress
import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationInfo, field_validator, model_validator

from hadrill.config import check_cidr, load_model
from hadrill.errors import ConfigError

__all__ = [
    "KNOWN_SCHEMES",
    "Bmc",
    "Cluster",
    "Inventory",
    "Member",
    "Monitoring",
    "Network",
    "Node",
    "Objectives",
    "TLSFiles",
    "load_inventory",
]

# Target URL schemes hadrill can reach a node through (testinfra backends: clients/targets.py).
KNOWN_SCHEMES = ("docker", "ssh", "paramiko", "local", "podman", "kubectl")

ClusterType = Literal["etcd", "nfs", "gluster", "kubernetes", "swarm", "keepalived"]
# A node, cluster, member or network name: what a container name or a hostname may be.
Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$")]


def _unique(kind: str, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{kind} names that are unique ({name!r} appears twice)")
        seen.add(name)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Network(_Strict):
    """A network the platform's nodes share; ``storage`` marks the ones the MTU checks look at."""

    name: Name
    subnet: str
    storage: bool = False
    mtu: StrictInt | None = Field(None, ge=68, le=65536)  # IPv4's minimum to the loopback's maximum

    @field_validator("subnet")
    @classmethod
    def _cidr(cls, v: str) -> str:
        return check_cidr(v)


class Bmc(_Strict):
    """How to reach a machine's baseboard management controller (power faults' ``ipmi``/``redfish``
    drivers: the only way to power a real machine on again). The password is a file's path, never a value.

    ``address``: a host name or IP for ``ipmi`` (``port`` defaults to 623); a base URL
    (``https://bmc1.example``) for ``redfish``, whose ``system`` defaults to the only one it manages.
    """

    driver: Literal["ipmi", "redfish"]
    address: str = Field(min_length=1, max_length=300)
    port: StrictInt | None = Field(None, ge=1, le=65535)
    username: str = Field(min_length=1, max_length=64)
    password_file: str = Field(min_length=1)
    system: Name | None = None
    cipher_suite: StrictInt = Field(3, ge=0, le=17)  # ipmi: 3 (SHA-1, AES-128) most BMCs speak; 17 (SHA-256) newer
    insecure: bool = False  # redfish over https: do not verify the BMC's certificate (self-signed BMCs)
    ca_file: str | None = None

    @model_validator(mode="after")
    def _address_fits_driver(self) -> Bmc:
        is_url = self.address.startswith(("http://", "https://"))
        if self.driver == "redfish" and not is_url:
            raise ValueError(f"a redfish BMC address that is a URL (https://host), not {self.address[:60]!r}")
        if self.driver == "ipmi" and (is_url or "/" in self.address):
            raise ValueError(f"an ipmi BMC address that is a host name or IP, not {self.address[:60]!r}")
        if not Path(self.password_file).is_absolute():
            raise ValueError(f"an absolute password_file path, not {self.password_file[:60]!r}")
        return self


class Node(_Strict):
    """A machine or container, reached through a target URL (``docker://``, ``ssh://``, ``local://``)."""

    name: Name
    url: str
    roles: list[str] = Field(default_factory=list)
    addresses: dict[str, str] = Field(default_factory=dict)
    bmc: Bmc | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        scheme, sep, rest = v.partition("://")
        if not sep or scheme not in KNOWN_SCHEMES or (not rest and scheme != "local"):
            known = ", ".join(f"{s}://" for s in KNOWN_SCHEMES)
            raise ValueError(f"a target URL such as docker://name, ssh://root@host or local:// (schemes: {known})")
        return v

    @field_validator("addresses")
    @classmethod
    def _addresses(cls, v: dict[str, str]) -> dict[str, str]:
        for network, address in v.items():
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise ValueError(f"IP addresses ({network}: {address[:60]!r} is not one)") from None
        return v

    def address(self, network: str | None = None) -> str:
        """The node's address on ``network`` (or its first one)."""
        if network is not None:
            try:
                return self.addresses[network]
            except KeyError:
                raise ConfigError(
                    "inventory", f"nodes[{self.name}].addresses", f"an address on network {network!r}"
                ) from None
        if not self.addresses:
            raise ConfigError("inventory", f"nodes[{self.name}].addresses", "at least one address")
        return next(iter(self.addresses.values()))


_BRICK = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*:/(?!/)\S*")


def _endpoint_ok(url: str) -> bool:
    """A URL with a scheme and a host (http/https also a port), or a Gluster brick ``HOST:/PATH``."""
    if _BRICK.fullmatch(url):
        return True
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a port out of range
    except ValueError:  # a port out of range, a bad IPv6 literal
        return False
    if not parts.scheme or not parts.hostname:
        return False
    return port is not None or parts.scheme not in ("http", "https")


class Member(_Strict):
    """One member of a cluster, living on a node."""

    name: Name
    node: str
    endpoints: dict[str, str] = Field(default_factory=dict)

    @field_validator("endpoints")
    @classmethod
    def _endpoints(cls, v: dict[str, str]) -> dict[str, str]:
        for what, url in v.items():
            if not _endpoint_ok(url):
                raise ValueError(
                    "endpoint URLs such as http://10.0.0.1:2379 or nfs://10.0.0.1/export, or a Gluster brick"
                    f" HOST:/PATH ({what}: {url[:60]!r} is not one)"
                )
        return v


class TLSFiles(_Strict):
    """Paths (never contents) of a client's TLS material."""

    ca: str
    cert: str
    key: str


class Objectives(_Strict):
    """Default objectives for experiments against a cluster (an experiment may override them)."""

    rto_s: float | None = Field(None, ge=0, allow_inf_nan=False)
    rpo_writes: StrictInt | None = Field(None, ge=0)
    availability: float | None = Field(None, ge=0, le=1, allow_inf_nan=False)

    @field_validator("rto_s", "availability", mode="before")
    @classmethod
    def _number(cls, v: Any) -> Any:
        if isinstance(v, bool) or (v is not None and not isinstance(v, int | float)):
            raise ValueError("a number")
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError("a finite number")
        return v


class Cluster(_Strict):
    """A replicated service and how many of its members it may lose."""

    name: Name
    type: ClusterType
    members: list[Member] = Field(min_length=1)
    failure_budget: StrictInt = Field(ge=0)
    tls: TLSFiles | None = None
    objectives: Objectives = Field(default_factory=Objectives)
    settings: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _budget(self) -> Cluster:
        if self.failure_budget >= max(len(self.members), 1):
            raise ValueError(f"a failure_budget smaller than the member count ({len(self.members)})")
        return self

    @field_validator("members")
    @classmethod
    def _unique_members(cls, v: list[Member]) -> list[Member]:
        _unique("member", [m.name for m in v])
        return v

    def member(self, name: str) -> Member:
        for m in self.members:
            if m.name == name or m.node == name:
                return m
        known = ", ".join(m.name for m in self.members)
        raise ConfigError("inventory", f"clusters[{self.name}].members", f"one of {known}", name)


class Monitoring(_Strict):
    """Where the platform's own monitoring answers: alert verdicts and PromQL probes read it."""

    prometheus: str
    alertmanager: str | None = None
    pushgateway: str | None = None  # where ``--push-gateway`` sends results unless given a URL

    @field_validator("prometheus", "alertmanager", "pushgateway")
    @classmethod
    def _http(cls, v: str | None) -> str | None:
        if v is not None and (not _endpoint_ok(v) or urlsplit(v).scheme not in ("http", "https")):
            raise ValueError(f"an http(s) URL with a port such as http://10.0.0.5:9090 ({v[:60]!r} is not one)")
        return v


class Inventory(_Strict):
    """A whole platform: networks, nodes, clusters."""

    api_version: Literal["hadrill/v1"] = "hadrill/v1"
    kind: Literal["Inventory"] = "Inventory"
    platform: str
    source: str = "manual"
    networks: list[Network] = Field(default_factory=list)
    nodes: list[Node] = Field(default_factory=list)
    clusters: list[Cluster] = Field(default_factory=list)
    monitoring: Monitoring | None = None
    compliance: dict[str, Any] = Field(default_factory=dict)  # policies: validated by hadrill.compliance.policy

    @field_validator("networks", "nodes", "clusters")
    @classmethod
    def _unique_names(cls, v: list[Any], info: ValidationInfo) -> list[Any]:
        _unique(str(info.field_name).rstrip("s"), [item.name for item in v])
        return v

    @model_validator(mode="after")
    def _references(self) -> Inventory:
        names = {n.name for n in self.nodes}
        for c in self.clusters:
            for m in c.members:
                if m.node not in names:
                    raise ValueError(f"cluster {c.name!r} member {m.name!r}: node {m.node!r} is not in nodes")
        return self

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise ConfigError("inventory", "nodes", f"a node named {name!r}")

    @property
    def provides(self) -> set[str]:
        """What an experiment may require (``extensions: [{name: hadrill, requires: [...]}]``): the
        clusters' names, ``CLUSTER:SETTING`` for each setting a cluster gives (``kubernetes:app_url``: an
        application to measure), and ``monitoring`` when the inventory names the platform's monitoring."""
        given = {f"{c.name}:{k}" for c in self.clusters for k, v in c.settings.items() if v not in (None, "", [], {})}
        monitoring = {"monitoring"} if self.monitoring is not None else set()
        return {c.name for c in self.clusters} | given | monitoring

    def cluster(self, name_or_type: str) -> Cluster:
        """The cluster with this name, else the only cluster of this type."""
        for c in self.clusters:
            if c.name == name_or_type:
                return c
        of_type = [c for c in self.clusters if c.type == name_or_type]
        if len(of_type) == 1:
            return of_type[0]
        known = ", ".join(f"{c.name} ({c.type})" for c in self.clusters) or "none"
        raise ConfigError("inventory", "clusters", f"a cluster named {name_or_type!r} (have: {known})")

    def member_node(self, cluster: Cluster, member: str) -> Node:
        return self.node(cluster.member(member).node)

    def dump(self, path: Path) -> None:
        """Write atomically, so a reader never sees half an inventory."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False), encoding="utf-8")
        tmp.replace(path)


def load_inventory(path: Path) -> Inventory:
    """Load and validate an inventory file."""
    return load_model(Inventory, path, "inventory")

"""The lab's Docker objects: one labelled network per lab, labelled containers and volumes.

Everything a lab creates carries ``dev.hadrill.lab=<name>`` and a name prefixed by the lab's name, so
``lab down`` removes exactly that and two labs never touch each other's objects. Subnets are chosen
inside 10.213.0.0/16 by hashing the lab name and skipping every subnet another network already uses.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from dataclasses import dataclass, field
from typing import Any

import docker
from docker.errors import APIError, NotFound
from docker.models.containers import Container

from hadrill.errors import HadrillError, LabError
from hadrill.faults.deadman import disarm_for_containers
from hadrill.faults.ledger import Ledger
from hadrill.lab.labfile import LabFile
from hadrill.progress import Progress

_log = logging.getLogger(__name__)

__all__ = ["LAB_LABEL", "OWNER_LABEL", "LabContext", "StatusRow", "labs_owned_by", "remove_lab", "used_subnets"]

LAB_LABEL = "dev.hadrill.lab"
ROLE_LABEL = "dev.hadrill.role"
CONFIG_LABEL = "dev.hadrill.config"
OWNER_LABEL = "dev.hadrill.owner"
_POOL = ipaddress.IPv4Network("10.213.0.0/16")


GOOD_HEALTH = frozenset({"healthy", "online", "mounted", "ready"})


@dataclass(frozen=True)
class StatusRow:
    """One line of ``hadrill lab status``."""

    node: str
    role: str
    address: str
    state: str
    health: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        """Running and in a good state (each service words its health its own way)."""
        return self.state == "running" and self.health in GOOD_HEALTH


def used_subnets(client: docker.DockerClient) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    nets = []
    for n in client.networks.list():
        for cfg in (n.attrs.get("IPAM") or {}).get("Config") or []:
            if cfg.get("Subnet"):
                nets.append(ipaddress.ip_network(cfg["Subnet"]))
    return nets


def _candidates(lab: str) -> list[ipaddress.IPv4Network]:
    subnets = list(_POOL.subnets(new_prefix=24))[1:255]
    start = int(hashlib.sha256(lab.encode()).hexdigest(), 16) % len(subnets)
    return subnets[start:] + subnets[:start]


@dataclass
class LabContext:
    """What a lab service needs to create its containers: the engine, names, labels and addresses."""

    client: docker.DockerClient
    spec: LabFile
    progress: Progress
    owner: str = ""
    subnets: dict[str, ipaddress.IPv4Network] = field(default_factory=dict)
    extra_labels: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def network_name(self) -> str:
        """The lab's main network (management, etcd, Kubernetes)."""
        return f"{self.name}-net"

    @property
    def storage_network_name(self) -> str:
        """The storage network (NFS, Gluster), at ``network.storage_mtu``."""
        return f"{self.name}-storage"

    @property
    def subnet(self) -> ipaddress.IPv4Network | None:
        return self.subnets.get(self.network_name)

    @property
    def config_hash(self) -> str:
        return hashlib.sha256(self.spec.model_dump_json().encode()).hexdigest()[:12]

    def labels(self, role: str = "") -> dict[str, str]:
        out = {LAB_LABEL: self.name, CONFIG_LABEL: self.config_hash, **self.extra_labels}
        if role:
            out[ROLE_LABEL] = role
        if self.owner:
            out[OWNER_LABEL] = self.owner
        return out

    def ip(self, offset: int, network: str | None = None) -> str:
        """Address ``offset`` in a lab network (default: the main one)."""
        net = network or self.network_name
        if net not in self.subnets:
            raise LabError(f"network {net} of lab {self.name} is not set up (ensure_network first)")
        return str(self.subnets[net].network_address + offset)

    # -- networks ----------------------------------------------------------------------------------
    def find_network(self, storage: bool = False) -> ipaddress.IPv4Network | None:
        """Look a lab network up without creating it (status must only read)."""
        name = self.storage_network_name if storage else self.network_name
        try:
            net = self.client.networks.get(name)
        except NotFound:
            return None
        self.subnets[name] = ipaddress.IPv4Network(net.attrs["IPAM"]["Config"][0]["Subnet"])
        return self.subnets[name]

    def ensure_network(self, storage: bool = False) -> ipaddress.IPv4Network:
        """Find one of the lab's networks, or create it on a free subnet."""
        name = self.storage_network_name if storage else self.network_name
        try:
            net = self.client.networks.get(name)
            if (net.attrs.get("Labels") or {}).get(LAB_LABEL) != self.name:
                raise LabError(f"network {name} exists but is not this lab's (no {LAB_LABEL} label)")
            self.subnets[name] = ipaddress.IPv4Network(net.attrs["IPAM"]["Config"][0]["Subnet"])
            return self.subnets[name]
        except NotFound:
            pass
        wanted = self.spec.network.storage_subnet if storage else self.spec.network.subnet
        choices = [ipaddress.IPv4Network(wanted)] if wanted != "auto" else _candidates(name)
        options = {"com.docker.network.driver.mtu": str(self.spec.network.storage_mtu)} if storage else {}
        used = used_subnets(self.client)
        last: Exception | None = None
        for cand in choices:
            if any(cand.overlaps(u) for u in used):
                continue
            ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=str(cand))])
            try:
                self.client.networks.create(name, driver="bridge", ipam=ipam, labels=self.labels(), options=options)
            except APIError as e:  # another lab took it in the meantime: try the next one
                last = e
                if "already exists" in str(e):
                    return self.ensure_network(storage)
                continue
            self.subnets[name] = cand
            return cand
        raise LabError(f"no free /24 for network {name} (asked {wanted}): {last}")

    # -- containers --------------------------------------------------------------------------------
    def containers(self, role: str | None = None) -> list[Container]:
        filters = [f"{LAB_LABEL}={self.name}"] + ([f"{ROLE_LABEL}={role}"] if role else [])
        found = self.client.containers.list(all=True, filters={"label": filters}, ignore_removed=True)
        return sorted(found, key=lambda c: c.name)

    def ensure_container(self, name: str, image: str, role: str, ip: str, **kwargs: Any) -> Container:
        """Create and start a container, or start the existing one: ``up`` is idempotent.

        ``ip`` is its address on the main network; ``networks={name: ip}`` attaches it to more
        (the storage network); ``labels`` adds labels (kind's, for the Kubernetes nodes); other
        keyword arguments go to docker's ``containers.create``.
        """
        try:
            c = self.client.containers.get(name)
        except NotFound:
            c = None
        if c is not None:
            labels = c.labels
            if labels.get(LAB_LABEL) != self.name:
                raise LabError(f"container {name} exists but does not belong to lab {self.name}")
            if labels.get(CONFIG_LABEL) != self.config_hash:
                raise LabError(
                    f"lab {self.name} is running with another configuration; "
                    f"take it down first: hadrill lab down --name {self.name}"
                )
            if c.status != "running":
                if c.status == "paused":
                    c.unpause()
                else:
                    c.start()
            return c
        volumes = kwargs.pop("volumes", {})
        for vol in volumes:
            if not vol.startswith("/"):
                self.ensure_volume(vol)
        endpoint = self.client.api.create_endpoint_config(ipv4_address=ip)
        extra: dict[str, str] = kwargs.pop("networks", {})
        labels = {**self.labels(role), **kwargs.pop("labels", {})}
        try:
            c = self.client.containers.create(
                image,
                name=name,
                hostname=name,
                detach=True,
                labels=labels,
                network=self.network_name,
                networking_config={self.network_name: endpoint},
                volumes=volumes,
                **kwargs,
            )
            for net, addr in extra.items():  # before start, so daemons see every interface
                self.client.networks.get(net).connect(c, ipv4_address=addr)
            c.start()
        except APIError as e:
            raise LabError(f"cannot start container {name}: {e.explanation or e}") from e
        return c

    def ensure_volume(self, name: str) -> None:
        try:
            self.client.volumes.get(name)
        except NotFound:
            self.client.volumes.create(name, labels=self.labels())


def discard_faults_on(names: set[str]) -> int:
    """Close the default ledger's open faults on these containers (their lab is being removed); how many."""
    try:
        gone = Ledger().discard_on(names)
    except (HadrillError, OSError) as e:  # lab down must not fail over a ledger it cannot write
        _log.warning("open faults on %s not discarded from the ledger: %s", ", ".join(sorted(names)), e)
        return 0
    for rec in gone:
        _log.warning("fault %s (%s on %s) discarded: its host was removed", rec.id, rec.kind, rec.target)
    return len(gone)


def remove_lab(client: docker.DockerClient, lab: str) -> dict[str, int]:
    """Remove every container, volume and network carrying the lab's label; count them."""
    flt = {"label": [f"{LAB_LABEL}={lab}"]}
    counts = {"containers": 0, "volumes": 0, "networks": 0}
    containers = client.containers.list(all=True, filters=flt, ignore_removed=True)
    names = {c.name for c in containers}
    disarm_for_containers(names)  # an old fault's deadman must not act on a new lab
    if discarded := discard_faults_on(names):
        counts["open faults"] = discarded  # closed as discarded in the ledger
    for c in containers:
        try:
            c.remove(force=True, v=True)
            counts["containers"] += 1
        except NotFound:
            pass
    for v in client.volumes.list(filters=flt):
        try:
            v.remove(force=True)
            counts["volumes"] += 1
        except NotFound:
            pass
    for n in client.networks.list(filters=flt):
        try:
            n.remove()
            counts["networks"] += 1
        except NotFound:
            pass
    return counts


def labs_owned_by(client: docker.DockerClient, owner: str) -> set[str]:
    """Names of the labs whose objects say they were made by ``owner`` (e.g. ``pytest``)."""
    flt = {"label": [f"{OWNER_LABEL}={owner}"]}
    found = {c.labels.get(LAB_LABEL, "") for c in client.containers.list(all=True, filters=flt, ignore_removed=True)}
    found |= {(n.attrs.get("Labels") or {}).get(LAB_LABEL, "") for n in client.networks.list(filters=flt)}
    found |= {(v.attrs.get("Labels") or {}).get(LAB_LABEL, "") for v in client.volumes.list(filters=flt)}
    return found - {""}

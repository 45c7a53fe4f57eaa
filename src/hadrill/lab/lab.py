"""A lab as a whole: build its images, bring its services up, write its inventory, take it down.

Services (etcd today; NFS, Gluster and Kubernetes beside it) share one interface: ``images()``,
``up(ctx)``, ``wait_healthy(ctx)``, ``inventory(ctx)``, ``status(ctx)``.
"""

from __future__ import annotations

import contextlib
import time
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Protocol

import docker

from hadrill.config import load_json
from hadrill.errors import LabError
from hadrill.inventory import Cluster, Inventory, Network, Node
from hadrill.lab.engine import docker_client
from hadrill.lab.etcd import EtcdService
from hadrill.lab.images import ImageSpec, ensure_image
from hadrill.lab.labfile import LabFile, parse_lab_data
from hadrill.lab.runtime import LAB_LABEL, LabContext, StatusRow, labs_owned_by, remove_lab
from hadrill.lab.ssh import LabSsh
from hadrill.paths import lab_inventory_path, state_dir
from hadrill.progress import Progress

__all__ = ["IMAGE_JOBS", "Lab", "LabService", "docker_inventory_path", "list_labs", "prune_labs"]

IMAGE_JOBS = 4  # images built at once: mostly downloads and unpacking, so more than the cores


class LabService(Protocol):
    name: str

    def images(self) -> list[ImageSpec]: ...
    def up(self, ctx: LabContext) -> None: ...
    def wait_healthy(self, ctx: LabContext, timeout: float = ...) -> None: ...
    def inventory(self, ctx: LabContext) -> tuple[list[Node], list[Cluster]]: ...
    def status(self, ctx: LabContext) -> list[StatusRow]: ...


def spec_path(lab: str) -> Path:
    """Where ``lab up`` keeps the lab file it was brought up with (status and down reuse it)."""
    return state_dir() / "labs" / lab / "lab.json"


def stored_spec(lab: str) -> LabFile | None:
    """The lab file a running lab was brought up with, if it was brought up on this machine."""
    path = spec_path(lab)
    if not path.exists():
        return None
    return parse_lab_data(load_json(path, "lab spec"), str(path))


def docker_inventory_path(lab: str) -> Path:
    """Where a lab reached over SSH also writes its ``docker://`` inventory."""
    return state_dir() / "labs" / lab / "inventory-docker.yaml"


def list_labs(client: docker.DockerClient | None = None) -> dict[str, int]:
    """Every lab on the engine (by label) and how many containers it has."""
    client = client or docker_client()
    labs: dict[str, int] = {}
    for c in client.containers.list(all=True, filters={"label": [LAB_LABEL]}, ignore_removed=True):
        labs[c.labels[LAB_LABEL]] = labs.get(c.labels[LAB_LABEL], 0) + 1
    for n in client.networks.list(filters={"label": [LAB_LABEL]}):
        labs.setdefault(n.attrs["Labels"][LAB_LABEL], 0)
    return labs


class Lab:
    """One named lab on the local Docker engine."""

    def __init__(
        self,
        spec: LabFile,
        *,
        progress: Progress | None = None,
        client: docker.DockerClient | None = None,
        owner: str = "",
        base_dir: Path | None = None,
    ) -> None:
        """``base_dir``: where relative paths in the lab file start (the lab file's folder)."""
        self.spec = spec
        self.base_dir = base_dir or Path.cwd()
        self.progress = progress or Progress(quiet=True)
        self.client = client or docker_client()
        self.ctx = LabContext(self.client, spec, self.progress, owner=owner)
        self.services: list[LabService] = []
        if spec.etcd is not None:
            self.services.append(EtcdService(spec.etcd, hosts=spec.nodes == "host", transport=spec.transport))
        if spec.nfs is not None:
            from hadrill.lab.nfs import NfsService

            self.services.append(NfsService(spec.nfs, hosts=spec.nodes == "host", transport=spec.transport))
        if spec.gluster is not None:
            from hadrill.lab.gluster import GlusterService

            self.services.append(GlusterService(spec.gluster, hosts=spec.nodes == "host", transport=spec.transport))
        if spec.swarm is not None:
            from hadrill.lab.swarm import SwarmService

            self.services.append(SwarmService(spec.swarm, spec.gluster, transport=spec.transport))
        if spec.kubernetes is not None and spec.kubernetes.mode == "kubeadm":
            from hadrill.lab.kubeadm import KubeadmService

            kubeadm = KubeadmService(
                spec.kubernetes, base_dir=self.base_dir, progress=self.progress, transport=spec.transport
            )
            self.services.append(kubeadm)
        elif spec.kubernetes is not None:
            from hadrill.lab.kube import KubeService

            self.services.append(KubeService(spec.kubernetes, base_dir=self.base_dir, progress=self.progress))
        if spec.monitoring is not None:
            from hadrill.lab.monitoring import MonitoringService

            self.services.append(
                MonitoringService(
                    spec.monitoring, self._metrics_targets, self._probe_targets, self._kube_targets,
                    listed=spec.transport == "docker",
                )
            )

    @property
    def name(self) -> str:
        return self.spec.name

    def _metrics_targets(self, ctx: LabContext) -> list[tuple[str, str]]:
        """Every (service, host:port) a part exposes Prometheus metrics on (parts say so themselves)."""
        return [t for svc in self.services for t in getattr(svc, "metrics_targets", lambda _ctx: [])(ctx)]

    def _kube_targets(self, ctx: LabContext) -> list[tuple[str, str]]:
        """Every (job, host:port) a Kubernetes part serves /metrics on over TLS (API servers, kubelets)."""
        return [t for svc in self.services for t in getattr(svc, "kube_metrics_targets", lambda _ctx: [])(ctx)]

    def _probe_targets(self, ctx: LabContext) -> list[tuple[str, str]]:
        """Every (service, host:port) a part says is alive when it accepts a TCP connection."""
        return [t for svc in self.services for t in getattr(svc, "probe_targets", lambda _ctx: [])(ctx)]

    @property
    def needs_storage(self) -> bool:
        return any(getattr(svc, "storage", False) for svc in self.services)

    @property
    def inventory_path(self) -> Path:
        return lab_inventory_path(self.name)

    def build(self, *, rebuild: bool = False) -> list[str]:
        """Build (or find cached) every image the lab's services need, the independent ones at once.

        Each service describes its images in its own thread (the Kubernetes part compiles its Go
        binaries there) and each image builds as soon as it is described, so the Debian images download
        and unpack while Go compiles. ensure_image locks per image. Returns the refs in service order.
        """
        built: dict[str, Future[str]] = {}
        order: list[str] = []
        errors: list[BaseException] = []
        with (
            ThreadPoolExecutor(max_workers=max(1, len(self.services)), thread_name_prefix="describe") as describe,
            ThreadPoolExecutor(max_workers=IMAGE_JOBS, thread_name_prefix="image") as builders,
        ):
            described = [describe.submit(svc.images) for svc in self.services]
            for future in as_completed(described):
                try:
                    specs = future.result()
                except Exception as e:  # the other images still finish: a later run reuses them
                    errors.append(e)
                    continue
                for img in specs:
                    if img.ref not in built:
                        built[img.ref] = builders.submit(
                            ensure_image, self.client, img, rebuild=rebuild, progress=self.progress
                        )
            for future in described:
                with contextlib.suppress(Exception):
                    order += [img.ref for img in future.result()]
            for job in built.values():
                try:
                    job.result()
                except Exception as e:
                    errors.append(e)
        if errors:
            for other in errors[1:]:
                self.progress.info(f"also failed: {other}")
            raise errors[0]
        return list(dict.fromkeys(order))

    def up(self, *, rebuild: bool = False, timeout: float = 120.0) -> Inventory:
        """Build, start, wait until healthy, write the inventory. Running it twice changes nothing."""
        self.build(rebuild=rebuild)
        with self.progress.step(f"lab {self.name}: networks"):
            self.ctx.ensure_network()
            if self.needs_storage:
                self.ctx.ensure_network(storage=True)
        names = ", ".join(svc.name for svc in self.services)
        with self.progress.step(f"lab {self.name}: {names} up and healthy"):
            self._up_services(timeout)
        inv = self.inventory()
        inv.dump(self.inventory_path)
        if self.spec.transport != "docker":  # the engine's view of the same nodes stays available
            inv.model_copy(
                update={"nodes": [n.model_copy(update={"url": f"docker://{n.name}"}) for n in inv.nodes]}
            ).dump(docker_inventory_path(self.name))
        spec_path(self.name).write_text(self.spec.model_dump_json(indent=1), encoding="utf-8")
        self.progress.info(f"inventory: {self.inventory_path}")
        return inv

    def _up_services(self, timeout: float) -> None:
        """Start every service at once: they share nothing but the networks, and the lab is only as
        slow as its slowest part (Gluster's peering, Kubernetes' elections), not their sum."""

        def one(svc: LabService) -> float:
            t0 = time.monotonic()
            svc.up(self.ctx)
            svc.wait_healthy(self.ctx, timeout)
            return time.monotonic() - t0

        errors: list[str] = []
        with ThreadPoolExecutor(max_workers=max(1, len(self.services))) as pool:
            futures = {pool.submit(one, svc): svc for svc in self.services}
            for future in as_completed(futures):
                svc = futures[future]
                try:
                    self.progress.info(f"  {svc.name} healthy after {future.result():.1f} s")
                except Exception as e:  # report every failing part, not only the first
                    errors.append(f"{svc.name}: {e}")
        if errors:
            raise LabError(f"lab {self.name} did not come up: " + "; ".join(errors))

    def inventory(self) -> Inventory:
        if self.ctx.subnet is None:
            self.ctx.ensure_network()
        if self.needs_storage and self.ctx.storage_network_name not in self.ctx.subnets:
            self.ctx.ensure_network(storage=True)
        nodes: list[Node] = []
        clusters: list[Cluster] = []
        for svc in self.services:
            n, c = svc.inventory(self.ctx)
            nodes += n
            clusters += c
        nets = [Network(name=self.ctx.network_name, subnet=str(self.ctx.subnet))]
        if self.needs_storage:
            storage = self.ctx.storage_network_name
            mtu = self.spec.network.storage_mtu
            nets.append(Network(name=storage, subnet=str(self.ctx.subnets[storage]), storage=True, mtu=mtu))
        monitoring = next((m(self.ctx) for svc in self.services if (m := getattr(svc, "monitoring", None))), None)
        return Inventory(
            platform=f"lab:{self.name}", source="lab", networks=nets, nodes=nodes, clusters=clusters,
            monitoring=monitoring,
        )  # fmt: skip

    def exists(self) -> bool:
        return self.name in list_labs(self.client)

    def status(self) -> list[StatusRow]:
        if not self.exists():
            raise LabError(f"no lab named {self.name} on this engine (hadrill lab up --name {self.name})")
        if self.ctx.find_network() is None or (self.needs_storage and self.ctx.find_network(storage=True) is None):
            raise LabError(f"lab {self.name} has lost a network; repair it with: hadrill lab up --name {self.name}")
        rows: list[StatusRow] = []
        for svc in self.services:
            rows += svc.status(self.ctx)
        return rows

    def down(self) -> dict[str, int]:
        """Remove every object carrying this lab's label, and its inventory."""
        with self.progress.step(f"lab {self.name}: down"):
            counts = remove_lab(self.client, self.name)
            for svc in self.services:  # services that keep files (the Kubernetes PKI) remove them
                down = getattr(svc, "down", None)
                if down is not None:
                    down(self.ctx)
            self.inventory_path.unlink(missing_ok=True)
            docker_inventory_path(self.name).unlink(missing_ok=True)
            LabSsh(self.name).remove()
            spec_path(self.name).unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                self.inventory_path.parent.rmdir()
        return counts


def prune_labs(owner: str, client: docker.DockerClient | None = None) -> list[str]:
    """Take down every lab made by ``owner`` (a killed test run's leftovers); return their names."""
    client = client or docker_client()
    names = sorted(labs_owned_by(client, owner))
    for name in names:
        remove_lab(client, name)
        lab_inventory_path(name).unlink(missing_ok=True)
        docker_inventory_path(name).unlink(missing_ok=True)
        LabSsh(name).remove()
        spec_path(name).unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            lab_inventory_path(name).parent.rmdir()
    return names

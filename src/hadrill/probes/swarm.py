"""Swarm probes: HTTP through the published ports, and the control plane through a manager.

The HTTP service publishes its port in ``mode=host`` (no ingress mesh here): only the nodes running
one of its tasks answer, and which nodes those are changes when a task is rescheduled. A client of such
a service keeps a list of the nodes' addresses and fails over to the next when one refuses or does not
connect (what DNS round robin with retries, or a front such as Traefik with health checks, does). The
probe is that client: it sticks to the last node that answered, tries the others within its timeout,
and a sample is good only when one answered 200 (a slow failover shows as latency over the threshold).

The control-plane probe asks a manager for a change the cluster must commit through Raft (a no-op
label update of the service) or for ``docker node ls``; both hang without quorum, so every call is
bounded and a call that does not return is a failed sample, never a wait.

The store probe writes through the stateful service (``settings.store``): one ``PUT`` of a new key per
sample, failing over between the nodes like the HTTP probe. A write is acknowledged when the service
answered ``201`` with the sha256 of what was sent; the sample's detail is then ``key`` (the file's path
on the Gluster volume: ``DIR/KEY``) and ``sha256``, the format the Gluster read-back checks (see
:func:`hadrill.probes.gluster.gluster_read_back_for`), so the RPO is counted by the same code as
Gluster's and NFS's: acknowledged keys the volume no longer holds with that content.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import uuid
from typing import Any

import requests

from hadrill.clients.swarm import SwarmCli
from hadrill.errors import ConfigError, ProbeFailed, TargetError
from hadrill.inventory import Cluster, Inventory
from hadrill.probes.failover import NodeFailover

__all__ = [
    "SwarmControlProbe",
    "SwarmHttpProbe",
    "SwarmStoreProbe",
    "http_endpoints",
    "manager_urls",
    "store_endpoints",
]


def http_endpoints(cluster: Cluster) -> list[str]:
    """The published HTTP endpoint of every node of the swarm (members' ``http`` endpoints)."""
    urls = [m.endpoints["http"] for m in cluster.members if "http" in m.endpoints]
    if not urls:
        raise ConfigError("inventory", f"clusters[{cluster.name}].members", "members with an http endpoint")
    return urls


def store_endpoints(cluster: Cluster) -> list[str]:
    """The stateful service's endpoint on every node (members' ``store`` endpoints)."""
    urls = [m.endpoints["store"] for m in cluster.members if "store" in m.endpoints]
    if not urls or "store" not in cluster.settings:
        raise ConfigError(
            "inventory", f"clusters[{cluster.name}].settings.store", "a stateful service (a lab with a gluster part)"
        )
    return urls


def manager_urls(inv: Inventory, cluster: Cluster, *, exclude: tuple[str, ...] = ()) -> list[str]:
    """Target URLs of the swarm's managers (``settings.managers``), minus ``exclude`` (node names)."""
    names = [str(n) for n in cluster.settings.get("managers", [])]
    if not names:
        raise ConfigError("inventory", f"clusters[{cluster.name}].settings.managers", "the managers' node names")
    return [inv.member_node(cluster, n).url for n in names if n not in exclude]


class SwarmHttpProbe(NodeFailover):
    """GET / through the published ports, failing over between nodes within ``timeout``."""

    default_name = "swarm-http"

    def __init__(self, urls: list[str], *, timeout: float = 1.0, connect_timeout: float = 0.25, name: str = "") -> None:
        super().__init__(urls, timeout=timeout, connect_timeout=connect_timeout, name=name)
        self._session = threading.local()

    def _http(self) -> requests.Session:
        session = getattr(self._session, "s", None)
        if session is None:
            session = self._session.s = requests.Session()
        return session

    def sample(self) -> dict[str, Any] | None:
        errors = []
        for i, (index, url, budget) in enumerate(self._nodes_in_turn()):
            try:
                r = self._http().get(url, timeout=self._timeouts(budget))
            except requests.RequestException as e:
                errors.append(f"{url}: {type(e).__name__}")
                continue
            if r.status_code != 200:
                errors.append(f"{url}: HTTP {r.status_code}")
                continue
            self._answered(index)
            return {"node": url, "task": r.text.strip()[:64], "tried": i + 1}
        raise ProbeFailed("no node answered: " + "; ".join(errors[-3:]))


class SwarmControlProbe:
    """A control-plane call on the first manager that answers: ``node-ls`` or ``update`` (a no-op label
    update of ``service``, committed through Raft). Fails when no manager answers within ``timeout``."""

    def __init__(
        self, urls: list[str], *, op: str = "update", service: str = "web", timeout: float = 3.0, name: str = ""
    ) -> None:
        if op not in ("update", "node-ls"):
            raise ConfigError("experiment", "op", "update or node-ls", op)
        self.urls, self.op, self.service, self.timeout = list(urls), op, service, timeout
        self.name = name or f"swarm-control-{op}"
        self._seq = 0
        self._lock = threading.Lock()

    def command(self) -> str:
        if self.op == "node-ls":
            return "docker node ls -q"
        with self._lock:
            self._seq += 1
            seq = self._seq
        return f"docker service update --detach --quiet --label-add hadrill.control-probe={seq} {self.service}"

    def sample(self) -> dict[str, Any] | None:
        errors = []
        deadline = time.monotonic() + self.timeout
        with self._lock:
            order = list(self.urls)
        for url in order:
            left = deadline - time.monotonic()
            if left <= 0.2:
                break
            try:
                SwarmCli(url, timeout=left).check(self.command())
            except TargetError as e:
                errors.append(str(e)[-160:])
                self._last(url)
                continue
            return {"manager": url}
        raise ProbeFailed("control plane refused or did not answer: " + " | ".join(errors[-2:]))

    def _last(self, url: str) -> None:
        """Ask a manager that failed after the others next time: a host that lost its power takes a call's
        whole budget to not answer over SSH (a stopped container refuses at once), and the others would
        never be asked."""
        with self._lock:
            if url in self.urls:
                self.urls.remove(url)
                self.urls.append(url)


class SwarmStoreProbe(SwarmHttpProbe):
    """PUT a new key through the stateful service; ok only when it answered 201 with our sha256."""

    def __init__(self, urls: list[str], *, folder: str, size: int = 4096, timeout: float = 1.0, name: str = "") -> None:
        super().__init__(urls, timeout=timeout, name=name or "swarm-store")
        self.folder, self.size = folder.strip("/"), size
        self._prefix = f"p{time.strftime('%H%M%S')}-{uuid.uuid4().hex[:6]}"
        self._seq = 0
        self._seq_lock = threading.Lock()

    def sample(self) -> dict[str, Any] | None:
        with self._seq_lock:
            self._seq += 1
            key = f"{self._prefix}-{self._seq:06d}"
        body = os.urandom(self.size)
        digest = hashlib.sha256(body).hexdigest()
        errors = []
        for i, (index, url, budget) in enumerate(self._nodes_in_turn()):
            try:
                r = self._http().put(f"{url}/{key}", data=body, timeout=self._timeouts(budget))
            except requests.ConnectionError as e:  # refused or not connected: nothing was sent, try the next
                errors.append(f"{url}: {type(e).__name__}")
                continue
            except requests.RequestException as e:  # sent, no answer: maybe written, never acknowledged
                raise ProbeFailed(f"{url}/{key}: {type(e).__name__} (not acknowledged)") from None
            if r.status_code != 201:
                raise ProbeFailed(f"{url}/{key}: HTTP {r.status_code} {r.text.strip()[:80]}")
            try:
                answered = str(r.json()["sha256"])
            except (ValueError, KeyError, TypeError):
                raise ProbeFailed(f"{url}/{key}: 201 without a sha256") from None
            if answered != digest:
                raise ProbeFailed(f"{url}/{key}: acknowledged sha256 {answered[:12]} is not the sent {digest[:12]}")
            self._answered(index)
            return {"key": f"{self.folder}/{key}", "sha256": digest, "node": url, "tried": i + 1}
        raise ProbeFailed("no node's store answered: " + "; ".join(errors[-3:]))

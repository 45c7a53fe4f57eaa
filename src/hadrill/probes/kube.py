"""Kubernetes probes: API readiness through the load balancer, and sequence-numbered ConfigMap writes.

Both speak plain HTTPS with the inventory's client certificate (no kubeconfig parsing, no client
library threads), with a timeout on every call. The write probe's ok samples hold the ConfigMap's name:
after the fault is healed, :meth:`KubeWriteProbe.read_back` lists the ones present, and
``slo.acked_writes_lost`` compares them with the acknowledged ones.

>>> api = KubeApi("https://10.213.7.100:6443", tls, timeout=1.0)   # doctest: +SKIP
>>> KubeReadyProbe(api).sample()                                    # doctest: +SKIP
{'status': 200}
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

from hadrill.clients.kube import KubeApi, KubeApiError
from hadrill.errors import ProbeFailed, TargetError

__all__ = ["DeploymentAvailableProbe", "KubeReadyProbe", "KubeWriteProbe"]

PROBE_LABEL = "hadrill.dev/probe"


class KubeReadyProbe:
    """GET /readyz answers 200 "ok" (through the load balancer when ``api`` points at it)."""

    def __init__(self, api: KubeApi, *, name: str = "kube-ready") -> None:
        self.api = api
        self.name = name

    def sample(self) -> dict[str, Any]:
        try:
            body = self.api.readyz()
        except KubeApiError as e:
            raise ProbeFailed(str(e)) from e
        return {"status": 200, "body": body[:20]}


class KubeWriteProbe:
    """Creates ConfigMap ``<prefix>-<seq>`` in ``namespace``; an ok sample's detail holds it as ``key``."""

    def __init__(self, api: KubeApi, *, namespace: str = "hadrill-probe", prefix: str = "w", name: str = "") -> None:
        self.api = api
        self.namespace = namespace
        self.prefix = prefix
        self.name = name or "kube-write"
        self._seq = itertools.count(1)
        self._lock = threading.Lock()
        self._path = f"/api/v1/namespaces/{namespace}/configmaps"

    def prepare(self) -> None:
        """Create the probe's namespace (once; it is kept for read-back)."""
        ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.namespace}}
        self.api.create("/api/v1/namespaces", ns)

    def sample(self) -> dict[str, Any]:
        with self._lock:
            seq = next(self._seq)
        key = f"{self.prefix}-{seq:08d}"
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": key, "labels": {PROBE_LABEL: self.prefix}},
            "data": {"seq": str(seq), "at": f"{time.time():.6f}"},
        }
        try:
            created = self.api.post(self._path, body)
        except KubeApiError as e:
            raise ProbeFailed(str(e)) from e
        return {"seq": seq, "key": key, "resource_version": created.get("metadata", {}).get("resourceVersion")}

    def read_back(self, *, attempts: int = 20, timeout: float = 10.0) -> set[str]:
        """The names of the probe's ConfigMaps present now (retried while the API is not back)."""
        last: Exception | None = None
        api = self.api.with_timeout(timeout)
        for _ in range(attempts):
            try:
                items = api.list_all(self._path, label_selector=f"{PROBE_LABEL}={self.prefix}")
                return {str(i["metadata"]["name"]) for i in items}
            except KubeApiError as e:
                last = e
                time.sleep(0.5)
        raise TargetError(f"could not list the ConfigMaps of probe {self.name} in {self.namespace}: {last}")


class DeploymentAvailableProbe:
    """A sample is ok while Deployment ``name`` has at least ``min_available`` available replicas.

    A state probe: each sample reads the Deployment's status through the API, so a slow answer is a
    slow observer, not replicas missing. It has no latency threshold (``latency_threshold = None``);
    the API's own latency is what the Kubernetes write and ready probes judge.
    """

    latency_threshold: float | None = None

    def __init__(self, api: KubeApi, namespace: str, name: str, min_available: int = 1) -> None:
        self.api = api
        self.path = f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"
        self.min_available = min_available
        self.name = f"deployment-{name}-available"

    def sample(self) -> dict[str, Any]:
        try:
            status = self.api.get(self.path).get("status") or {}
        except KubeApiError as e:
            raise ProbeFailed(str(e)) from e
        available = int(status.get("availableReplicas") or 0)
        if available < self.min_available:
            raise ProbeFailed(f"{available} available replicas < {self.min_available}")
        return {"available": available, "replicas": int(status.get("replicas") or 0)}

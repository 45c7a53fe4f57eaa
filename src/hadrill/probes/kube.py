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

import requests

from hadrill.errors import ProbeFailed, TargetError
from hadrill.inventory import Cluster, TLSFiles

__all__ = ["KubeApi", "KubeApiError", "KubeReadyProbe", "KubeWriteProbe", "cluster_api", "lease_holder", "ready_nodes"]

PROBE_LABEL = "hadrill.dev/probe"


class KubeApiError(TargetError):
    """The API server answered, with an error status (``status`` holds it; 0 when it did not answer)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class KubeApi:
    """A minimal client for one API server URL; safe to share between threads (one session each)."""

    def __init__(self, server: str, tls: TLSFiles, *, timeout: float = 2.0) -> None:
        self.server = server.rstrip("/")
        self.tls = tls
        self.timeout = timeout
        self._local = threading.local()

    def _session(self) -> requests.Session:
        s: requests.Session | None = getattr(self._local, "session", None)
        if s is None:
            s = requests.Session()
            s.trust_env = False  # else REQUESTS_CA_BUNDLE overrides s.verify, and a proxy could take the traffic
            s.verify = self.tls.ca
            s.cert = (self.tls.cert, self.tls.key)
            self._local.session = s
        return s

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, timeout: float | None = None,
        params: dict[str, str] | None = None,
    ) -> requests.Response:  # fmt: skip
        url = f"{self.server}{path}"
        try:
            r = self._session().request(method, url, json=body, params=params, timeout=timeout or self.timeout)
        except requests.RequestException as e:
            raise KubeApiError(f"{method} {url}: {type(e).__name__}: {e}") from e
        if r.status_code >= 400:
            raise KubeApiError(f"{method} {url}: HTTP {r.status_code}: {r.text[:200]}", r.status_code)
        return r

    def get(self, path: str, **kwargs: Any) -> dict[str, Any]:
        data: dict[str, Any] = self.request("GET", path, **kwargs).json()
        return data

    def post(self, path: str, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        data: dict[str, Any] = self.request("POST", path, body, **kwargs).json()
        return data

    def create(self, path: str, body: dict[str, Any]) -> bool:
        """POST unless the object exists; True when it was created."""
        try:
            self.request("POST", path, body)
        except KubeApiError as e:
            if e.status == 409:
                return False
            raise
        return True

    def readyz(self, timeout: float | None = None) -> str:
        """The body of /readyz when the server is ready ("ok"); KubeApiError otherwise."""
        return self.request("GET", "/readyz", timeout=timeout).text.strip()

    def list_all(self, path: str, *, label_selector: str = "", pages: int = 1000) -> list[dict[str, Any]]:
        """Every item of a list, page by page (bounded)."""
        items: list[dict[str, Any]] = []
        params = {"limit": "500", **({"labelSelector": label_selector} if label_selector else {})}
        for _ in range(pages):
            data = self.get(path, params=params)
            items += data.get("items", [])
            token = (data.get("metadata") or {}).get("continue")
            if not token:
                return items
            params["continue"] = token
        raise KubeApiError(f"GET {path}: more than {pages} pages")


def cluster_api(cluster: Cluster, *, timeout: float = 1.0) -> KubeApi:
    """A client for the cluster's API address (``settings.api``) with its admin certificate."""
    if cluster.tls is None or "api" not in cluster.settings:
        raise TargetError(f"cluster {cluster.name} has no settings.api or tls: not a hadrill Kubernetes cluster")
    return KubeApi(str(cluster.settings["api"]), cluster.tls, timeout=timeout)


def lease_holder(api: KubeApi, lease: str, namespace: str = "kube-system") -> str:
    """The holder of a leader-election lease: its hostname (the node's name in the lab), "" when none."""
    try:
        spec = api.get(f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{lease}").get("spec", {})
    except KubeApiError as e:
        if e.status != 404:
            raise
        return ""
    return str(spec.get("holderIdentity") or "").split("_", 1)[0]


def ready_nodes(api: KubeApi) -> set[str]:
    """Names of the Nodes whose Ready condition is True."""
    ready = set()
    for node in api.list_all("/api/v1/nodes"):
        conds = node.get("status", {}).get("conditions") or []
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds):
            ready.add(str(node["metadata"]["name"]))
    return ready


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
        api = KubeApi(self.api.server, self.api.tls, timeout=timeout)
        for _ in range(attempts):
            try:
                items = api.list_all(self._path, label_selector=f"{PROBE_LABEL}={self.prefix}")
                return {str(i["metadata"]["name"]) for i in items}
            except KubeApiError as e:
                last = e
                time.sleep(0.5)
        raise TargetError(f"could not list the ConfigMaps of probe {self.name} in {self.namespace}: {last}")

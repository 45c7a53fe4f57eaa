"""The Kubernetes API as hadrill reaches it: plain HTTPS with a client certificate, a timeout on every call,
and ONE way to build a client for an inventory's cluster, :func:`kube_api`, used by faults, probes,
recovery checks, compliance, providers and preflight alike (so they all talk to the same cluster).

>>> api = kube_api(inventory.cluster("kubernetes"), timeout=1.0)   # doctest: +SKIP
>>> api.readyz()                                                     # doctest: +SKIP
'ok'
"""

from __future__ import annotations

import threading
from typing import Any

import requests

from hadrill.clients.etcd import EtcdClient
from hadrill.errors import ConfigError, TargetError
from hadrill.inventory import Cluster, Inventory, TLSFiles

__all__ = [
    "LEASES",
    "KubeApi",
    "KubeApiError",
    "kube_api",     "kubeconfig_env",
    "lease_holder",
    "node_problem",
    "ready_nodes",
]

# The control-plane components that elect a leader through a Lease, by the names experiments use.
LEASES = {"controller-manager": "kube-controller-manager", "scheduler": "kube-scheduler"}


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

    def list_all(
        self, path: str, *, label_selector: str = "", limit: int = 500, pages: int = 1000
    ) -> list[dict[str, Any]]:
        """Every item of a list, ``limit`` per page (``continue``), at most ``pages`` pages."""
        items: list[dict[str, Any]] = []
        params = {"limit": str(limit), **({"labelSelector": label_selector} if label_selector else {})}
        for _ in range(pages):
            data = self.get(path, params=params)
            items += [i for i in data.get("items") or [] if isinstance(i, dict)]
            token = (data.get("metadata") or {}).get("continue")
            if not token:
                return items
            params["continue"] = token
        raise KubeApiError(f"GET {path}: more than {pages} pages")


def kube_api(cluster: Cluster, *, timeout: float = 2.0) -> KubeApi:
    """A client for the cluster's API server, decided here once for every caller:

    1. ``settings.api`` with the cluster's ``tls`` files (hadrill's lab), else
    2. ``settings.kubeconfig`` at ``settings.context`` (else the kubeconfig's current context), through the
       Kubernetes client library, which materialises embedded credentials in its own temporary files (as
       kubectl does): nothing is copied into the inventory. The user must have a client certificate.

    Neither is bad input (:class:`ConfigError`); an unreadable kubeconfig is a :class:`TargetError`.
    """
    s = cluster.settings
    if cluster.tls is not None and "api" in s:
        return KubeApi(str(s["api"]), cluster.tls, timeout=timeout)
    if "kubeconfig" not in s:
        raise ConfigError("inventory", f"clusters[{cluster.name}].settings", "api (with tls) or kubeconfig")
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config

    cfg = k8s.Configuration()
    try:
        k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            str(s["kubeconfig"]), context=s.get("context"), client_configuration=cfg
        )
    except Exception as e:  # the library raises ConfigException, OSError, yaml errors...
        raise TargetError(f"cluster {cluster.name}: kubeconfig {s['kubeconfig']}: {e}") from e
    if not (cfg.cert_file and cfg.key_file):
        raise TargetError(f"cluster {cluster.name}: its kubeconfig user has no client certificate (needed here)")
    return KubeApi(cfg.host, TLSFiles(ca=cfg.ssl_ca_cert or "", cert=cfg.cert_file, key=cfg.key_file), timeout=timeout)


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


def _tls(d: dict[str, str] | None) -> TLSFiles | None:
    return TLSFiles(**d) if d else None


def node_problem(p: dict[str, Any]) -> str | None:
    """What is not back yet on a control-plane node (its etcd member, its API server), None when both are.

    ``p`` holds what a fault recorded: ``etcd`` + ``etcd_tls`` and ``api`` + ``api_tls`` (either may be absent).
    """
    if p.get("etcd") and p.get("etcd_tls"):
        try:
            st = EtcdClient(p["etcd"], timeout=1.0, tls=_tls(p["etcd_tls"])).status()
        except TargetError as e:
            return f"etcd member: {e}"
        if st.leader in ("", "0"):
            return "etcd member has no leader"
    if p.get("api") and p.get("api_tls"):
        try:
            body = KubeApi(p["api"], TLSFiles(**p["api_tls"]), timeout=2.0).readyz()
        except KubeApiError as e:
            return f"kube-apiserver: {e}"
        if body != "ok":
            return f"kube-apiserver /readyz: {body[:100]}"
    return None


def kubeconfig_env(inv: Inventory) -> dict[str, str]:
    """``KUBECONFIG`` (and ``KUBERNETES_CONTEXT``) for the inventory's Kubernetes cluster, as Chaos Toolkit's
    Kubernetes extension (``chaosk8s``) and kubectl read them; empty when it has none or no kubeconfig."""
    found = [c for c in inv.clusters if c.type == "kubernetes" and c.settings.get("kubeconfig")]
    if not found:
        return {}
    env = {"KUBECONFIG": str(found[0].settings["kubeconfig"])}
    if found[0].settings.get("context"):
        env["KUBERNETES_CONTEXT"] = str(found[0].settings["context"])
    return env

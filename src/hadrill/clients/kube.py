"""The Kubernetes API as hadrill reaches it: the way kubectl does, and ONE way to build a client for an
inventory's cluster, :func:`kube_api`, used by faults, probes, recovery checks, compliance, providers and
preflight alike (so they all talk to the same cluster, with the same credentials).

The credentials are resolved by the official ``kubernetes`` client's loader (client certificates, bearer
tokens, token files, exec credential plugins with their expiry and refresh, auth-provider/OIDC, proxy-url),
or its in-cluster loader (the pod's service account). The HTTP path the probes sample every 100 ms is a
lean :class:`KubeApi` built from what that loader resolved (the ``Configuration``'s host, CA, client
certificate files and ``Authorization`` header, refreshed through ``refresh_api_key_hook``; the
``tls-server-name`` the certificate is checked against; the proxy (``proxy-url``, else ``HTTPS_PROXY``)
unless ``NO_PROXY`` names the server, as the official client does): one ``requests`` session per thread, a
timeout on every call, no second kubeconfig parser.

>>> api = kube_api(inventory.cluster("kubernetes"), timeout=1.0)   # doctest: +SKIP
>>> api.readyz()                                                     # doctest: +SKIP
'ok'
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit
from urllib.request import getproxies

import requests
from requests.adapters import HTTPAdapter

from hadrill.clients.etcd import EtcdClient
from hadrill.errors import ConfigError, TargetError
from hadrill.inventory import Cluster, Inventory, TLSFiles

__all__ = [
    "LEASES",
    "KubeApi",
    "KubeApiError",
    "api_reference",
    "kube_api",
    "kubeconfig_env",
    "lease_holder",
    "member_api",
    "node_problem",
    "ready_nodes",
]

# The control-plane components that elect a leader through a Lease, by the names experiments use.
LEASES = {"controller-manager": "kube-controller-manager", "scheduler": "kube-scheduler"}

RBAC_DOC = "deploy/rbac/ in hadrill's repository holds the minimal ClusterRole of each command"
_FORBIDDEN = re.compile(r'cannot (\w+) resource "([^"]+)"(?: in API group "([^"]*)")?')


class KubeApiError(TargetError):
    """The API server answered, with an error status (``status`` holds it; 0 when it did not answer)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class _Static:
    """Fixed credentials (an address with the harness's TLS files), shaped like the loader's Configuration."""

    def __init__(self, server: str, tls: TLSFiles | None) -> None:
        self.host = server
        self.ssl_ca_cert = tls.ca if tls else None
        self.cert_file = tls.cert if tls else None
        self.key_file = tls.key if tls else None
        self.verify_ssl = True
        self.proxy: str | None = None
        self.no_proxy: str | None = None
        self.tls_server_name: str | None = None

    def get_api_key_with_prefix(self, identifier: str) -> str | None:
        return None


def _bypasses(url: str, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` (comma-separated: ``*``, a host or domain suffix, ``host:port``, an address or a
    CIDR) names the server of ``url``, as the official client reads it. Pure: requests' own check sets
    ``os.environ`` while it runs, which the probes' threads must not race on."""
    parts = urlsplit(url)
    host, netloc = (parts.hostname or "").lower(), parts.netloc.lower()
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        if address is not None:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                pass
        entry = entry.lstrip(".")
        if entry in (host, netloc) or host.endswith("." + entry) or netloc.endswith("." + entry):
            return True
    return False


@dataclass(frozen=True)
class _Call:
    generation: int
    headers: dict[str, str]
    verify: str | bool
    cert: tuple[str, str] | None
    proxies: dict[str, str] | None
    server_name: str | None


class _ServerName(HTTPAdapter):
    """Checks the server's certificate against (and sends as SNI) the kubeconfig's ``tls-server-name``
    instead of the address dialled, directly or through a proxy's CONNECT tunnel."""

    def __init__(self, server_name: str) -> None:
        self.server_name = server_name
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs.update(server_hostname=self.server_name, assert_hostname=self.server_name)
        super().init_poolmanager(*args, **kwargs)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        kwargs.update(server_hostname=self.server_name, assert_hostname=self.server_name)
        return super().proxy_manager_for(proxy, **kwargs)


class _Auth:
    """The credentials one or more :class:`KubeApi` share: read under a lock (the loader's refresh hook runs
    an exec plugin or re-reads a token file when the token expires, and is not thread-safe), renewed from
    the loader once when the API answers 401 (a token revoked before its expiry)."""

    def __init__(self, credentials: Any, reload: Callable[[], Any] | None) -> None:
        self.credentials = credentials
        self.reload = reload
        self.lock = threading.Lock()
        self.generation = 0

    def current(self, url: str) -> _Call:
        """What the next request to ``url`` carries: headers, CA, client certificate, proxy, TLS server name."""
        with self.lock, _loader_log():  # a failing refresh keeps the old token: the 401 that follows says why
            c = self.credentials
            token = c.get_api_key_with_prefix("BearerToken")
            headers = {"Authorization": token} if token else {}
            verify: str | bool = (c.ssl_ca_cert or True) if c.verify_ssl else False
            cert = (c.cert_file, c.key_file) if c.cert_file and c.key_file else None
            proxy = getattr(c, "proxy", None)
            no_proxy = (getattr(c, "no_proxy", None) or getproxies().get("no")) if proxy else None  # client < 27: env
            if proxy and no_proxy and _bypasses(url, no_proxy):
                proxy = None  # NO_PROXY names the server: the official client connects directly too
            proxies = {"http": proxy, "https": proxy} if proxy else None
            server_name = getattr(c, "tls_server_name", None) or None
            return _Call(self.generation, headers, verify, cert, proxies, server_name)

    def renew(self, generation: int) -> bool:
        """Load the credentials again (re-running an exec plugin); False when there is nothing to reload."""
        with self.lock:
            if generation != self.generation:
                return True  # another thread renewed them already
            if self.reload is None:
                return False
            self.credentials = self.reload()
            self.generation += 1
            return True


class KubeApi:
    """A minimal client for one API server; safe to share between threads (one session each).

    ``KubeApi(server, tls)`` is the harness's own client (the lab's admin certificate); :func:`kube_api`
    builds one from the credentials the Kubernetes client's loader resolved.
    """

    def __init__(
        self, server: str, tls: TLSFiles | None = None, *, timeout: float = 2.0, where: str = "",
        credentials: Any = None, reload: Callable[[], Any] | None = None,
    ) -> None:  # fmt: skip
        self.server = server.rstrip("/")
        self.tls = tls
        self.timeout = timeout
        self.where = where or f"API server {self.server}"
        self._auth = _Auth(credentials if credentials is not None else _Static(self.server, tls), reload)
        self._local = threading.local()

    @property
    def credentials(self) -> Any:
        """The loader's resolved ``Configuration`` (never print it: it holds the token)."""
        return self._auth.credentials

    def with_timeout(self, timeout: float) -> KubeApi:
        """The same server and (shared, refreshed) credentials with another timeout."""
        other = KubeApi(self.server, self.tls, timeout=timeout, where=self.where)
        other._auth = self._auth
        return other

    def _session(self, server_name: str | None) -> requests.Session:
        s: requests.Session | None = getattr(self._local, "session", None)
        if s is None or getattr(self._local, "server_name", None) != server_name:
            s = requests.Session()
            s.trust_env = False  # else REQUESTS_CA_BUNDLE overrides verify; the proxy is the loader's
            if server_name:
                s.mount("https://", _ServerName(server_name))
            self._local.session, self._local.server_name = s, server_name
        return s

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, timeout: float | None = None,
        params: dict[str, str] | None = None,
    ) -> requests.Response:  # fmt: skip
        url = f"{self.server}{path}"
        for attempt in (1, 2):
            call = self._auth.current(url)
            try:
                r = self._session(call.server_name).request(
                    method, url, json=body, params=params, timeout=timeout or self.timeout, headers=call.headers,
                    verify=call.verify, cert=call.cert, proxies=call.proxies,
                )  # fmt: skip
            except requests.RequestException as e:
                raise KubeApiError(
                    f"{self.where}: {method} {path}: API server {self.server} unreachable: {_reason(e)}"
                ) from None
            if r.status_code == 401 and attempt == 1 and self._auth.renew(call.generation):
                continue
            break
        if r.status_code >= 400:
            raise KubeApiError(self._explain(method, path, r), r.status_code)
        return r

    def _explain(self, method: str, path: str, r: requests.Response) -> str:
        """One line naming the cluster, the context, what failed and what to do (never a credential)."""
        try:
            message = str(r.json().get("message") or "")
        except ValueError:
            message = r.text
        message = " ".join(message.split())[:300]
        if r.status_code == 401:
            return (
                f"{self.where}: {method} {path}: HTTP 401 Unauthorized: the API refused the credentials "
                "(expired or revoked token, failing credential plugin, untrusted certificate): renew them"
            )
        if r.status_code == 403:
            m = _FORBIDDEN.search(message)
            what = f"{m.group(1)} {m.group(2)}" if m else "it"
            if m and m.group(3):
                what += f" (API group {m.group(3)})"
            return (
                f"{self.where}: {method} {path}: HTTP 403 Forbidden: RBAC forbids {what}: {message}: "
                f"grant it ({RBAC_DOC})"
            )
        return f"{self.where}: {method} {path}: HTTP {r.status_code}: {message}"

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
        raise KubeApiError(f"{self.where}: GET {path}: more than {pages} pages")


def _reason(e: requests.RequestException) -> str:
    """A short why for a request that got no answer (requests' own text repeats the URL and a repr)."""
    if isinstance(e, requests.ConnectTimeout):
        return "connect timeout: check the server address, the network and any proxy"
    if isinstance(e, requests.ReadTimeout):
        return "read timeout (the server accepted the connection but did not answer)"
    if isinstance(e, requests.exceptions.SSLError):
        if "mismatch" in str(e) or "doesn't match" in str(e):
            return (
                "the server's certificate does not name the address dialled: connect by a name it holds, or set "
                "the kubeconfig cluster's tls-server-name to one"
            )
        return "TLS handshake failed: check the kubeconfig's certificate-authority and client certificate"
    m = re.search(r"\[Errno -?\d+\] ([^'\")]+)", str(e))
    return f"{m.group(1).strip() if m else type(e).__name__}: check the server address, the network and any proxy"


class _Captured(logging.Filter):
    """Takes the errors the kubeconfig loader logs instead of raising (a failing exec plugin) off the root
    logger, so hadrill can say them once, in its own words, and nothing else prints them."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if "kubernetes" in record.pathname and record.levelno >= logging.ERROR:
            self.messages.append(" ".join(record.getMessage().split())[:200])
            return False
        return True


@contextlib.contextmanager
def _loader_log() -> Iterator[list[str]]:
    captured = _Captured()
    root = logging.getLogger()
    root.addFilter(captured)
    try:
        yield captured.messages
    finally:
        root.removeFilter(captured)


def _current_context(path: str) -> str:
    from kubernetes import config as k8s_config

    try:
        _contexts, active = k8s_config.list_kube_config_contexts(path)  # type: ignore[no-untyped-call]
    except Exception:  # unreadable: the loader says why, below
        return "?"
    return str((active or {}).get("name") or "?")


def _from_kubeconfig(path: str, context: str | None, where: str) -> Any:
    """The loader's Configuration for the kubeconfig at ``context``; TargetError (one line) when it fails."""
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config

    cfg = k8s.Configuration()
    with _loader_log() as logged:
        try:
            k8s_config.load_kube_config(path, context=context, client_configuration=cfg)  # type: ignore[no-untyped-call]
        except Exception as e:  # the library raises ConfigException, OSError, yaml errors...
            raise TargetError(f"{where}: kubeconfig {path}: {' '.join(str(e).split())[:300]}") from e
    if logged and not (cfg.api_key or cfg.cert_file):
        why = logged[0]
        if "No such file" in why or "not found" in why:
            raise TargetError(
                f"{where}: the exec credential plugin is missing ({why}): install it or fix "
                f"users[].user.exec.command in {path}"
            )
        raise TargetError(f"{where}: the exec credential plugin failed ({why}): run it by hand to see why")
    return cfg


def _in_cluster(where: str) -> Any:
    """The pod's service account (token file re-read every minute by the loader's refresh hook)."""
    from kubernetes import client as k8s
    from kubernetes import config as k8s_config

    cfg = k8s.Configuration()
    try:
        k8s_config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
    except Exception as e:
        raise TargetError(f"{where}: {' '.join(str(e).split())[:300]}") from e
    return cfg


def kube_api(cluster: Cluster, *, timeout: float = 2.0) -> KubeApi:
    """A client for the cluster's API server, decided here once for every caller:

    1. ``settings.kubeconfig`` at ``settings.context`` (else the kubeconfig's current context), resolved by
       the Kubernetes client's loader: every kubeconfig auth method kubectl knows. The lab's inventory has
       one too (its admin kubeconfig). ``insecure-skip-tls-verify`` is refused unless the cluster's
       ``settings.insecure_skip_tls_verify`` is true.
    2. else ``settings.api`` with the cluster's ``tls`` files;
    3. else, when hadrill runs in a pod, its service account (in-cluster config).

    None of them is bad input (:class:`ConfigError`, exit 2); credentials that cannot be loaded (a missing
    or failing exec plugin, an unknown context) are a :class:`TargetError` (exit 3) naming cluster and context.
    """
    s = cluster.settings
    load: Callable[[], Any]
    if s.get("kubeconfig"):
        path, context = str(s["kubeconfig"]), (str(s["context"]) if s.get("context") else None)
        where = f"cluster {cluster.name} (context {context or _current_context(path)})"

        def load() -> Any:
            return _from_kubeconfig(path, context, where)

    elif cluster.tls is not None and s.get("api"):
        return KubeApi(str(s["api"]), cluster.tls, timeout=timeout, where=f"cluster {cluster.name} ({s['api']})")
    elif os.environ.get("KUBERNETES_SERVICE_HOST"):
        where = f"cluster {cluster.name} (in-cluster service account)"

        def load() -> Any:
            return _in_cluster(where)

    else:
        raise ConfigError(
            "inventory", f"clusters[{cluster.name}].settings",
            "kubeconfig (and context), or api with tls, or hadrill running in a pod (in-cluster config)",
        )  # fmt: skip
    cfg = load()
    if not cfg.verify_ssl and s.get("insecure_skip_tls_verify") is not True:
        raise ConfigError(
            "inventory", f"clusters[{cluster.name}].settings.insecure_skip_tls_verify",
            "true to accept the kubeconfig's insecure-skip-tls-verify (the server's certificate is then not checked)",
        )  # fmt: skip
    return KubeApi(cfg.host, None, timeout=timeout, where=where, credentials=cfg, reload=load)


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


def api_reference(cluster: Cluster) -> dict[str, Any]:
    """How :func:`kube_api` reaches the cluster, to record in the ledger and reach it again after a crash
    (:func:`member_api`): the kubeconfig's path and context (``api_kubeconfig``, ``api_context``), else the
    harness's TLS files (``api_tls``), else ``api_in_cluster``. Paths and names only, never a credential."""
    s = cluster.settings
    if s.get("kubeconfig"):
        return {"api_kubeconfig": str(s["kubeconfig"]), "api_context": str(s.get("context") or "")}
    if cluster.tls is not None and s.get("api"):
        return {"api_tls": cluster.tls.model_dump()}
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return {"api_in_cluster": True}
    return {}


def member_api(p: dict[str, Any], *, timeout: float) -> KubeApi | None:
    """A client for the API server at ``p["api"]`` (one control-plane member's own, or the address a drill
    used), with the credentials a fault recorded (:func:`api_reference`): the harness's TLS files
    (``api_tls``), else the kubeconfig and context it reached the cluster with (``api_kubeconfig``,
    ``api_context``), else the pod's service account (``api_in_cluster``)."""
    if not p.get("api"):
        return None
    if p.get("api_tls"):
        return KubeApi(p["api"], TLSFiles(**p["api_tls"]), timeout=timeout)
    if p.get("api_in_cluster"):
        where = f"API server {p['api']} (in-cluster service account)"

        def in_cluster() -> Any:
            return _in_cluster(where)

        return KubeApi(p["api"], timeout=timeout, where=where, credentials=in_cluster(), reload=in_cluster)
    if p.get("api_kubeconfig"):
        path, context = str(p["api_kubeconfig"]), p.get("api_context") or None
        where = f"API server {p['api']} (context {context or _current_context(path)})"

        def load() -> Any:
            return _from_kubeconfig(path, context, where)

        return KubeApi(p["api"], timeout=timeout, where=where, credentials=load(), reload=load)
    return None


def node_problem(p: dict[str, Any]) -> str | None:
    """What is not back yet on a control-plane node (its etcd member, its API server), None when both are.

    ``p`` holds what a fault recorded: ``etcd`` + ``etcd_tls`` and ``api`` + ``api_tls`` or ``api_kubeconfig``
    (+ ``api_context``) (either may be absent).
    """
    if p.get("etcd") and p.get("etcd_tls"):
        try:
            st = EtcdClient(p["etcd"], timeout=1.0, tls=_tls(p["etcd_tls"])).status()
        except TargetError as e:
            return f"etcd member: {e}"
        if st.leader in ("", "0"):
            return "etcd member has no leader"
    api = member_api(p, timeout=2.0)
    if api is not None:
        try:
            body = api.readyz()
        except (KubeApiError, TargetError) as e:
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

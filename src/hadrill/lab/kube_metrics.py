"""What the lab's Prometheus needs from a kubeadm cluster to read the kubelets' /metrics.

A kubelet asks the API server whether a client may read its /metrics (webhook authorization: verb
``get`` on ``nodes/metrics``). The API server's own ``system:monitoring`` role covers only the API
server's /metrics, so the lab binds a role for the kubelets' to the monitoring's certificate user
(:data:`hadrill.lab.kube_pki.SCRAPE_USER`): the least a scraper needs, not cluster-admin.
"""

from __future__ import annotations

from typing import Any

from hadrill.clients.kube import KubeApi
from hadrill.lab.kube_pki import SCRAPE_USER

__all__ = ["KUBELET_PORT", "grant_kubelet_metrics", "kubelet_metrics_rbac"]

KUBELET_PORT = 10250
_ROLE = "hadrill:kubelet-metrics"


def kubelet_metrics_rbac() -> list[tuple[str, dict[str, Any]]]:
    """(collection path, object) of the ClusterRole and its binding to the monitoring's user."""
    rbac = "/apis/rbac.authorization.k8s.io/v1"
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": _ROLE},
        "rules": [{"apiGroups": [""], "resources": ["nodes/metrics"], "verbs": ["get"]}],
    }  # fmt: skip
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": _ROLE},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": _ROLE},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": SCRAPE_USER}],
    }  # fmt: skip
    return [(f"{rbac}/clusterroles", role), (f"{rbac}/clusterrolebindings", binding)]


def grant_kubelet_metrics(api: KubeApi) -> None:
    """Create the role and binding unless they exist (``lab up`` twice changes nothing)."""
    for path, body in kubelet_metrics_rbac():
        api.create(path, body)

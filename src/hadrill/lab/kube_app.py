"""The application the kubeadm lab runs, so experiments measure what users see beside the API.

nginx from Debian (``hadrill.local/web:1``, imported into every node: ``imagePullPolicy: Never``) as a
Deployment of 3 replicas with a readiness probe, spread across the workers, evicted 30 s after their node
is declared unreachable (fast failover, the default is 300 s), a PodDisruptionBudget
(``minAvailable: 2``) and a NodePort Service. The harness reaches it from outside the pods through a
worker's address (``http://WORKER:30080/``): what a load balancer in front of the nodes would do.
"""

from __future__ import annotations

from typing import Any

from hadrill.clients.kube import KubeApi, KubeApiError

__all__ = ["APP_NAMESPACE", "APP_NODE_PORT", "EVICT_AFTER_S", "app_manifests", "app_problem", "deploy_app"]

APP_NAMESPACE = "hadrill-app"
APP_NAME = "web"
APP_NODE_PORT = 30080
EVICT_AFTER_S = 30  # tolerationSeconds of the unreachable and not-ready taints (see app_manifests)
_LABELS = {"app.kubernetes.io/name": APP_NAME}


def app_manifests(image: str, replicas: int = 3) -> list[tuple[str, dict[str, Any]]]:
    """(collection path, object) of the namespace, Deployment, PDB and Service, in creation order."""
    ns = APP_NAMESPACE
    container = {
        "name": APP_NAME, "image": image, "imagePullPolicy": "Never", "ports": [{"containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 1, "failureThreshold": 2},
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
    }  # fmt: skip
    spread = {
        "maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": _LABELS},
    }  # fmt: skip
    # Fast failover for a stateless app, as operators set it: evicted 30 s after its node is declared
    # unreachable or not ready (itself after node-monitor-grace-period without a heartbeat), instead of
    # the 300 s the DefaultTolerationSeconds admission plugin gives every pod, which suits pods that must
    # not move on a short partition. kube-kill-worker measures the time until the pods run elsewhere.
    tolerations = [
        {"key": f"node.kubernetes.io/{taint}", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": EVICT_AFTER_S}
        for taint in ("unreachable", "not-ready")
    ]  # fmt: skip
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": APP_NAME, "namespace": ns},
        "spec": {
            "replicas": replicas, "selector": {"matchLabels": _LABELS},
            "strategy": {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {"metadata": {"labels": _LABELS}, "spec": {
                "containers": [container], "topologySpreadConstraints": [spread],
                "terminationGracePeriodSeconds": 5, "tolerations": tolerations,
            }},
        },
    }  # fmt: skip
    pdb = {
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": APP_NAME, "namespace": ns},
        "spec": {"minAvailable": max(1, replicas - 1), "selector": {"matchLabels": _LABELS}},
    }  # fmt: skip
    service = {
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": APP_NAME, "namespace": ns},
        "spec": {"type": "NodePort", "selector": _LABELS,
                 "ports": [{"port": 80, "targetPort": 8080, "nodePort": APP_NODE_PORT}]},
    }  # fmt: skip
    return [
        ("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        (f"/apis/apps/v1/namespaces/{ns}/deployments", deployment),
        (f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets", pdb),
        (f"/api/v1/namespaces/{ns}/services", service),
    ]


def deploy_app(api: KubeApi, image: str, replicas: int = 3) -> None:
    """Create what is missing (idempotent: an existing object is left as it is)."""
    for path, body in app_manifests(image, replicas):
        try:  # asked first: a Service's POST fails on its taken nodePort (422) before its name (409)
            api.get(f"{path}/{body['metadata']['name']}")
            continue
        except KubeApiError as e:
            if e.status != 404:
                raise
        api.create(path, body)


def app_problem(api: KubeApi, replicas: int = 3) -> str | None:
    """None when the Deployment has ``replicas`` ready pods, else what is missing."""
    d = api.get(f"/apis/apps/v1/namespaces/{APP_NAMESPACE}/deployments/{APP_NAME}")
    ready = int(d.get("status", {}).get("readyReplicas") or 0)
    return None if ready >= replicas else f"deployment {APP_NAME}: {ready}/{replicas} replicas ready"

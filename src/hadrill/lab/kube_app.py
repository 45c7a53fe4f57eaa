"""The application the kubeadm lab runs, so experiments measure what users see beside the API.

nginx from Debian (``hadrill.local/web:1``, imported into every node: ``imagePullPolicy: Never``) as a
Deployment of 3 replicas with a readiness probe, spread across the workers, a PodDisruptionBudget
(``minAvailable: 2``) and a NodePort Service. The harness reaches it from outside the pods through a
worker's address (``http://WORKER:30080/``): what a load balancer in front of the nodes would do.
"""

from __future__ import annotations

from typing import Any

from hadrill.clients.kube import KubeApi

__all__ = ["APP_NAMESPACE", "APP_NODE_PORT", "app_manifests", "app_problem", "deploy_app"]

APP_NAMESPACE = "hadrill-app"
APP_NAME = "web"
APP_NODE_PORT = 30080
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
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": APP_NAME, "namespace": ns},
        "spec": {
            "replicas": replicas, "selector": {"matchLabels": _LABELS},
            "strategy": {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {"metadata": {"labels": _LABELS}, "spec": {
                "containers": [container], "topologySpreadConstraints": [spread],
                "terminationGracePeriodSeconds": 5,
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
        api.create(path, body)


def app_problem(api: KubeApi, replicas: int = 3) -> str | None:
    """None when the Deployment has ``replicas`` ready pods, else what is missing."""
    d = api.get(f"/apis/apps/v1/namespaces/{APP_NAMESPACE}/deployments/{APP_NAME}")
    ready = int(d.get("status", {}).get("readyReplicas") or 0)
    return None if ready >= replicas else f"deployment {APP_NAME}: {ready}/{replicas} replicas ready"

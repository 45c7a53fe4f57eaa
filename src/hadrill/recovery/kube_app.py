"""After a worker node died: how long until the application's Service stopped sending requests to it,
and until the application's pods ran elsewhere (every replica Ready on the surviving nodes).

Kubernetes' chain, each step measured from the kill: the node controller marks the Node unreachable
after ``node-monitor-grace-period`` without a heartbeat, and its pods not Ready, so the EndpointSlice
controller drops them from the Service (kube-proxy follows within its sync period); the
``node.kubernetes.io/unreachable:NoExecute`` taint it adds then evicts the pods once their toleration
expires, and the ReplicaSet starts replacements on the nodes left. The pure functions read one
snapshot of the API's lists; :func:`app_moved` polls them (bounded) and returns the two verdicts.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from hadrill.clients.kube import KubeApi
from hadrill.errors import TargetError
from hadrill.faults.kube_worker import node_ready
from hadrill.slo import Verdict

__all__ = ["app_moved", "ready_elsewhere", "routed_to"]


def _ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
    )


def ready_elsewhere(pods: Iterable[dict[str, Any]], lost: str) -> list[str]:
    """Names of the app's pods Ready on a node other than ``lost`` and not being deleted."""
    return sorted(
        str(p["metadata"]["name"]) for p in pods
        if (p.get("spec") or {}).get("nodeName") not in (None, "", lost)
        and not p["metadata"].get("deletionTimestamp") and _ready(p)
    )  # fmt: skip


def routed_to(slices: Iterable[dict[str, Any]], node: str) -> list[str]:
    """Addresses of the Service's endpoints on ``node`` that kube-proxy still routes to (ready, or
    ``ready`` unset, which the API defines as ready)."""
    out = []
    for s in slices:
        for ep in s.get("endpoints") or []:
            if ep.get("nodeName") == node and (ep.get("conditions") or {}).get("ready") is not False:
                out += [str(a) for a in ep.get("addresses") or []]
    return sorted(out)


def _verdict(name: str, objective_s: float, at: float | None, since: float, done: str, limit: float) -> Verdict:
    if at is None:
        return Verdict(name, objective_s, None, "s", False, f"not measured: {done} not seen within {limit:.0f} s")
    took = at - since
    ok = took <= objective_s
    return Verdict(
        name, objective_s, took, "s", ok,
        f"{done} {took:.2f} s after the kill {'<=' if ok else '>'} objective {objective_s:.2f} s",
    )  # fmt: skip


def app_moved(
    api: KubeApi,
    lost: str,
    since: float,
    *,
    namespace: str,
    selector: str,
    service: str,
    unrouted_objective_s: float,
    rescheduled_objective_s: float,
    limit: float = 240.0,
    interval: float = 0.5,
) -> list[Verdict]:
    """Poll until every replica of the app is Ready off ``lost`` (or ``limit`` s); the time, from
    ``since`` (the kill), until the Service no longer routed to ``lost`` (``app_unrouted_s``) and until
    the Deployment's replicas were all Ready elsewhere (``app_rescheduled_s``)."""
    deployment = selector.split("=", 1)[-1]
    pods_path = f"/api/v1/namespaces/{namespace}/pods"
    slices_path = f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices"
    not_ready_at = unrouted_at = rescheduled_at = None
    elsewhere: list[str] = []
    wanted = 0
    last_error = ""
    deadline = time.monotonic() + limit
    for _ in range(int(limit / interval) + 2):
        now = time.time()
        try:
            if not_ready_at is None and node_ready(api, lost) is not None:
                not_ready_at = now
            if unrouted_at is None:
                slices = api.list_all(slices_path, label_selector=f"kubernetes.io/service-name={service}")
                if not routed_to(slices, lost):
                    unrouted_at = now
            wanted = int(
                (api.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/{deployment}").get("spec") or {}).get(
                    "replicas", 1
                )
            )
            elsewhere = ready_elsewhere(api.list_all(pods_path, label_selector=selector), lost)
        except TargetError as e:
            last_error = f" (last API error: {str(e)[-100:]})"
        else:
            if len(elsewhere) >= wanted and unrouted_at is not None:
                rescheduled_at = now
                break
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    seen = f"Node {lost} not Ready {not_ready_at - since:.1f} s after the kill; " if not_ready_at else ""
    done = f"{len(elsewhere)}/{wanted} replicas Ready off {lost} ({', '.join(elsewhere)})"
    return [
        _verdict(
            "app_unrouted_s", unrouted_objective_s, unrouted_at, since,
            f"{seen}the Service routes no request to {lost}", limit,
        ),
        _verdict("app_rescheduled_s", rescheduled_objective_s, rescheduled_at, since, done + last_error, limit),
    ]  # fmt: skip

"""Chaos Toolkit actions for the kubeadm lab's workers: kill or drain the worker running the application
(chosen by asking the API), and spread the application's replicas over the workers again first. Plain functions: the
signature is the schema discovery reads."""

from __future__ import annotations

import time
from typing import Any

from hadrill.ctk import current_run
from hadrill.errors import TargetError

__all__ = ["drain_app_worker", "kill_app_worker", "spread_app"]


def kill_app_worker(
    cluster: str = "kubernetes",
    namespace: str = "hadrill-app",
    selector: str = "app.kubernetes.io/name=web",
    time_limit: float = 300.0,
    force: bool = False,
    configuration: dict[str, Any] | None = None,
) -> str:
    """Power off the worker running the most ready pods of the app (asked of the API; none is an error);
    the revert powers it on and waits until its Node is Ready. Returns the node's name."""
    from hadrill.faults.kube_worker import kill_app_worker as _kill

    run = current_run(configuration)
    fault = _kill(
        run.inventory, cluster, namespace=namespace, selector=selector, time_limit=time_limit, force=force,
        ledger=run.ledger,
    )  # fmt: skip
    node = fault.node
    counts = (fault.checks or {}).get("app_pods")
    run.event("pick", f"worker running the most ready pods of {namespace}/{selector}: {node} (per worker: {counts})")
    run.inject(fault)
    return node


def drain_app_worker(
    cluster: str = "kubernetes",
    namespace: str = "hadrill-app",
    selector: str = "app.kubernetes.io/name=web",
    time_limit: float = 300.0,
    evict_timeout: float = 120.0,
    force: bool = False,
    configuration: dict[str, Any] | None = None,
) -> str:
    """Drain the worker running the most ready pods of the app, as ``kubectl drain`` does (cordon, then
    evictions its PodDisruptionBudgets may refuse for a while); the revert uncordons it. Returns the node."""
    from hadrill.faults.kube_drain import drain_app_worker as _drain

    run = current_run(configuration)
    fault = _drain(
        run.inventory, cluster, namespace=namespace, selector=selector, time_limit=time_limit,
        evict_timeout=evict_timeout, force=force, ledger=run.ledger,
    )  # fmt: skip
    run.event("pick", f"worker running the most ready pods of {namespace}/{selector}: {fault.node} "
                      f"(per worker: {fault.checks.get('app_pods')})")  # fmt: skip
    run.inject(fault)
    return fault.node


def spread_app(
    cluster: str = "kubernetes",
    namespace: str = "hadrill-app",
    deployment: str = "web",
    timeout: float = 120.0,
    configuration: dict[str, Any] | None = None,
) -> dict[str, int]:
    """Put the app's replicas on at least two workers again (a rolling restart, which the Deployment's
    topology spread places over the workers): Kubernetes never moves pods back to a node that returned,
    so an earlier node failure leaves them all on one. Nothing is done when they are spread already.
    Returns the ready pods per worker."""
    from hadrill.clients.kube import kube_api
    from hadrill.faults.kube_worker import app_pods_by_worker

    run = current_run(configuration)
    c = run.inventory.cluster(cluster)
    api = kube_api(c, timeout=5.0)
    workers = [str(w) for w in c.settings.get("workers") or []]
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/{deployment}"
    selector = ",".join(f"{k}={v}" for k, v in api.get(path)["spec"]["selector"]["matchLabels"].items())
    replicas = int(api.get(path)["spec"].get("replicas", 1))

    def counts() -> dict[str, int]:
        pods = api.list_all(f"/api/v1/namespaces/{namespace}/pods", label_selector=selector)
        return app_pods_by_worker(pods, workers)

    now = counts()
    if sum(1 for n in now.values() if n) >= min(2, len(workers)) and sum(now.values()) >= replicas:
        return now
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    d = api.get(path)  # what `kubectl rollout restart` does, as a replace (the client sends JSON, no patch types)
    d["spec"]["template"].setdefault("metadata", {}).setdefault("annotations", {})[
        "kubectl.kubernetes.io/restartedAt"
    ] = stamp
    api.request("PUT", path, d)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(1.0)
        d = api.get(path)
        st, generation = d.get("status") or {}, d["metadata"].get("generation")
        rolled = st.get("observedGeneration") == generation and st.get("updatedReplicas") == replicas
        if rolled and st.get("readyReplicas") == replicas and st.get("replicas") == replicas:
            now = counts()
            run.event("setup", f"{namespace}/{deployment} restarted: ready pods per worker {now}")
            if sum(1 for n in now.values() if n) < min(2, len(workers)):
                raise TargetError(f"{namespace}/{deployment}: still on one worker after a rolling restart: {now}")
            return now
    raise TargetError(f"{namespace}/{deployment}: rolling restart not done within {timeout:.0f} s: {counts()}")

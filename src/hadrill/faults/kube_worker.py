"""Kill a Kubernetes worker node that runs the application, chosen by asking the API.

The fault is the lab's power cut (:class:`~hadrill.faults.power.PowerOff`: the engine kills the node's
container, its deadman on this host starts it again at the time limit), on the worker that runs the
most ready pods of the application (ties: the first by name), so the cut takes the largest share of
its replicas a node failure can. The revert powers the node on and then waits, bounded, until the
API reports the Node Ready again: a worker is back when its kubelet posts status, not when its
container answers.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from hadrill.clients.kube import api_reference, kube_api, member_api
from hadrill.errors import ConfigError, RevertFailed, TargetError
from hadrill.faults.base import DEFAULT_TIME_LIMIT, held_nodes, wait_back
from hadrill.faults.ledger import FaultRecord, Ledger
from hadrill.faults.power import PowerOff, power_off
from hadrill.inventory import Inventory

__all__ = ["READY_TIMEOUT", "WorkerPowerOff", "app_pods_by_worker", "kill_app_worker", "node_ready", "pick_app_worker"]

READY_TIMEOUT = 180.0  # seconds the revert waits for the Node to be Ready (boot ~20-60 s on a loaded host)


def _pod_ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    conds = status.get("conditions") or []
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in conds
    )


def app_pods_by_worker(pods: Iterable[dict[str, Any]], workers: Sequence[str]) -> dict[str, int]:
    """Ready pods (Running, Ready, not being deleted) per worker, every worker listed (0 when none)."""
    counts = dict.fromkeys(workers, 0)
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName") or ""
        if node in counts and not (pod.get("metadata") or {}).get("deletionTimestamp") and _pod_ready(pod):
            counts[node] += 1
    return counts


def pick_app_worker(
    pods: Iterable[dict[str, Any]], workers: Sequence[str], held: Iterable[str] = (), *, app: str = "the application"
) -> str:
    """The worker (not ``held`` by an open fault) running the most ready pods of the app; ties: first by
    name. TargetError when no free worker runs one: a kill that takes no replica would prove nothing."""
    counts = app_pods_by_worker(pods, workers)
    taken = set(held)
    running = {w: n for w, n in counts.items() if n > 0}
    free = {w: n for w, n in running.items() if w not in taken}
    if not free:
        why = (
            f"those that do ({', '.join(sorted(running))}) are already held by open faults"
            if running
            else f"none of {', '.join(workers) or 'no workers'} runs a ready one"
        )
        raise TargetError(f"no worker to kill that runs a pod of {app}: {why}")
    return min(free, key=lambda w: (-free[w], w))


def node_ready(api: Any, node: str) -> str | None:
    """None when the Node's Ready condition is True, else what it is."""
    try:
        conds = (api.get(f"/api/v1/nodes/{node}").get("status") or {}).get("conditions") or []
    except TargetError as e:
        return f"Node {node}: {str(e)[-120:]}"
    ready = next((c for c in conds if c.get("type") == "Ready"), None)
    if ready is not None and ready.get("status") == "True":
        return None
    return f"Node {node} Ready={ready.get('status') if ready else 'absent'}"


@dataclass
class WorkerPowerOff(PowerOff):
    """A power cut of a worker whose revert waits until its Node is Ready in the API."""

    checks: dict[str, Any] | None = None  # API address and credentials' reference, the app's pods counted
    kind: ClassVar[str] = "kube.worker_power_off"

    def params(self) -> dict[str, Any]:
        return {**super().params(), **(self.checks or {})}

    @classmethod
    def revert(cls, record: FaultRecord) -> None:
        p = record.params
        p["restarted_at"] = time.time()
        PowerOff.revert(record)
        api = member_api(p, timeout=3.0)
        if api is None:
            raise RevertFailed(f"{record.description}: powered on, but the ledger names no API to see its Node Ready")
        p["ready_at"] = wait_back(
            lambda: node_ready(api, p["node"]),
            timeout=float(p.get("ready_timeout", READY_TIMEOUT)),
            what=f"{record.description}: powered on, not Ready",
            interval=0.5,
        )


def kill_app_worker(
    inv: Inventory,
    cluster: str = "kubernetes",
    *,
    namespace: str = "hadrill-app",
    selector: str = "app.kubernetes.io/name=web",
    time_limit: float = DEFAULT_TIME_LIMIT,
    force: bool = False,
    ready_timeout: float = READY_TIMEOUT,
    ledger: Ledger | None = None,
) -> WorkerPowerOff:
    """Plan the power cut of the worker running the most ready pods of the app (``selector`` in ``namespace``)."""
    c = inv.cluster(cluster)
    workers = [str(w) for w in c.settings.get("workers") or []]
    if not workers:
        raise ConfigError("inventory", f"clusters[{c.name}].settings.workers", "the worker nodes' names")
    api = kube_api(c, timeout=5.0)
    pods = api.list_all(f"/api/v1/namespaces/{namespace}/pods", label_selector=selector)
    node = pick_app_worker(pods, workers, held_nodes(ledger) if ledger else (), app=f"{namespace}/{selector}")
    reference = api_reference(c)
    if not reference or not c.settings.get("api"):
        raise ConfigError("inventory", f"clusters[{c.name}].settings", "api and a kubeconfig or TLS files")
    fault = power_off(inv, node, time_limit=time_limit, force=force, cls=WorkerPowerOff)
    fault.nodes = fault.nodes or (node,)  # a worker is no cluster's member: the ledger holds it by node
    fault.description = f"power off worker {node} (runs {app_pods_by_worker(pods, workers)[node]} pods of the app)"
    fault.checks = {
        "api": str(c.settings["api"]), **reference, "ready_timeout": ready_timeout, "chosen_by": "most-app-pods",
        "app_pods": app_pods_by_worker(pods, workers), "app_namespace": namespace, "app_selector": selector,
    }  # fmt: skip
    return fault

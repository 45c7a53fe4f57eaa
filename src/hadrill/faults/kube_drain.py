"""Drain a Kubernetes worker that runs the application, as a maintenance does: ``kubectl drain``.

The inject cordons the node (``spec.unschedulable``), then evicts through the Eviction API every pod a
drain evicts (:func:`drain_candidates`: owned by a controller other than a DaemonSet, not a mirror pod,
not finished), each retried while its PodDisruptionBudget refuses (HTTP 429: "Cannot evict pod as it
would violate the pod's disruption budget") until ``evict_timeout``, and waits until none of them is
left on the node. The refusals are counted: they are the budget at work. The node is chosen by asking
the API (the worker running the most ready pods of the app, as kill-worker's), so the drain takes the
largest share of the replicas it can.

The revert uncordons the node (the evicted pods stay where they went: Kubernetes never moves pods back),
verified by reading the Node. The deadman is a systemd timer on every master (kubeadm's masters keep
``/etc/kubernetes/admin.conf`` and ``kubectl``), which uncordons the node at the time limit if the
harness could not: idempotent, so the first master up does it.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hadrill.clients.kube import KubeApiError, api_reference, kube_api, member_api
from hadrill.errors import ConfigError, InjectionFailed, RevertFailed, TargetError
from hadrill.faults.base import DEFAULT_TIME_LIMIT, Fault, held_nodes
from hadrill.faults.kube_worker import app_pods_by_worker, pick_app_worker
from hadrill.faults.ledger import FaultRecord, Ledger
from hadrill.faults.systemd_timer import arm_timers, disarm_timers
from hadrill.inventory import Inventory

__all__ = ["ADMIN_CONF", "EVICT_TIMEOUT", "WorkerDrain", "drain_app_worker", "drain_candidates"]

EVICT_TIMEOUT = 120.0  # seconds the inject may take evicting (each PDB refusal waits for a replacement)
ADMIN_CONF = "/etc/kubernetes/admin.conf"  # where kubeadm leaves a master's admin kubeconfig


def drain_candidates(pods: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pods ``kubectl drain --ignore-daemonsets`` evicts: not finished, not a mirror (static) pod,
    owned by a controller that is not a DaemonSet. A pod with no controller is refused, as kubectl does
    without ``--force``: deleting it would lose it for good."""
    out = []
    for pod in pods:
        meta, status = pod.get("metadata") or {}, pod.get("status") or {}
        if status.get("phase") in ("Succeeded", "Failed"):
            continue
        if "kubernetes.io/config.mirror" in (meta.get("annotations") or {}):
            continue
        owner = next((o for o in meta.get("ownerReferences") or [] if o.get("controller")), None)
        if owner is None:
            name = f"{meta.get('namespace')}/{meta.get('name')}"
            raise TargetError(f"pod {name} has no controller: a drain would lose it")
        if owner.get("kind") != "DaemonSet":
            out.append(pod)
    return out


def _pods_on(api: Any, node: str) -> list[dict[str, Any]]:
    items = api.get("/api/v1/pods", params={"fieldSelector": f"spec.nodeName={node}"}).get("items") or []
    return [p for p in items if isinstance(p, dict)]


def _set_unschedulable(api: Any, node: str, value: bool) -> None:
    """cordon/uncordon as a read-modify-replace (the client sends JSON, no patch types): a conflict
    (another writer updated the Node meanwhile) is read again, at most 10 times."""
    path = f"/api/v1/nodes/{node}"
    for _ in range(10):
        obj = api.get(path)
        if bool((obj.get("spec") or {}).get("unschedulable")) == value:
            return
        obj.setdefault("spec", {})["unschedulable"] = value
        try:
            api.request("PUT", path, obj)
            return
        except KubeApiError as e:
            if e.status != 409:
                raise
    raise TargetError(f"Node {node}: spec.unschedulable={value} not written after 10 conflicts")


@dataclass
class WorkerDrain(Fault):
    """Cordon ``node`` and evict its pods through the Eviction API, honouring PodDisruptionBudgets."""

    node: str = ""
    masters: tuple[str, ...] = ()  # target URLs of the masters, where the deadman's timers run
    evict_timeout: float = EVICT_TIMEOUT
    checks: dict[str, Any] = field(default_factory=dict)  # api reference and the app's figures
    kind: ClassVar[str] = "kube.drain_node"

    def params(self) -> dict[str, Any]:
        return {**super().params(), **self.checks, "node": self.node, "masters": list(self.masters),
                "evict_timeout": self.evict_timeout}  # fmt: skip

    @staticmethod
    def _api(p: dict[str, Any]) -> Any:
        api = member_api(p, timeout=10.0)
        if api is None:
            raise TargetError(f"drain of {p['node']}: the ledger names no API")
        return api

    @classmethod
    def arm_deadman(cls, record: FaultRecord) -> None:
        p = record.params
        uncordon = f"kubectl --kubeconfig {ADMIN_CONF} --request-timeout=20s uncordon {shlex.quote(p['node'])}"
        p["deadman"] = arm_timers(p["masters"], record, uncordon, f"drain of {p['node']}")

    @classmethod
    def disarm(cls, record: FaultRecord) -> None:
        disarm_timers(record.params["masters"], record.id)

    @classmethod
    def fired(cls, record: FaultRecord) -> bool:
        return time.time() > record.deadline  # a systemd timer leaves no marker: it fires at the deadline

    def inject(self, record: FaultRecord) -> None:
        p = record.params
        api = self._api(p)
        node = p["node"]
        _set_unschedulable(api, node, True)
        p["cordoned_at"] = time.time()
        evicted, refusals = 0, 0
        deadline = time.monotonic() + float(p["evict_timeout"])
        pending = {(q["metadata"]["namespace"], q["metadata"]["name"]) for q in drain_candidates(_pods_on(api, node))}
        for _ in range(int(p["evict_timeout"]) * 2 + 2):  # bounded: a round every 0.5 s at most
            for ns, name in sorted(pending):
                body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name, "namespace": ns}}
                try:
                    api.request("POST", f"/api/v1/namespaces/{ns}/pods/{name}/eviction", body)
                    evicted += 1
                except KubeApiError as e:
                    if e.status == 429:  # the budget says not now: the next round asks again
                        refusals += 1
                        continue
                    if e.status != 404:  # 404: gone already
                        raise
                pending.discard((ns, name))
            if not pending or time.monotonic() >= deadline:
                break
            time.sleep(0.5)
        p["evicted"], p["pdb_refusals"] = evicted, refusals
        if pending:
            names = ", ".join(f"{n}/{m}" for n, m in sorted(pending))
            raise InjectionFailed(
                f"drain of {node}: {len(pending)} pod(s) still refused eviction after {p['evict_timeout']:g} s "
                f"({refusals} refusals by their disruption budgets): {names}"
            )
        while time.monotonic() < deadline:  # evicted pods terminate within their grace period
            left = drain_candidates(_pods_on(api, node))
            if not left:
                p["drained_at"] = time.time()
                return
            time.sleep(0.5)
        raise InjectionFailed(f"drain of {node}: pods still on it after {p['evict_timeout']:g} s")

    def prove(self, record: FaultRecord) -> str:
        p = record.params
        api = self._api(p)
        spec = api.get(f"/api/v1/nodes/{p['node']}").get("spec") or {}
        left = drain_candidates(_pods_on(api, p["node"]))
        if not spec.get("unschedulable") or left:
            raise InjectionFailed(
                f"drain of {p['node']}: unschedulable={bool(spec.get('unschedulable'))}, {len(left)} pod(s) left"
            )
        return (
            f"Node {p['node']} cordoned, {p['evicted']} pod(s) evicted, none left "
            f"({p['pdb_refusals']} eviction(s) refused by a disruption budget first)"
        )

    @classmethod
    def revert(cls, record: FaultRecord) -> None:
        p = record.params
        try:
            api = cls._api(p)
            _set_unschedulable(api, p["node"], False)
            if (api.get(f"/api/v1/nodes/{p['node']}").get("spec") or {}).get("unschedulable"):
                raise RevertFailed(f"uncordon of {p['node']}: the Node is still unschedulable")
        except TargetError as e:
            raise RevertFailed(f"uncordon of {p['node']}: {e}") from e
        p["uncordoned_at"] = time.time()


def drain_app_worker(
    inv: Inventory,
    cluster: str = "kubernetes",
    *,
    namespace: str = "hadrill-app",
    selector: str = "app.kubernetes.io/name=web",
    time_limit: float = DEFAULT_TIME_LIMIT,
    evict_timeout: float = EVICT_TIMEOUT,
    force: bool = False,
    ledger: Ledger | None = None,
) -> WorkerDrain:
    """Plan the drain of the worker running the most ready pods of the app (``selector`` in ``namespace``)."""
    c = inv.cluster(cluster)
    workers = [str(w) for w in c.settings.get("workers") or []]
    if not workers:
        raise ConfigError("inventory", f"clusters[{c.name}].settings.workers", "the worker nodes' names")
    reference = api_reference(c)
    if not reference or not c.settings.get("api"):
        raise ConfigError("inventory", f"clusters[{c.name}].settings", "api and a kubeconfig or TLS files")
    masters = tuple(inv.member_node(c, m.name).url for m in c.members)
    if not masters:
        raise ConfigError("inventory", f"clusters[{c.name}].members", "the control-plane members (the deadman's hosts)")
    api = kube_api(c, timeout=5.0)
    pods = api.list_all(f"/api/v1/namespaces/{namespace}/pods", label_selector=selector)
    node = pick_app_worker(pods, workers, held_nodes(ledger) if ledger else (), app=f"{namespace}/{selector}")
    counts = app_pods_by_worker(pods, workers)
    return WorkerDrain(
        target=inv.node(node).url, time_limit=time_limit, nodes=(node,), force=force, node=node, masters=masters,
        evict_timeout=evict_timeout, description=f"drain worker {node} (runs {counts[node]} pods of the app)",
        checks={"api": str(c.settings["api"]), **reference, "chosen_by": "most-app-pods", "app_pods": counts,
                "app_namespace": namespace, "app_selector": selector},
    )  # fmt: skip

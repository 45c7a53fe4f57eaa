"""Chaos Toolkit probes for the kubeadm lab's workers: after a worker was killed, the time until the
application's Service stopped routing to it and until its pods ran elsewhere (:mod:`hadrill.recovery.kube_app`);
after a worker was drained, the time the drain took; kept as the run's verdicts."""

from __future__ import annotations

from typing import Any

from hadrill.ctk import current_run
from hadrill.errors import ConfigError
from hadrill.slo import Verdict

__all__ = ["app_rescheduled", "worker_drained", "worker_rejoined"]


def app_rescheduled(
    cluster: str = "kubernetes",
    unrouted_objective_s: float = 60.0,
    rescheduled_objective_s: float = 120.0,
    service: str = "web",
    limit: float = 240.0,
    configuration: dict[str, Any] | None = None,
) -> bool:
    """Measured from the kill of the run's worker (:func:`~hadrill.ctk.kube_actions.kill_app_worker`): the
    Service routes no request to it within ``unrouted_objective_s`` (``app_unrouted_s``) and every replica
    of the app is Ready on the other nodes within ``rescheduled_objective_s`` (``app_rescheduled_s``)."""
    from hadrill.clients.kube import kube_api
    from hadrill.faults.kube_worker import WorkerPowerOff
    from hadrill.recovery.kube_app import app_moved

    run = current_run(configuration)
    starts = {w["fault"]: float(w["start"]) for w in run.windows}
    found = [r for _, r in run.faults if r.kind == WorkerPowerOff.kind and r.id in starts]
    if not found:
        raise ConfigError("experiment", "method", "a kill_app_worker action before app_rescheduled")
    record = found[-1]
    p = record.params
    verdicts = app_moved(
        kube_api(run.inventory.cluster(cluster), timeout=3.0), p["node"], starts[record.id],
        namespace=p["app_namespace"], selector=p["app_selector"], service=service,
        unrouted_objective_s=unrouted_objective_s, rescheduled_objective_s=rescheduled_objective_s, limit=limit,
    )  # fmt: skip
    return all([run.check(v).ok for v in verdicts])


def worker_rejoined(objective_s: float = 90.0, configuration: dict[str, Any] | None = None) -> bool:
    """After the heal, the killed worker's Node was Ready again within the objective, counted from its power
    on (``worker_rejoined_s``; the revert waited for it: a revert that failed leaves it not measured)."""
    from hadrill.faults.kube_worker import WorkerPowerOff

    run = current_run(configuration)
    found = [r for _, r in run.faults if r.kind == WorkerPowerOff.kind]
    if not found or run.revert_started is None:
        raise ConfigError("experiment", "method", "a kill_app_worker action and a heal before worker_rejoined")
    p = found[-1].params
    node, on, ready = p.get("node", "?"), p.get("restarted_at"), p.get("ready_at")
    why = "not powered on" if on is None else "not Ready after its power on (the revert failed)"
    return run.check(_between("worker_rejoined_s", objective_s, on, ready, f"Node {node} Ready", "its power on",
                              f"{node} {why}")).ok  # fmt: skip


def worker_drained(objective_s: float = 60.0, configuration: dict[str, Any] | None = None) -> bool:
    """The drain of the run's worker (:func:`~hadrill.ctk.kube_actions.drain_app_worker`) ended, every pod it
    evicts gone from the node, within the objective, counted from the cordon (``worker_drained_s``)."""
    from hadrill.faults.kube_drain import WorkerDrain

    run = current_run(configuration)
    found = [r for _, r in run.faults if r.kind == WorkerDrain.kind]
    if not found:
        raise ConfigError("experiment", "method", "a drain_app_worker action before worker_drained")
    p = found[-1].params
    node, start, end = p.get("node", "?"), p.get("cordoned_at"), p.get("drained_at")
    why = "never cordoned" if start is None else "its pods were not all evicted (the inject failed)"
    evictions = f"{p.get('evicted')} pod(s) evicted, {p.get('pdb_refusals')} eviction(s) refused by a budget first"
    return run.check(_between("worker_drained_s", objective_s, start, end, f"{node} drained", "its cordon",
                              f"{node} {why}", evictions)).ok  # fmt: skip


def _between(
    name: str, objective_s: float, start: Any, end: Any, what: str, since: str, missing: str, more: str = ""
) -> Verdict:
    """A duration between two recorded times against ``objective_s``; either missing: not measured, why."""
    if start is None or end is None:
        return Verdict(name, objective_s, None, "s", False, f"not measured: {missing}")
    took = float(end) - float(start)
    ok = took <= objective_s
    detail = f"{what} {took:.2f} s after {since} {'<=' if ok else '>'} objective {objective_s:.2f} s"
    return Verdict(name, objective_s, took, "s", ok, detail + (f": {more}" if more else ""))

"""The Chaos Toolkit control: one hadrill run per experiment, and its journal.

Declare it in an experiment::

    controls:
      - name: hadrill
        provider: {type: python, module: hadrill.ctk.control}
"""

from __future__ import annotations

import os
import sys
from typing import Any

from hadrill.ctk import active_run, current_run, end_run, start_run
from hadrill.faults.base import recover
from hadrill.judge import exception_summary, judge

__all__ = [
    "after_activity_control",
    "after_experiment_control",
    "before_activity_control",
    "before_experiment_control",
    "before_method_control",
]


def before_experiment_control(
    context: dict[str, Any], configuration: dict[str, Any] | None = None, **kwargs: Any
) -> None:
    """Revert what a dead earlier run left behind, then start this run."""
    run = start_run(str(context.get("title", "experiment")), configuration)
    declared = declared_recovery_windows(context) if isinstance(context, dict) else []
    if declared:
        run.recovery_window_s = max(declared)  # the probes sample to the end of the longest one
    for record, outcome in recover(run.ledger):
        run.event("recover", f"fault {record.id} ({record.description}) left by {record.run}: {outcome}")
    _use_kubeconfig(run.inventory)


def declared_recovery_windows(experiment: dict[str, Any]) -> list[float]:
    """Every ``recovery_window_s`` the experiment's ``objectives_met`` probes declare, per probe too."""
    hypothesis = experiment.get("steady-state-hypothesis") or {}
    activities = [*(hypothesis.get("probes") or []), *(experiment.get("method") or [])]
    found: list[float] = []
    for activity in activities:
        provider = activity.get("provider") or {} if isinstance(activity, dict) else {}
        if provider.get("func") != "objectives_met":
            continue
        objectives = (provider.get("arguments") or {}).get("objectives") or {}
        per_probe = [o for o in (objectives.get("probes") or {}).values() if isinstance(o, dict)]
        for declared in (objectives, *per_probe):
            try:
                found += [float(declared["recovery_window_s"])] if "recovery_window_s" in declared else []
            except (TypeError, ValueError):
                continue  # the judge names the bad value when it reads the objectives
    return found


def before_activity_control(
    context: dict[str, Any], configuration: dict[str, Any] | None = None, **kwargs: Any
) -> None:
    """A tripped guard aborts the experiment before its next step (the faults are already reverted); so
    does a Kubernetes action aimed at a namespace that has not opted in (:mod:`hadrill.ctk.opt_in`)."""
    from chaoslib.exceptions import InterruptExecution

    from hadrill.ctk.opt_in import check_opt_in
    from hadrill.errors import HadrillError

    run = active_run()
    if run is not None and run.stopped_by is not None:
        raise InterruptExecution(f"stopped by guard {run.stopped_by['guard']}: {run.stopped_by['why']}")
    if run is None or not isinstance(context, dict):
        return
    try:
        refused = check_opt_in(run.inventory, context)
    except HadrillError as e:  # the namespace unreadable (RBAC, gone): not proven opted in
        refused = f"namespace opt-in of {context.get('name', 'the action')} not checked: {e}"
    if refused:
        run.event("opt-in", refused, ok=False)
        run.failed_activities.append(refused)
        raise InterruptExecution(refused)


def before_method_control(context: Any, configuration: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """From here on the 'after' hypothesis judges: ``objectives_met`` no longer passes vacuously."""
    current_run(configuration).method_started = True


def after_activity_control(
    context: dict[str, Any], state: Any, configuration: dict[str, Any] | None = None, **kwargs: Any
) -> None:
    """Keep every failed method activity: the after-hypothesis (``objectives_met``) fails on it."""
    run = current_run(configuration)
    if isinstance(state, dict) and state.get("status") == "failed" and run.method_started:
        name = (context or {}).get("name", "?") if isinstance(context, dict) else "?"
        why = exception_summary(state.get("exception"))
        run.failed_activities.append(f"{name}: {why}" if why else str(name))
        run.event("activity", f"activity {name} failed: {why}", ok=False)


def after_experiment_control(
    context: dict[str, Any], state: dict[str, Any], configuration: dict[str, Any] | None = None, **kwargs: Any
) -> None:
    """Heal what is still open, judge the run (:func:`hadrill.judge.judge`) and write the journal.

    Chaos Toolkit says "completed" even when a method action failed; the judgement is written under
    ``hadrill.judgement`` and a failing one turns the journal's status to ``failed`` (Chaos Toolkit's
    own status is kept as ``hadrill.ctk_status``), so ``chaos run`` exits 1 like every hadrill runner.
    """
    _restore_env()
    run = end_run()
    if run is None:
        return
    state["hadrill"] = {**run.to_journal(), "ctk_status": state.get("status")}
    judgement = judge(state)
    state["hadrill"]["judgement"] = judgement.to_dict()
    if not judgement.ok:
        state["status"] = "failed"
    run.write({k: v for k, v in state.items() if k != "hadrill"})


_SAVED_ENV: dict[str, str | None] = {}


def _use_kubeconfig(inventory: Any) -> None:
    """Point Chaos Toolkit's Kubernetes extension (it reads ``$KUBECONFIG``) at the inventory's cluster."""
    from hadrill.clients.kube import kubeconfig_env

    for key, value in kubeconfig_env(inventory).items():
        _SAVED_ENV.setdefault(key, os.environ.get(key))
        os.environ[key] = value
    _sync_kube_client()


def _restore_env() -> None:
    for key, value in _SAVED_ENV.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    if _SAVED_ENV:
        _sync_kube_client()
    _SAVED_ENV.clear()


def _sync_kube_client() -> None:
    """The Kubernetes client reads ``$KUBECONFIG`` once, when imported: follow the change in-process."""
    kube_config = sys.modules.get("kubernetes.config.kube_config")
    if kube_config is not None:
        kube_config.KUBE_CONFIG_DEFAULT_LOCATION = os.environ.get("KUBECONFIG", "~/.kube/config")  # type: ignore[attr-defined]

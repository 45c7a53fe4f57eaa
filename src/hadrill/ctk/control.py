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

from hadrill.ctk import end_run, start_run
from hadrill.faults.base import recover

__all__ = ["after_experiment_control", "before_experiment_control"]


def before_experiment_control(
    context: dict[str, Any], configuration: dict[str, Any] | None = None, **kwargs: Any
) -> None:
    """Revert what a dead earlier run left behind, then start this run."""
    run = start_run(str(context.get("title", "experiment")), configuration)
    for record, outcome in recover(run.ledger):
        run.event("recover", f"fault {record.id} ({record.description}) left by {record.run}: {outcome}")
    _use_kubeconfig(run.inventory)


def after_experiment_control(
    context: dict[str, Any], state: dict[str, Any], configuration: dict[str, Any] | None = None, **kwargs: Any
) -> None:
    """Heal whatever is still open, attach hadrill's record to Chaos Toolkit's journal, write it."""
    _restore_env()
    run = end_run()
    if run is None:
        return
    state["hadrill"] = run.to_journal()
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

"""Namespaces opt in to chaos: with ``settings.chaos_opt_in_label: KEY=VALUE`` on the inventory's
Kubernetes cluster, a Chaos Toolkit Kubernetes action (``chaosk8s.*``, such as ``terminate_pods``) runs
only in a namespace labelled so; in any other the experiment is interrupted before the action, and
nothing is deleted. The in-cluster nightly gate (``deploy/in-cluster/``) sets it, so a team's namespace
is acted on only once its owners label it (``kubectl label namespace NS hadrill.io/chaos=enabled``);
RBAC is the second lock: the gate's ServiceAccount may delete pods only where a RoleBinding grants it.
"""

from __future__ import annotations

from typing import Any

from hadrill.errors import ConfigError
from hadrill.inventory import Inventory

__all__ = ["OPT_IN_SETTING", "check_opt_in", "opt_in_rule", "opted_in", "targeted_namespace"]

OPT_IN_SETTING = "chaos_opt_in_label"
_CHAOSK8S_DEFAULT_NS = "default"  # what chaosk8s's namespaced actions use when ``ns`` is not given


def opt_in_rule(value: Any, cluster: str) -> tuple[str, str]:
    """``KEY=VALUE`` of the setting; bad input names the field."""
    key, sep, wanted = str(value).partition("=")
    if not isinstance(value, str) or not sep or not key.strip() or "=" in wanted:
        where = f"clusters[{cluster}].settings.{OPT_IN_SETTING}"
        raise ConfigError("inventory", where, "KEY=VALUE, such as hadrill.io/chaos=enabled", value)
    return key.strip(), wanted.strip()


def opted_in(labels: dict[str, str] | None, rule: tuple[str, str]) -> bool:
    """Whether a namespace's labels carry the opt-in label with its value."""
    key, wanted = rule
    return (labels or {}).get(key) == wanted


def targeted_namespace(activity: dict[str, Any]) -> str | None:
    """The namespace a Chaos Toolkit Kubernetes action acts in, None for anything else (probes read only)."""
    provider = activity.get("provider") or {}
    if activity.get("type") != "action" or not str(provider.get("module") or "").startswith("chaosk8s"):
        return None
    return str((provider.get("arguments") or {}).get("ns") or _CHAOSK8S_DEFAULT_NS)


def check_opt_in(inventory: Inventory, activity: dict[str, Any]) -> str | None:
    """Why ``activity`` may not run (a namespace that did not opt in), None when it may."""
    ns = targeted_namespace(activity)
    if ns is None:
        return None
    from hadrill.clients.kube import kube_api

    for cluster in inventory.clusters:
        if cluster.type != "kubernetes" or not cluster.settings.get(OPT_IN_SETTING):
            continue
        rule = opt_in_rule(cluster.settings[OPT_IN_SETTING], cluster.name)
        labels = kube_api(cluster, timeout=10.0).get(f"/api/v1/namespaces/{ns}").get("metadata", {}).get("labels")
        if not opted_in(labels, rule):
            return (
                f"namespace {ns} has not opted in to chaos: it lacks the label {rule[0]}={rule[1]} "
                f"(clusters[{cluster.name}].settings.{OPT_IN_SETTING}); {activity.get('name', 'the action')} not run"
            )
    return None

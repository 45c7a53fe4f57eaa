"""Pre-upgrade preflight, pure logic: the deprecation table, version parsing, PDB arithmetic, drain simulation."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hadrill.preflight import (
    Check,
    PreflightResult,
    allowed_disruptions,
    api_findings,
    deprecated_apis,
    drain_checks,
    label_selector_matches,
    lookup,
    parse_version,
)


def test_table_covers_the_guide() -> None:
    table = deprecated_apis()
    removed = {(e.api_version, e.kind): e.removed_in for e in table}
    assert removed[("policy/v1beta1", "PodDisruptionBudget")] == (1, 25)
    assert removed[("batch/v1beta1", "CronJob")] == (1, 25)
    assert removed[("autoscaling/v2beta2", "HorizontalPodAutoscaler")] == (1, 26)
    assert removed[("storage.k8s.io/v1beta1", "CSIStorageCapacity")] == (1, 27)
    assert removed[("flowcontrol.apiserver.k8s.io/v1beta2", "FlowSchema")] == (1, 29)
    assert removed[("flowcontrol.apiserver.k8s.io/v1beta3", "PriorityLevelConfiguration")] == (1, 32)
    assert removed[("v1", "Endpoints")] is None
    assert all(e.removed_in is None or e.deprecated_in < e.removed_in for e in table)


@pytest.mark.parametrize(
    ("api_version", "kind", "target", "status"),
    [
        ("policy/v1beta1", "PodDisruptionBudget", "1.35", "removed"),
        ("policy/v1beta1", "PodDisruptionBudget", "1.24", "deprecated"),
        ("policy/v1beta1", "PodDisruptionBudget", "1.20", None),
        ("flowcontrol.apiserver.k8s.io/v1beta3", "FlowSchema", "1.31", "deprecated"),
        ("flowcontrol.apiserver.k8s.io/v1beta3", "FlowSchema", "1.32", "removed"),
        ("v1", "Endpoints", "1.35", "deprecated"),
        ("v1", "Endpoints", "1.32", None),
        ("policy/v1", "PodDisruptionBudget", "1.36", None),
        ("apps/v1", "Deployment", "1.35", None),
    ],
)
def test_lookup(api_version: str, kind: str, target: str, status: str | None) -> None:
    hit = lookup(api_version, kind, parse_version(target))
    assert (hit[1] if hit else None) == status


@pytest.mark.parametrize(
    ("text", "want"), [("1.35", (1, 35)), ("v1.34.4", (1, 34)), ("1.34.4-kwok", (1, 34)), ("v1.36.0-rc.1", (1, 36))]
)
def test_parse_version(text: str, want: tuple[int, int]) -> None:
    assert parse_version(text) == want


@pytest.mark.parametrize("text", ["", "one.35", "1", "1.x", "latest"])
def test_parse_version_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a Kubernetes version"):
        parse_version(text)


@given(st.integers(1, 1), st.integers(20, 40))
def test_status_is_monotonic_in_the_target(major: int, minor: int) -> None:
    order = {None: 0, "deprecated": 1, "removed": 2}
    for e in deprecated_apis():
        assert order[e.status_at((major, minor))] <= order[e.status_at((major, minor + 1))]


def test_findings_from_last_applied_and_managed_fields() -> None:
    applied = {"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget", "metadata": {"name": "x"}}
    obj = {
        "metadata": {
            "name": "x",
            "namespace": "n",
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": json.dumps(applied)},
            "managedFields": [
                {"manager": "old-tool", "apiVersion": "policy/v1beta1"},
                {"manager": "kubectl", "apiVersion": "policy/v1"},
            ],
        }
    }
    found = api_findings(obj, "PodDisruptionBudget", (1, 35))
    assert [(w, e.api_version, s) for w, e, s in found] == [
        ("last-applied-configuration", "policy/v1beta1", "removed"),
        ("managedFields[old-tool]", "policy/v1beta1", "removed"),
    ]
    assert api_findings(obj, "PodDisruptionBudget", (1, 20)) == []


@given(st.text(max_size=50))
def test_garbage_annotation_is_no_finding(text: str) -> None:
    obj = {"metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": text}}}
    assert api_findings(obj, "ConfigMap", (1, 35)) == []


# -- PDB arithmetic ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "status", "want"),
    [
        ({"minAvailable": 2}, {"currentHealthy": 2, "expectedPods": 2}, 0),
        ({"minAvailable": 1}, {"currentHealthy": 2, "expectedPods": 2}, 1),
        ({"minAvailable": "50%"}, {"currentHealthy": 3, "expectedPods": 3}, 1),  # ceil(1.5) = 2
        ({"maxUnavailable": 1}, {"currentHealthy": 3, "expectedPods": 3}, 1),
        ({"maxUnavailable": 0}, {"currentHealthy": 3, "expectedPods": 3}, 0),
        ({"maxUnavailable": "34%"}, {"currentHealthy": 3, "expectedPods": 3}, 2),  # ceil(1.02) = 2
        ({"maxUnavailable": 1}, {"currentHealthy": 2, "expectedPods": 3}, 0),
        ({"minAvailable": 5}, {"currentHealthy": 2, "expectedPods": 3}, 0),
        ({"minAvailable": 2}, {"disruptionsAllowed": 4, "observedGeneration": 1}, 4),
        ({"minAvailable": 2}, {}, None),
    ],
)
def test_allowed_disruptions(spec: dict[str, Any], status: dict[str, Any], want: int | None) -> None:
    assert allowed_disruptions(spec, status) == want


@given(st.integers(0, 50), st.integers(0, 50), st.integers(0, 60))
def test_min_available_arithmetic(expected: int, healthy: int, min_available: int) -> None:
    n = allowed_disruptions({"minAvailable": min_available}, {"currentHealthy": healthy, "expectedPods": expected})
    assert n == max(0, healthy - min_available)


@given(st.integers(1, 50), st.integers(0, 100), st.integers(0, 100))
def test_percent_rules_round_up_as_the_controller(expected: int, pct: int, healthy_pct: int) -> None:
    healthy = expected * healthy_pct // 100
    status = {"currentHealthy": healthy, "expectedPods": expected}
    by_min = allowed_disruptions({"minAvailable": f"{pct}%"}, status)
    by_max = allowed_disruptions({"maxUnavailable": f"{pct}%"}, status)
    assert by_min == max(0, healthy - math.ceil(pct * expected / 100))
    assert by_max == max(0, healthy - (expected - math.ceil(pct * expected / 100)))
    assert by_min is not None and by_max is not None and 0 <= by_min <= healthy and 0 <= by_max <= healthy


@pytest.mark.parametrize(
    ("selector", "labels", "want"),
    [
        ({"matchLabels": {"app": "db"}}, {"app": "db", "x": "y"}, True),
        ({"matchLabels": {"app": "db"}}, {"app": "web"}, False),
        ({}, {"app": "web"}, True),
        (None, {"app": "web"}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}, {"tier": "b"}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["a"]}]}, {"tier": "a"}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, {}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, {}, True),
    ],
)
def test_label_selector(selector: dict[str, Any] | None, labels: dict[str, str], want: bool) -> None:
    assert label_selector_matches(selector, labels) is want


def _node(name: str, ready: bool = True) -> dict[str, Any]:
    cond = {"type": "Ready", "status": "True" if ready else "False"}
    return {"metadata": {"name": name}, "spec": {}, "status": {"conditions": [cond]}}


def _pod(name: str, node: str, labels: dict[str, str], ns: str = "n") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"nodeName": node},
        "status": {"phase": "Running"},
    }


def _pdb(name: str, min_available: int, healthy: int, expected: int, ns: str = "n") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": ns},
        "spec": {"minAvailable": min_available, "selector": {"matchLabels": {"app": "db"}}},
        "status": {"currentHealthy": healthy, "expectedPods": expected},
    }


def test_drain_simulation_names_the_blocking_pdb_and_nodes() -> None:
    nodes = [_node("w1"), _node("w2"), _node("w3")]
    pods = [_pod("a", "w1", {"app": "db"}), _pod("b", "w2", {"app": "db"}), _pod("c", "w3", {"app": "web"})]
    pdb_check, node_check = drain_checks(nodes, pods, [_pdb("db-pdb", 2, 2, 2)])
    assert not pdb_check.ok and pdb_check.blocking
    assert "n/db-pdb allows 0 evictions" in pdb_check.details[0]
    assert not node_check.ok
    assert {d.split(":")[0] for d in node_check.details} == {"w1", "w2"}
    ok_pdb, ok_nodes = drain_checks(nodes, pods, [_pdb("db-pdb", 1, 2, 2)])
    assert ok_pdb.ok and ok_nodes.ok


def test_a_pdb_with_no_pods_does_not_block() -> None:
    pdb_check, _ = drain_checks([_node("w1"), _node("w2")], [], [_pdb("idle", 1, 0, 0)])
    assert pdb_check.ok


def test_a_single_node_cannot_be_drained() -> None:
    _, node_check = drain_checks([_node("w1")], [_pod("a", "w1", {"app": "web"})], [])
    assert not node_check.ok and "no other schedulable Ready node" in node_check.details[0]


def test_go_is_no_blocking_failure() -> None:
    warn = Check("deprecated APIs: deprecated", False, False, "1 use")
    result = PreflightResult("1.35", "v1.34.4", 0.0, [Check("nodes Ready", True, True, "ok"), warn])
    assert result.go and result.warnings and not result.reasons
    result.checks.append(Check("certificates", False, True, "1 expires"))
    assert not result.go and result.to_dict()["decision"] == "no-go"
    assert result.reasons == ["certificates: 1 expires"]

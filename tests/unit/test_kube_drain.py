"""Which pods a drain evicts (kube_drain.drain_candidates), worked by hand from `kubectl drain
--ignore-daemonsets`'s rules: a DaemonSet's pods stay (the DaemonSet would recreate them there), static
(mirror) pods stay (the kubelet owns them), finished pods go, a pod without a controller stops the drain."""

from __future__ import annotations

from typing import Any

import pytest

from hadrill.errors import TargetError
from hadrill.faults.kube_drain import drain_candidates


def _pod(
    name: str, owner: str | None = "ReplicaSet", *, phase: str = "Running", mirror: bool = False
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "ns"}
    if owner:
        meta["ownerReferences"] = [{"kind": owner, "name": f"{name}-owner", "controller": True}]
    if mirror:
        meta["annotations"] = {"kubernetes.io/config.mirror": "abc"}
    return {"metadata": meta, "status": {"phase": phase}}


def test_only_controller_owned_pods_that_are_no_daemonsets_and_no_mirrors_are_evicted() -> None:
    pods = [
        _pod("web-1"), _pod("kube-proxy-x", "DaemonSet"), _pod("etcd-m1", "Node", mirror=True),
        _pod("job-1", "Job"), _pod("done", "Job", phase="Succeeded"), _pod("sts-0", "StatefulSet"),
    ]  # fmt: skip
    assert [p["metadata"]["name"] for p in drain_candidates(pods)] == ["web-1", "job-1", "sts-0"]


def test_an_owner_that_is_not_the_controller_does_not_count() -> None:
    pod = _pod("loose", None)
    pod["metadata"]["ownerReferences"] = [{"kind": "ReplicaSet", "name": "x", "controller": False}]
    with pytest.raises(TargetError, match="pod ns/loose has no controller"):
        drain_candidates([pod])


def test_a_pod_without_a_controller_stops_the_drain_naming_it() -> None:
    with pytest.raises(TargetError, match="pod ns/bare has no controller: a drain would lose it"):
        drain_candidates([_pod("web-1"), _pod("bare", None)])


def test_a_finished_pod_without_a_controller_is_no_obstacle() -> None:
    assert drain_candidates([_pod("done", None, phase="Failed")]) == []


def test_the_drain_duration_verdict_is_worked_from_the_two_recorded_times() -> None:
    from hadrill.ctk.kube_probes import _between

    v = _between("worker_drained_s", 60.0, 100.0, 123.5, "w1 drained", "its cordon", "w1 never cordoned", "2 evicted")
    assert (v.ok, v.measured) == (True, 23.5)
    assert v.detail == "w1 drained 23.50 s after its cordon <= objective 60.00 s: 2 evicted"
    late = _between("worker_drained_s", 20.0, 100.0, 123.5, "w1 drained", "its cordon", "-")
    assert not late.ok and late.detail == "w1 drained 23.50 s after its cordon > objective 20.00 s"
    missing = _between("worker_drained_s", 60.0, 100.0, None, "w1 drained", "its cordon", "w1 pods left (failed)")
    assert (missing.ok, missing.measured, missing.detail) == (False, None, "not measured: w1 pods left (failed)")

"""The restore drill's timed verdicts (API, etcd members, application): one rule for all three."""

from __future__ import annotations

from hadrill.restore import _timed


def test_a_time_within_the_objective_passes_and_says_the_figure() -> None:
    v = _timed("kube-restore max_outage", 90.0, 100.0, 154.34, "disaster to /readyz ok")
    assert v.measured is not None and abs(v.measured - 54.34) < 1e-9 and (v.objective, v.unit) == (90.0, "s")
    assert v.ok and v.detail == "disaster to /readyz ok: 54.3 s (objective 90 s)"


def test_a_time_over_the_objective_fails() -> None:
    v = _timed("kube-restore etcd members healthy", 90.0, 100.0, 190.5, "etcd", "3/3 healthy; ")
    assert not v.ok and v.detail == "etcd: 90.5 s (3/3 healthy; objective 90 s)"


def test_never_back_is_a_failure_not_measured() -> None:
    v = _timed("kube-restore API and application answer", 90.0, 100.0, None, "app")
    assert not v.ok and v.measured is None
    assert v.detail == "app: never within the time limit (objective 90 s)"

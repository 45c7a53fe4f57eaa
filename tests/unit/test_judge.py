"""The one judge and the run's verdicts, on hand-built journals and histories (no lab).

Each false pass of issue #11 is written here as the journal or history it produced, with the
verdict an auditor expects; a failing judgement must say why.
"""

from __future__ import annotations

import copy
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from hadrill.errors import ProbeFailed
from hadrill.experiment import ExperimentResult, failure_report
from hadrill.inventory import Inventory
from hadrill.judge import judge
from hadrill.probes.sampler import History, Sample, Sampler
from hadrill.report import scenario_status
from hadrill.run import Run

T0 = 1000.0

_OK_VERDICT = {"name": "etcd-write max_outage", "ok": True, "detail": "longest outage 1.00 s <= objective 5.00 s"}
_HYPOTHESIS = {"title": "t", "probes": [{"type": "probe", "name": "objectives-met", "tolerance": True}]}


def _ctk(**changes: Any) -> dict[str, Any]:
    """A Chaos Toolkit journal that passes: completed, not deviated, hypothesis run twice, one good verdict."""
    journal: dict[str, Any] = {
        "experiment": {"title": "kill", "steady-state-hypothesis": _HYPOTHESIS},
        "status": "completed",
        "deviated": False,
        "steady_states": {"before": {"steady_state_met": True, "probes": []}, "after": {"probes": []}},
        "run": [{"status": "succeeded", "activity": {"name": "kill-the-leader"}}],
        "rollbacks": [],
        "hadrill": {"verdicts": [_OK_VERDICT]},
    }
    journal.update(changes)
    return journal


def test_a_clean_journal_passes() -> None:
    assert judge(_ctk()).ok
    assert judge({"hadrill": {"verdicts": [_OK_VERDICT]}}).ok  # a pytest hadrill_run's journal


def test_a_failed_method_action_fails_although_chaos_toolkit_says_completed() -> None:
    failed = {
        "status": "failed",
        "activity": {"name": "kill-the-leader"},
        "exception": ["InjectionFailed: no leader\n"],
    }
    judgement = judge(_ctk(run=[failed]))
    assert judgement.status == "failed"
    assert judgement.reasons == ["activity kill-the-leader failed: InjectionFailed: no leader"]
    assert not ExperimentResult(_ctk(run=[failed])).ok
    assert "activity kill-the-leader failed" in failure_report(_ctk(run=[failed]))


def test_no_verdict_fails() -> None:
    judgement = judge(_ctk(hadrill={"verdicts": []}))
    assert not judgement.ok and any("no objective was measured" in r for r in judgement.reasons)
    assert not judge(_ctk(hadrill={})).ok


def test_hypothesis_not_evaluated_after_the_method_fails() -> None:
    judgement = judge(_ctk(steady_states={"before": {"probes": []}, "after": None}))
    assert judgement.reasons == ["the steady-state hypothesis was not evaluated after the method"]


def test_any_failing_or_not_measured_verdict_fails() -> None:
    missing = {"name": "availability", "ok": False, "measured": None, "detail": "not measured: no probe ran"}
    judgement = judge(_ctk(hadrill={"verdicts": [_OK_VERDICT, missing]}))
    assert judgement.reasons == ["availability: not measured: no probe ran"]


def test_deviated_and_status_and_harness_error() -> None:
    assert judge(_ctk(deviated=True)).reasons == ["the steady state deviated"]
    assert judge(_ctk(status="aborted")).reasons == ["Chaos Toolkit status aborted"]
    assert judge(_ctk(), "RuntimeError: boom\ntraceback").reasons == ["the harness failed: RuntimeError: boom"]
    assert judge(None, "no lab").status == "error"


def test_the_control_marking_failed_is_not_counted_twice() -> None:
    journal = _ctk(status="failed", hadrill={"verdicts": [_OK_VERDICT], "ctk_status": "completed"})
    assert judge(journal).ok  # the status the control wrote is the judge's own: not a second reason


def test_report_uses_the_same_judge() -> None:
    failed = {"status": "failed", "activity": {"name": "start-probes"}, "exception": ["TargetError: refused\n"]}
    journal = _ctk(run=[failed])
    assert scenario_status(journal) == (judge(journal).status, judge(journal).reasons)


# -- the run's verdicts: every objective asked for yields one ------------------------------------


class _Recorder:
    """A finished probe: its history only (what Run.evaluate reads)."""

    def __init__(self, name: str, samples: list[Sample], threshold: float | None = 1.0) -> None:
        self.history = History(name, interval=0.1, threshold=threshold)
        for s in samples:
            self.history.append(s)
        self.running = False

    def stop(self, timeout: float | None = None) -> History:
        return self.history


def _run(tmp_path: Path) -> Run:
    return Run(Inventory(platform="unit"), title="unit", journal_dir=tmp_path, interval=1.0)


ALL = {"max_outage_s": 5.0, "availability": 0.5, "acked_writes_lost": 0, "steady_state_s": 5.0}


def test_no_probe_makes_every_objective_not_measured(tmp_path: Path) -> None:
    verdicts = _run(tmp_path).evaluate(ALL)
    assert sorted(v.name for v in verdicts) == ["acked_writes_lost", "availability", "max_outage", "steady_state"]
    assert all(not v.ok and v.measured is None and "no probe ran" in v.detail for v in verdicts)


def _ticks(pattern: str) -> list[Sample]:
    return [Sample(T0 + i, T0 + i + 0.1, c == ".", None if c == "." else "x") for i, c in enumerate(pattern)]


def test_nothing_healed_and_no_write_probe_are_not_measured(tmp_path: Path) -> None:
    run = _run(tmp_path)
    run.add_probe("etcd-read", _Recorder("etcd-read", _ticks("....")))  # type: ignore[arg-type]
    verdicts = {v.name: v for v in run.evaluate(ALL)}
    assert verdicts["etcd-read max_outage"].ok
    assert verdicts["etcd-read steady_state"].detail.startswith("not measured: no fault was reverted")
    assert "no fault was injected through hadrill" in verdicts["etcd-read availability"].detail
    assert verdicts["acked_writes_lost"].detail == "not measured: no write probe ran"
    assert not verdicts["acked_writes_lost"].ok


def test_availability_over_the_fault_and_recovery_window(tmp_path: Path) -> None:
    # requests at 0..19 s: bad at 5, 6, 7. Fault injected at 4.5, revert started at 7.5, recovery
    # window 2 s -> window [4.5, 9.5) holds the requests sent at 5..9: 2 good of 5 = 0.4 < 0.5.
    # Whole run: 17/20 = 85 % (information only). Steady state (5 good in a row) from 7.5: the
    # run starting at 8 -> 0.5 s.
    run = _run(tmp_path)
    run.add_probe("p", _Recorder("p", _ticks(".....xxx............")))  # type: ignore[arg-type]
    run.windows.append({"fault": "f1", "description": "d", "start": T0 + 4.5, "revert_start": T0 + 7.5, "end": T0 + 8})
    run.revert_started, run.healed_at = T0 + 7.5, T0 + 8.0
    verdicts = {v.name: v for v in run.evaluate({**ALL, "recovery_window_s": 2.0})}
    availability = verdicts["p availability"]
    assert availability.measured == pytest.approx(0.4) and not availability.ok
    assert "2/5 samples good" in availability.detail and "whole run 85.000% (17/20" in availability.detail
    assert verdicts["p steady_state"].measured == pytest.approx(0.5)
    assert verdicts["p max_outage"].measured == pytest.approx(3.0)  # bad sent at 5, next good sent at 8


def test_objectives_met_is_false_after_the_method_when_no_probe_ran(tmp_path: Path) -> None:
    from hadrill import ctk
    from hadrill.ctk.probes import objectives_met

    run = _run(tmp_path)
    ctk._RUN = run
    try:
        assert objectives_met({"max_outage_s": 5.0})  # before the method: nothing to judge yet
        run.method_started = True
        assert not objectives_met({"max_outage_s": 5.0})
        assert not objectives_met({})  # no objective and no check: no verdict at all
    finally:
        ctk._RUN = None


def test_judgement_unchanged_by_a_copy() -> None:
    journal = _ctk()
    assert judge(copy.deepcopy(journal)) == judge(journal)


# -- a verdict never claims what it did not check --------------------------------------------------


def test_node_rejoined_without_etcd_or_tls_entries_is_not_checked_and_fails() -> None:
    from hadrill.faults.ledger import FaultRecord
    from hadrill.recovery.kube import node_rejoined

    # a kind or real inventory: the node has an API endpoint but no etcd endpoint nor TLS files
    params = {"members": ["cp-1"], "restarted_at": T0, "rejoined_at": T0 + 1.0, "api": "https://cp-1:6443"}
    record = FaultRecord(
        id="f1", kind="kube.control_plane", target="docker://cp-1", params=params, created=T0, deadline=T0 + 60,
        run="unit", description="kill cp-1",
    )  # fmt: skip
    verdict = node_rejoined(record, 60.0, limit=0.0)
    assert not verdict.ok and verdict.measured is None
    assert verdict.detail.startswith("cp-1: not checked: its etcd member") and "its API server" in verdict.detail
    assert "healthy" not in verdict.detail


class _Switch:
    """A service that fails until :attr:`up` is set (pure logic: the real Sampler samples it)."""

    name = "svc"

    def __init__(self) -> None:
        self.up = threading.Event()

        self.slow = threading.Event()

    def sample(self) -> None:
        if self.slow.is_set() and not self.up.is_set():
            time.sleep(0.3)  # answers, but slower than the probe's 0.1 s threshold
            return
        if not self.up.is_set():
            raise ProbeFailed("down")


def _sampling(tmp_path: Path, *, healed: bool, recovery_window_s: float = 0.0) -> tuple[Run, _Switch]:
    """A run sampling a switchable service; no recovery window unless asked (the tests of sampling until
    the service answers look at that alone)."""
    run = _run(tmp_path)
    run.recovery_window_s = recovery_window_s
    switch = _Switch()
    run.add_probe("svc", Sampler(switch, interval=0.1, timeout=1.0, threshold=0.1).start())
    window = {"fault": "f1", "description": "d", "start": time.time()}
    if healed:
        window |= {"revert_start": time.time(), "end": time.time()}
        run.revert_started = run.healed_at = time.time()
    run.windows.append(window)
    time.sleep(0.3)
    return run, switch


def test_after_the_heal_a_failing_probe_samples_until_it_answers(tmp_path: Path) -> None:
    run, switch = _sampling(tmp_path, healed=True)
    threading.Timer(1.0, switch.up.set).start()
    started = time.monotonic()
    run.stop_probes(until_answered_s=10.0)
    took = time.monotonic() - started
    assert 0.9 < took < 5.0, took  # the service answered 1 s later: sampling stopped then, not at 10 s
    samples = run.samplers["svc"].history.samples()
    assert samples[-1].ok and not samples[0].ok
    verdict = {v.name: v for v in run.evaluate({"max_outage_s": 30.0})}["svc max_outage"]
    assert verdict.ok and verdict.measured is not None and verdict.measured >= 1.0  # measured to its end
    assert any("answered again" in e["text"] for e in run.events)


def test_the_wait_is_bounded_and_the_outage_stays_open(tmp_path: Path) -> None:
    run, _ = _sampling(tmp_path, healed=True)
    started = time.monotonic()
    run.stop_probes(until_answered_s=1.0)
    assert time.monotonic() - started < 3.0
    verdict = {v.name: v for v in run.evaluate({"max_outage_s": 30.0})}["svc max_outage"]
    assert not verdict.ok and "still open when sampling stopped" in verdict.detail
    assert any("still failing after" in e["text"] for e in run.events)


def test_no_wait_while_a_fault_is_still_on(tmp_path: Path) -> None:
    run, switch = _sampling(tmp_path, healed=False)
    threading.Timer(1.0, switch.up.set).start()
    started = time.monotonic()
    run.stop_probes(until_answered_s=10.0)
    assert time.monotonic() - started < 0.9  # stopped at once: the outage is the fault's, still open
    verdict = {v.name: v for v in run.evaluate({"max_outage_s": 30.0})}["svc max_outage"]
    assert not verdict.ok and "still open when sampling stopped" in verdict.detail


def test_slow_answers_after_the_heal_are_not_the_end_of_sampling(tmp_path: Path) -> None:
    # answers taking 0.3 s are an outage to the judge (threshold 0.1 s): sampling goes on until a fast one
    run, switch = _sampling(tmp_path, healed=True)
    switch.slow.set()
    time.sleep(0.8)
    threading.Timer(1.0, switch.up.set).start()
    run.stop_probes(until_answered_s=10.0)
    samples = run.samplers["svc"].history.samples()
    assert samples[-1].ok and samples[-1].latency <= 0.1, samples[-1]
    assert any(s.ok and s.latency > 0.25 for s in samples)  # the slow answers were sampled


def test_probes_sample_to_the_end_of_the_recovery_window(tmp_path: Path) -> None:
    """The revert started 0.3 s ago and the window is 2 s: stop_probes samples 1.7 s more, and the
    availability is judged over the whole window (2.3 s at 10 samples a second: at least 20 samples)."""
    run, switch = _sampling(tmp_path, healed=True, recovery_window_s=2.0)
    switch.up.set()
    started = time.monotonic()
    run.stop_probes()
    assert 1.5 < time.monotonic() - started < 2.5
    assert run.revert_started is not None
    assert run.samplers["svc"].history.samples()[-1].start >= run.revert_started + 2.0 - 0.5
    verdict = {v.name: v for v in run.evaluate({"availability": 0.5, "recovery_window_s": 2.0})}["svc availability"]
    assert verdict.measured is not None and "to 2 s after the revert started" in verdict.detail, verdict


def test_a_recovery_window_not_sampled_to_its_end_is_not_measured(tmp_path: Path) -> None:
    """Sampling stopped 0.3 s after the revert started, and a 5 s window is asked: 4.7 s were never
    sampled, so no availability figure is given for it (an outage there would go unseen)."""
    run, switch = _sampling(tmp_path, healed=True)
    switch.up.set()
    run.stop_probes()
    verdict = {v.name: v for v in run.evaluate({"availability": 0.5, "recovery_window_s": 5.0})}["svc availability"]
    assert not verdict.ok and verdict.measured is None
    assert "before the end of its 5 s recovery window" in verdict.detail, verdict.detail


def test_the_recovery_window_a_run_samples_to_is_read_from_the_experiment() -> None:
    """kube-kill-worker declares 10 s (its file says so), etcd-partition-member 5 s; a probe's own one
    counts too; an experiment without one leaves the default."""
    import yaml

    from hadrill.ctk.control import declared_recovery_windows

    folder = Path(__file__).resolve().parents[2] / "experiments"
    load = lambda name: yaml.safe_load((folder / name).read_text(encoding="utf-8"))  # noqa: E731
    assert declared_recovery_windows(load("kube-kill-worker.yaml")) == [10.0]
    assert declared_recovery_windows(load("etcd-partition-member.yaml")) == [5.0]
    assert declared_recovery_windows(load("kube-kill-master.yaml")) == []
    per_probe = {"steady-state-hypothesis": {"probes": [{"provider": {"func": "objectives_met", "arguments": {
        "objectives": {"recovery_window_s": 2, "probes": {"api": {"recovery_window_s": 7.5}}}}}}]}}  # fmt: skip
    assert sorted(declared_recovery_windows(per_probe)) == [2.0, 7.5]

"""The fault contract of :mod:`hadrill.faults.base`, without a lab: a fake fault that records its steps
(``fakes.FakeFault``) and a temporary ledger prove the order the module documents,

    budget gate -> ledger append + fsync -> deadman armed -> inject -> prove -> (block) -> revert
    -> deadman disarmed -> ledger closed,

what happens when the deadman, inject, prove, the block or revert raises (a failed revert is noted,
the deadman re-armed, the revert retried), and how ``recover`` treats the records a dead run left
(reverted through :func:`hadrill.faults.kinds.fault_class`, from the record alone)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes import JOURNALS, FakeFault, journal_of

from hadrill.errors import InjectionFailed, RevertFailed, SafetyRefused
from hadrill.faults import base
from hadrill.faults.base import injected, recover
from hadrill.faults.kinds import KINDS
from hadrill.faults.ledger import FaultRecord, Ledger, new_fault_id


@pytest.fixture(autouse=True)
def fake_kind(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Register the fake kind the way a shipped one is (a line in the table, imported lazily); keep the
    emergency-stop flag and everything else of the state directory private to the test."""
    monkeypatch.setitem(KINDS, "test.fake", "fakes:FakeFault")
    monkeypatch.setenv("HADRILL_STATE_DIR", str(tmp_path / "state"))


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "faults.jsonl")


@pytest.fixture
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry a failed revert after 10 ms, and stop retrying once the fault's time limit is past."""
    monkeypatch.setattr(base, "RETRY_FIRST_S", 0.01)
    monkeypatch.setattr(base, "RETRY_MIN_WINDOW_S", 0.0)


@pytest.fixture
def traced(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Where the budget gate and every fsync note themselves, interleaved with the fault's own steps."""
    trace: list[str] = []
    check_budget, fsync = base._check_budget, os.fsync

    def gate(fault: base.Fault, ledger: Ledger) -> None:
        trace.append("budget")
        check_budget(fault, ledger)

    def synced(fd: int) -> None:
        trace.append("fsync")
        fsync(fd)

    monkeypatch.setattr(base, "_check_budget", gate)
    monkeypatch.setattr(os, "fsync", synced)
    yield trace


def _fault(ledger: Ledger, trace: list[str] | None = None, **kwargs: object) -> FakeFault:
    fault = FakeFault(target="fake://node-1", cluster="lab/etcd", members=("etcd-1",), ledger=ledger, **kwargs)  # type: ignore[arg-type]
    if trace is not None:
        JOURNALS[fault.journal] = trace  # the fault's steps land in the same list as the gate and the fsyncs
    return fault


def _events(ledger: Ledger) -> list[tuple[str, str]]:
    return [(e["event"], e.get("how", e.get("error", ""))) for e in ledger.history()]


# -- the order -------------------------------------------------------------------------------------------
def test_the_steps_run_in_the_documented_order(ledger: Ledger, traced: list[str]) -> None:
    fault = _fault(ledger, traced, failure_budget=1)
    with injected(fault, ledger=ledger) as record:
        traced.append("block" + ("[open]" if [r.id for r in ledger.open_faults()] == [record.id] else "[closed]"))
    # The ledger's first write creates the file: its line is fsynced, then its directory; closing is one more line.
    assert traced == [
        "budget", "fsync", "fsync", "arm[open]", "inject[open]", "prove[open]", "block[open]", "revert[open]",
        "disarm[open]", "fsync",
    ]  # fmt: skip
    assert ledger.open_faults() == []
    assert _events(ledger) == [("open", ""), ("closed", "reverted")]
    assert [e.step for e in fault.events] == ["inject", "effect", "revert_start", "revert"]
    assert fault.events[1].detail == "fake effect seen"


def test_the_record_on_disk_is_everything_revert_needs(ledger: Ledger) -> None:
    fault = _fault(ledger, time_limit=30.0)
    with injected(fault, ledger=ledger, run="host:1") as record:
        on_disk = ledger.open_faults()[0]
    assert on_disk == record
    assert (on_disk.kind, on_disk.target, on_disk.run) == ("test.fake", "fake://node-1", "host:1")
    assert on_disk.params["members"] == ["etcd-1"] and on_disk.params["cluster"] == "lab/etcd"
    assert on_disk.deadline - on_disk.created == pytest.approx(30.0)


# -- when a step raises ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("fail_at", "done"), [
    ("arm", ["arm[open]"]),
    ("inject", ["arm[open]", "inject[open]"]),
    ("prove", ["arm[open]", "inject[open]", "prove[open]"]),
])  # fmt: skip
def test_a_failed_injection_is_still_reverted_and_closed(ledger: Ledger, fail_at: str, done: list[str]) -> None:
    fault = _fault(ledger, fail_at=fail_at)
    with pytest.raises(InjectionFailed, match=f"fake {fail_at} failed"), injected(fault, ledger=ledger):
        pytest.fail("the block must not run when the injection failed")
    assert fault.steps == [*done, "revert[open]", "disarm[open]"]
    assert ledger.open_faults() == []
    assert _events(ledger) == [("open", ""), ("closed", "reverted")]


def test_an_error_in_the_block_reverts_and_propagates(ledger: Ledger) -> None:
    fault = _fault(ledger)
    with pytest.raises(KeyError, match="boom"), injected(fault, ledger=ledger):
        raise KeyError("boom")
    assert fault.steps[-2:] == ["revert[open]", "disarm[open]"]
    assert _events(ledger) == [("open", ""), ("closed", "reverted")]


def test_a_failed_revert_keeps_the_fault_open_for_recover(ledger: Ledger, quick_retries: None) -> None:
    fault = _fault(ledger, fail_at="revert", time_limit=0.0)  # past its time limit: one attempt, no retry
    failed = pytest.raises(RevertFailed, match=r"test\.fake on fake://node-1\) did not revert after 1 attempt")
    with failed, injected(fault, ledger=ledger) as record:
        pass
    # The deadman is re-armed to fire soon after the failed revert; it is never disarmed.
    assert fault.steps == ["arm[open]", "inject[open]", "prove[open]", "revert[open]", "arm[open]"]
    assert [r.id for r in ledger.open_faults()] == [record.id]
    assert _events(ledger) == [("open", ""), ("revert_failed", "RevertFailed: fake revert failed")]
    assert [e.step for e in fault.events] == ["inject", "effect", "revert_start", "revert_failed"]


def test_a_revert_that_fails_once_is_retried_and_closed(ledger: Ledger, quick_retries: None) -> None:
    fault = _fault(ledger, fail_at="revert-once", time_limit=30.0)
    with injected(fault, ledger=ledger):
        pass
    assert fault.steps == [
        "arm[open]", "inject[open]", "prove[open]", "revert[open]", "arm[open]", "revert[open]", "disarm[open]",
    ]  # fmt: skip
    assert ledger.open_faults() == []
    failed_once = ("revert_failed", "RevertFailed: fake revert failed")
    assert _events(ledger) == [("open", ""), failed_once, ("closed", "reverted")]


# -- the budget gate -------------------------------------------------------------------------------------
def test_the_budget_gate_refuses_before_anything_is_written_or_touched(ledger: Ledger) -> None:
    first = _fault(ledger, failure_budget=1)
    with injected(first, ledger=ledger):
        second = FakeFault(target="fake://node-2", cluster="lab/etcd", members=("etcd-2",), failure_budget=1,
                           ledger=ledger)  # fmt: skip
        refused = pytest.raises(SafetyRefused, match=r"2 member\(s\) of lab/etcd \(etcd-1, etcd-2\).*budget is 1")
        with refused, injected(second, ledger=ledger):
            pytest.fail("refused faults must not run the block")
        assert second.steps == []
        assert len(ledger.open_faults()) == 1  # the refused fault was never recorded


def test_force_or_another_cluster_passes_the_gate(ledger: Ledger) -> None:
    with injected(_fault(ledger, failure_budget=1), ledger=ledger):
        forced = FakeFault(target="fake://n2", cluster="lab/etcd", members=("etcd-2",), failure_budget=1, force=True)
        other = FakeFault(target="fake://n3", cluster="lab/nfs", members=("nfs-1",), failure_budget=1)
        for f in (forced, other):
            with injected(f, ledger=ledger):
                pass
            assert f.steps == ["arm", "inject", "prove", "revert", "disarm"]


# -- recover ---------------------------------------------------------------------------------------------

def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, check=True)
    return int(proc.stdout)


def _open(ledger: Ledger, *, run: str, kind: str = "test.fake", deadline_in: float = 60.0) -> FaultRecord:
    fault = FakeFault(target="fake://node-1")
    now = time.time()
    record = FaultRecord(
        id=new_fault_id(), kind=kind, target="fake://node-1", params=fault.params(), created=now,
        deadline=now + deadline_in, run=run, description=f"fake opened by {run}",
    )  # fmt: skip
    ledger.open(record)
    return record


def test_recover_reverts_dead_runs_faults_through_the_kind_table(ledger: Ledger) -> None:
    host = socket.gethostname()
    dead = _open(ledger, run=f"{host}:{_dead_pid()}")
    expired = _open(ledger, run=f"{host}:{_dead_pid()}", deadline_in=-1.0)
    live = _open(ledger, run=f"{host}:{os.getppid()}")  # our parent: alive, and not us
    outcomes = dict((r.id, o) for r, o in recover(ledger))
    assert outcomes == {
        dead.id: "reverted",
        expired.id: "reverted",
        live.id: f"left alone: its run {host}:{os.getppid()} is still alive",
    }
    assert journal_of(dead) == ["revert", "disarm"] and journal_of(expired) == ["revert", "disarm"]
    assert journal_of(live) == []
    assert [r.id for r in ledger.open_faults()] == [live.id]
    hows = {e["id"]: e["how"] for e in ledger.history() if e["event"] == "closed"}
    assert hows == {}  # compacted: only the live fault's open event is left
    assert len(ledger.history()) == 1


def test_recover_closes_as_expired_or_recovered(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Ledger, "compact", lambda self: None)  # keep the closing events to read them
    host = socket.gethostname()
    dead = _open(ledger, run=f"{host}:{_dead_pid()}")
    expired = _open(ledger, run=f"{host}:{_dead_pid()}", deadline_in=-1.0)
    recover(ledger)
    hows = {e["id"]: e["how"] for e in ledger.history() if e["event"] == "closed"}
    assert hows == {dead.id: "recovered", expired.id: "expired"}


def test_recover_all_includes_live_runs(ledger: Ledger) -> None:
    live = _open(ledger, run=f"{socket.gethostname()}:{os.getppid()}")
    assert [o for _, o in recover(ledger, include_live=True)] == ["reverted"]
    assert journal_of(live) == ["revert", "disarm"] and ledger.open_faults() == []


def test_recover_keeps_what_it_cannot_revert_open(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Ledger, "compact", lambda self: None)  # keep the revert_failed event to read it
    unknown = _open(ledger, run="elsewhere:1", kind="no.such")
    outcomes = recover(ledger)
    assert [(r.id, o.split(":")[0]) for r, o in outcomes] == [(unknown.id, "revert failed")]
    assert "unknown fault kind 'no.such'" in outcomes[0][1]
    assert [r.id for r in ledger.open_faults()] == [unknown.id]
    assert [e["event"] for e in ledger.history()] == ["open", "revert_failed"]


def test_a_failing_revert_in_recover_is_reported_and_kept(ledger: Ledger) -> None:
    failing = FakeFault(target="fake://node-1", fail_at="revert")
    now = time.time()
    record = FaultRecord(id=new_fault_id(), kind="test.fake", target="fake://node-1", params=failing.params(),
                         created=now, deadline=now + 60, run="elsewhere:1")  # fmt: skip
    ledger.open(record)
    assert [o for _, o in recover(ledger)] == ["revert failed: fake revert failed"]
    assert journal_of(record) == ["revert", "arm"]  # the deadman re-armed to fire soon
    assert [r.id for r in ledger.open_faults()] == [record.id]

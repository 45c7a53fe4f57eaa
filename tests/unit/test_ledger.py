"""The ledger is what makes a SIGKILLed harness recoverable, so its replay must be exact and robust."""

from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing
import os
import signal
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from hadrill.errors import ConfigError
from hadrill.faults import ledger as ledger_module
from hadrill.faults.ledger import FaultRecord, Ledger, default_ledger_path, new_fault_id


def _record(fault_id: str | None = None, now: float | None = None, **params: Any) -> FaultRecord:
    now = time.time() if now is None else now
    return FaultRecord(
        id=fault_id or new_fault_id(),
        kind="network.partition",
        target="docker://lab-etcd-1",
        params=params or {"peers": ["lab-etcd-2", "lab-etcd-3"], "chain": "HADRILL"},
        created=now,
        deadline=now + 60,
        run="run-1",
        description="isolate etcd-1",
    )


def _ids(ledger: Ledger) -> list[str]:
    return [r.id for r in ledger.open_faults()]


# -- basics -------------------------------------------------------------------------------------


def test_new_fault_id_is_12_hex_chars_and_unique() -> None:
    ids = {new_fault_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(i) == 12 and int(i, 16) >= 0 for i in ids)


def test_record_round_trips_through_dict() -> None:
    record = _record()
    assert FaultRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record


def test_default_path_honours_env_then_root_then_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HADRILL_STATE_DIR", str(tmp_path / "state"))
    assert default_ledger_path() == tmp_path / "state" / "ledger.jsonl"
    monkeypatch.delenv("HADRILL_STATE_DIR")
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert default_ledger_path() == Path("/var/lib/hadrill/ledger.jsonl")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_ledger_path() == tmp_path / ".local/state/hadrill/ledger.jsonl"
    monkeypatch.setenv("HADRILL_STATE_DIR", str(tmp_path))
    assert Ledger().path == tmp_path / "ledger.jsonl"


def test_missing_ledger_is_empty_and_not_created(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "nowhere" / "ledger.jsonl")
    assert ledger.open_faults() == []
    assert ledger.history() == []
    ledger.compact()
    assert not (tmp_path / "nowhere").exists()


def test_open_close_replay_round_trip(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "state" / "ledger.jsonl")  # the directory is created on first write
    a, b, c = _record(), _record(), _record(port=2379)
    for record in (a, b, c):
        ledger.open(record)
    ledger.close(b.id)
    assert ledger.open_faults() == [a, c]
    # A fresh instance (the next process) sees the same thing.
    assert Ledger(ledger.path).open_faults() == [a, c]
    ledger.close(a.id, "recovered")
    ledger.close(c.id, "expired")
    assert ledger.open_faults() == []
    events = ledger.history()
    assert [e["event"] for e in events] == ["open"] * 3 + ["closed"] * 3
    assert [e.get("how") for e in events[3:]] == ["reverted", "recovered", "expired"]
    assert all(line.endswith("\n") for line in ledger.path.read_text().splitlines(keepends=True))


def test_revert_failed_keeps_the_fault_open(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    record = _record()
    ledger.open(record)
    ledger.revert_failed(record.id, RuntimeError("iptables: resource busy"))
    ledger.revert_failed(record.id, "still busy")
    assert ledger.open_faults() == [record]
    assert [e.get("error") for e in ledger.history()[1:]] == [
        "RuntimeError: iptables: resource busy",
        "still busy",
    ]
    ledger.close(record.id, "recovered")
    assert ledger.open_faults() == []


def test_faults_on_removed_hosts_are_discarded_and_no_others(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    on_container = _record()  # docker://lab-etcd-1, no nodes
    over_ssh = dataclasses.replace(_record(), target="ssh://root@10.0.0.2", params={"nodes": ["lab-etcd-2"]})
    spanning = dataclasses.replace(_record(), target="ssh://root@10.0.0.2", params={"nodes": ["lab-etcd-2", "other-1"]})
    elsewhere = dataclasses.replace(_record(), target="docker://other-lab-etcd-1", params={})
    api = dataclasses.replace(_record(), target="https://10.0.0.9:6443", params={"nodes": []})
    for rec in (on_container, over_ssh, spanning, elsewhere, api):
        ledger.open(rec)
    gone = ledger.discard_on({"lab-etcd-1", "lab-etcd-2", "lab-etcd-3"})
    assert [r.id for r in gone] == [on_container.id, over_ssh.id]
    assert _ids(ledger) == [spanning.id, elsewhere.id, api.id]  # a node outside the lab still holds it
    assert [e["how"] for e in ledger.history() if e["event"] == "closed"] == ["discarded", "discarded"]
    assert Ledger(ledger.path).open_faults() == [spanning, elsewhere, api]  # the closing events replay


def test_closing_twice_or_unknown_is_harmless(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    a, b = _record(), _record()
    ledger.open(a)
    ledger.open(b)
    ledger.close(a.id)
    ledger.close(a.id)
    ledger.close("000000000000")
    ledger.revert_failed("ffffffffffff", "never opened")
    assert ledger.open_faults() == [b]


def test_bad_input_is_rejected_before_anything_is_written(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    with pytest.raises(ValueError, match=r"record\.kind"):
        ledger.open(FaultRecord(id="x" * 12, kind="", target="t", params={}, created=1.0, deadline=2.0))
    with pytest.raises(ValueError, match="deadline"):
        ledger.open(FaultRecord(id="x" * 12, kind="k", target="t", params={}, created=1.0, deadline=float("nan")))
    with pytest.raises(TypeError):
        ledger.open(_record(pids={1, 2}))  # a set is not JSON
    with pytest.raises(ValueError, match="how"):
        ledger.close("x" * 12, "forgotten")  # type: ignore[arg-type]
    assert not ledger.path.exists() or ledger.path.read_bytes() == b""


def test_open_is_fsynced_before_it_returns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    ledger = Ledger(tmp_path / "ledger.jsonl")
    ledger.open(_record())
    assert len(synced) >= 2  # the file, then the directory that gained it
    synced.clear()
    ledger.open(_record())
    assert len(synced) == 1


def _open_then_die(path: str, fault_id: str) -> None:
    Ledger(Path(path)).open(_record(fault_id))
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_fault_opened_by_a_sigkilled_process_is_still_open(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    process = multiprocessing.get_context("spawn").Process(target=_open_then_die, args=(str(path), "dead00000001"))
    process.start()
    process.join(60)
    assert process.exitcode == -signal.SIGKILL
    assert _ids(Ledger(path)) == ["dead00000001"]


# -- damaged files ------------------------------------------------------------------------------


def test_torn_last_line_is_ignored_then_repaired(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    a, b = _record(), _record()
    ledger.open(a)
    ledger.open(b)
    data = ledger.path.read_bytes()
    ledger.path.write_bytes(data[:-20])  # the harness died in the middle of writing b
    with caplog.at_level(logging.WARNING, logger="hadrill.faults.ledger"):
        assert ledger.open_faults() == [a]
    assert "torn last line 2" in caplog.text
    # The next write cuts the fragment instead of gluing its own line onto it.
    c = _record()
    ledger.open(c)
    assert ledger.open_faults() == [a, c]
    assert len(ledger.path.read_bytes().splitlines()) == 2


def test_complete_last_line_that_is_not_json_is_also_torn(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    a = _record()
    ledger.open(a)
    with ledger.path.open("ab") as f:
        f.write(b"\x00\x00\x00\n")
    assert ledger.open_faults() == [a]


def test_corrupted_middle_line_names_file_and_line(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    for _ in range(3):
        ledger.open(_record())
    lines = ledger.path.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1][:30] + b"\n"
    ledger.path.write_bytes(b"".join(lines))
    with pytest.raises(ConfigError) as excinfo:
        ledger.open_faults()
    assert excinfo.value.file == str(ledger.path)
    assert excinfo.value.field == "line 2"
    assert str(ledger.path) in str(excinfo.value) and "line 2" in str(excinfo.value)
    assert "JSON ledger event" in str(excinfo.value)
    with pytest.raises(ConfigError):  # refusing to write is better than writing what recover cannot read
        ledger.open(_record())


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"event": "open", "at": 1.0, "record": {"id": "abc"}}, "record.kind"),
        ({"event": "open", "at": 1.0, "record": [1]}, "record as an object"),
        ({"event": "closed", "at": 1.0, "id": "abc", "how": "lost"}, "'how'"),
        ({"event": "closed", "at": 1.0, "how": "reverted"}, "'id'"),
        ({"event": "revert_failed", "at": 1.0, "id": "abc"}, "'error'"),
        ({"event": "teleported", "at": 1.0}, "event is open, closed or revert_failed"),
        ({"event": "closed", "id": "abc", "how": "reverted"}, "'at'"),
        ([], "event is open"),
    ],
)
def test_malformed_event_names_line_and_expectation(tmp_path: Path, event: object, expected: str) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    ledger.open(_record())
    with ledger.path.open("a") as f:
        f.write(json.dumps(event) + "\n")
    with pytest.raises(ConfigError, match="line 2") as excinfo:
        ledger.open_faults()
    assert expected in str(excinfo.value)


# -- compaction ---------------------------------------------------------------------------------


def test_compact_keeps_exactly_the_open_faults(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.jsonl")
    records = [_record() for _ in range(10)]
    for record in records:
        ledger.open(record)
    for record in records[::2]:
        ledger.close(record.id)
    ledger.revert_failed(records[1].id, "busy")
    ledger.path.chmod(0o640)
    ledger.compact()
    assert ledger.open_faults() == records[1::2]
    assert [e["event"] for e in ledger.history()] == ["open"] * 5
    assert ledger.path.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    # Still an ordinary, appendable ledger.
    extra = _record()
    ledger.open(extra)
    ledger.close(records[1].id)
    assert ledger.open_faults() == [*records[3::2], extra]
    ledger.compact()
    ledger.compact()
    assert ledger.open_faults() == [*records[3::2], extra]


# -- several processes --------------------------------------------------------------------------

_WRITERS = 4
_OPENS, _CLOSES = 30, 20  # 50 events per writer


def _writer(path: str, name: str) -> None:
    ledger = Ledger(Path(path))
    for i in range(_OPENS):
        ledger.open(_record(f"{name}-{i:03d}"))
        if i % 3 != 0:
            ledger.close(f"{name}-{i:03d}")


def _compactor(path: str, rounds: int) -> None:
    ledger = Ledger(Path(path))
    for _ in range(rounds):
        ledger.compact()


def _expected_open(names: list[str]) -> set[str]:
    return {f"{name}-{i:03d}" for name in names for i in range(_OPENS) if i % 3 == 0}


def _run_all(processes: Sequence[multiprocessing.process.BaseProcess]) -> None:
    for process in processes:
        process.start()
    for process in processes:
        process.join(120)
    assert [p.exitcode for p in processes] == [0] * len(processes)


def test_concurrent_writers_lose_no_event(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    names = [f"w{n}" for n in range(_WRITERS)]
    context = multiprocessing.get_context("spawn")
    _run_all([context.Process(target=_writer, args=(str(path), name)) for name in names])
    ledger = Ledger(path)
    events = ledger.history()
    assert len(events) == _WRITERS * (_OPENS + _CLOSES)
    for name in names:  # each writer's own events are in the order it wrote them
        mine = [e["record"]["id"] if e["event"] == "open" else e["id"] for e in events]
        mine = [i for i in mine if i.startswith(f"{name}-")]
        assert len(mine) == _OPENS + _CLOSES and mine == sorted(mine)
    assert set(_ids(ledger)) == _expected_open(names)


def test_concurrent_writers_and_compaction_agree(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    names = [f"w{n}" for n in range(_WRITERS)]
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_writer, args=(str(path), name)) for name in names]
    processes.append(context.Process(target=_compactor, args=(str(path), 40)))
    _run_all(processes)
    assert set(_ids(Ledger(path))) == _expected_open(names)


# -- properties ---------------------------------------------------------------------------------


class LedgerMatchesModel(RuleBasedStateMachine):
    """Any mix of open / close / revert_failed / compact replays like a plain ordered dict."""

    @initialize()
    def setup(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.ledger = Ledger(Path(self.tmp.name) / "ledger.jsonl")
        self.model: dict[str, None] = {}
        self.ever: list[str] = []

    def teardown(self) -> None:
        if hasattr(self, "tmp"):
            self.tmp.cleanup()

    @rule()
    def open(self) -> None:
        record = _record()
        self.ledger.open(record)
        self.model[record.id] = None
        self.ever.append(record.id)

    @precondition(lambda self: self.ever)
    @rule(pick=st.integers(min_value=0))
    def close(self, pick: int) -> None:
        fault_id = self.ever[pick % len(self.ever)]  # may already be closed: must be harmless
        self.ledger.close(fault_id)
        self.model.pop(fault_id, None)

    @precondition(lambda self: self.ever)
    @rule(pick=st.integers(min_value=0))
    def revert_failed(self, pick: int) -> None:
        self.ledger.revert_failed(self.ever[pick % len(self.ever)], "boom")

    @rule()
    def compact(self) -> None:
        self.ledger.compact()

    @invariant()
    def replay_matches(self) -> None:
        if hasattr(self, "ledger"):
            assert _ids(self.ledger) == list(self.model)


LedgerMatchesModel.TestCase.settings = settings(max_examples=40, stateful_step_count=25, deadline=None)
TestLedgerMatchesModel = LedgerMatchesModel.TestCase

_OPS = st.lists(st.sampled_from(["open", "open", "close", "fail"]), min_size=1, max_size=12)


def _build(directory: Path, ops: list[str]) -> Ledger:
    ledger = Ledger(directory / "ledger.jsonl")
    opened: list[str] = []
    # Fixed ids and times: the file's length bounds later draws, so it must not vary between runs.
    with mock.patch.object(ledger_module, "time", SimpleNamespace(time=lambda: 1_700_000_000.0)):
        for op in ops:
            if op == "open" or not opened:
                opened.append(f"{len(opened):012x}")
                ledger.open(_record(opened[-1], now=1_700_000_000.0))
            elif op == "close":
                ledger.close(opened[len(opened) // 2])
            else:
                ledger.revert_failed(opened[-1], "boom")
    return ledger


def _replay_model(events: list[dict[str, Any]]) -> list[str]:
    model: dict[str, None] = {}
    for event in events:
        if event["event"] == "open":
            model[event["record"]["id"]] = None
        elif event["event"] == "closed":
            model.pop(event["id"], None)
    return list(model)


_PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_PROPERTY
@given(ops=_OPS, data=st.data())
def test_truncation_anywhere_never_raises(ops: list[str], data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ledger = _build(Path(tmp), ops)
        full = ledger.path.read_bytes()
        events = ledger.history()
        cut = data.draw(st.integers(min_value=0, max_value=len(full)), label="cut")
        ledger.path.write_bytes(full[:cut])
        # Exactly the events whose whole line (newline included) survived.
        assert _ids(ledger) == _replay_model(events[: full[:cut].count(b"\n")])
        record = _record()
        ledger.open(record)  # and the ledger stays writable
        assert _ids(ledger)[-1] == record.id


@_PROPERTY
@given(ops=_OPS, data=st.data())
def test_arbitrary_damage_only_raises_config_error(ops: list[str], data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ledger = _build(Path(tmp), ops)
        full = ledger.path.read_bytes()
        start = data.draw(st.integers(min_value=0, max_value=len(full)), label="start")
        end = data.draw(st.integers(min_value=start, max_value=min(len(full), start + 40)), label="end")
        junk = data.draw(st.binary(max_size=40) | st.sampled_from([b"\n", b"{}", b"null", b'"x"', b"1e999"]))
        ledger.path.write_bytes(full[:start] + junk + full[end:])
        try:
            ledger.open_faults()
            ledger.history()
        except ConfigError:
            pass

"""Sampler behaviour with in-process fake probes: timing, error routing, open loop, bounds."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest

from hadrill.errors import ProbeFailed
from hadrill.probes import History, Probe, Sample, Sampler


class _Counting:
    """Succeeds, optionally after sleeping or waiting on an event; counts calls thread-safely."""

    def __init__(self, name: str = "fake", sleep: float = 0.0, gate: threading.Event | None = None) -> None:
        self.name = name
        self.sleep = sleep
        self.gate = gate
        self.calls = 0
        self._lock = threading.Lock()

    def sample(self) -> dict[str, Any] | None:
        with self._lock:
            self.calls += 1
            seq = self.calls
        if self.sleep:
            time.sleep(self.sleep)
        if self.gate is not None:
            self.gate.wait(5.0)
        return {"seq": seq}


class _Raising:
    def __init__(self, error: Exception, name: str = "broken") -> None:
        self.name = name
        self.error = error

    def sample(self) -> dict[str, Any] | None:
        raise self.error


def test_fake_probe_satisfies_protocol() -> None:
    assert isinstance(_Counting(), Probe)


def test_tick_count_roughly_matches_interval() -> None:
    probe = _Counting()
    with Sampler(probe, interval=0.02, timeout=0.1) as sampler:
        time.sleep(0.5)
    samples = sampler.history.samples()
    assert 10 <= len(samples) <= 40  # ~25 expected; generous for noisy machines
    assert all(s.ok and s.error is None for s in samples)
    assert all(s.end >= s.start for s in samples)
    assert [s.start for s in samples] == sorted(s.start for s in samples)
    assert {s.detail["seq"] for s in samples if s.detail} == set(range(1, len(samples) + 1))


def test_probe_failed_gives_failed_samples_without_raising() -> None:
    with Sampler(_Raising(ProbeFailed("connection refused")), interval=0.02, timeout=0.1) as sampler:
        time.sleep(0.2)
    failures = sampler.history.failures()
    assert failures and not sampler.history.oks()
    assert all(s.error == "connection refused" for s in failures)
    sampler.check_errors()  # ProbeFailed is data, not a bug


def test_unexpected_exception_reraised_by_stop_with_probe_name() -> None:
    sampler = Sampler(_Raising(ValueError("bad parse"), name="kv-write"), interval=0.02, timeout=0.1)
    sampler.start()
    time.sleep(0.15)
    with pytest.raises(ValueError, match="bad parse") as info:
        sampler.stop()
    assert any("kv-write" in note for note in getattr(info.value, "__notes__", []))
    assert sampler.history.failures()[0].error == "ValueError: bad parse"


def test_unexpected_exception_reraised_by_context_manager_and_check_errors() -> None:
    with pytest.raises(KeyError), Sampler(_Raising(KeyError("k")), interval=0.02, timeout=0.1) as s:
        time.sleep(0.15)
        with pytest.raises(KeyError):
            s.check_errors()


def test_blocking_probe_does_not_delay_ticks() -> None:
    probe = _Counting(sleep=0.5)
    sampler = Sampler(probe, interval=0.05, timeout=1.0).start()
    time.sleep(0.6)
    started = probe.calls
    sampler.stop()
    assert started >= 6  # a closed loop would have started 2
    assert not any(s.error for s in sampler.history.samples())


def test_max_duration_stops_by_itself() -> None:
    sampler = Sampler(_Counting(), interval=0.02, timeout=0.1, max_duration=0.2).start()
    time.sleep(0.6)
    assert not sampler.running
    count = len(sampler.history)
    assert 3 <= count <= 0.2 / 0.02 + 2
    time.sleep(0.1)
    assert len(sampler.history) == count
    sampler.stop()


def test_max_samples_stops_by_itself() -> None:
    sampler = Sampler(_Counting(), interval=0.01, timeout=0.1, max_samples=5).start()
    time.sleep(0.3)
    assert not sampler.running
    assert len(sampler.stop()) == 5


def test_saturation_records_skipped_samples() -> None:
    probe = _Counting(sleep=0.3)
    with Sampler(probe, interval=0.05, timeout=0.3, max_in_flight=1) as sampler:
        time.sleep(0.5)
    errors = [s.error for s in sampler.history.failures()]
    assert errors and all(e == "skipped: max in flight" for e in errors)
    assert sampler.history.oks()
    assert probe.calls <= 3


def test_default_max_in_flight() -> None:
    assert Sampler(_Counting(), interval=0.1, timeout=1.0).max_in_flight == 12
    assert Sampler(_Counting(), interval=0.3, timeout=1.0).max_in_flight == 6


def test_stop_abandons_hung_calls_and_freezes_history() -> None:
    gate = threading.Event()
    sampler = Sampler(_Counting(gate=gate), interval=0.05, timeout=0.2).start()
    try:
        time.sleep(0.2)
        history = sampler.stop(timeout=0.1)
        frozen = history.samples()
        assert frozen and all(s.error and s.error.startswith("abandoned") for s in frozen)
    finally:
        gate.set()
    time.sleep(0.1)
    assert history.samples() == frozen


def test_start_twice_refused() -> None:
    sampler = Sampler(_Counting(), interval=0.05).start()
    try:
        with pytest.raises(RuntimeError):
            sampler.start()
    finally:
        sampler.stop()


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        Sampler(_Counting(), interval=0)
    with pytest.raises(ValueError):
        Sampler(_Counting(), max_in_flight=0)


def test_sample_roundtrip_and_latency() -> None:
    sample = Sample(start=10.0, end=10.25, ok=True, detail={"seq": 1, "key": "k1"})
    assert sample.latency == pytest.approx(0.25)
    data = json.loads(json.dumps(sample.to_dict()))
    assert Sample.from_dict(data) == sample


def test_history_bounded_sorted_and_roundtrip() -> None:
    history = History("p", max_samples=3, interval=0.1)
    for start in (4.0, 1.0, 3.0, 2.0):
        history.append(Sample(start=start, end=start + 0.01, ok=start != 3.0, error=None))
    assert history.dropped == 1
    assert [s.start for s in history.samples()] == [1.0, 2.0, 3.0]
    assert [s.start for s in history.oks()] == [1.0, 2.0]
    assert [s.start for s in history.failures()] == [3.0]
    again = History.from_dict(json.loads(json.dumps(history.to_dict())))
    assert again.samples() == history.samples()
    assert (again.name, again.dropped, again.interval, again.max_samples) == ("p", 1, 0.1, 3)


def test_a_state_probe_declares_no_latency_threshold() -> None:
    """A request probe's slow success is not good (threshold = one interval by default); a state probe
    (DeploymentAvailableProbe: a slow API answer is a slow observer) declares ``latency_threshold = None``."""
    from hadrill.probes.kube import DeploymentAvailableProbe
    from hadrill.probes.sampler import Sampler

    class Request:
        name = "request"

        def sample(self) -> None:
            return None

    assert Sampler(Request(), interval=0.1, timeout=1.0).threshold == 0.1
    assert Sampler(Request(), interval=0.1, timeout=1.0, threshold=0.3).threshold == 0.3
    state = DeploymentAvailableProbe(api=None, namespace="ns", name="web")  # type: ignore[arg-type]
    assert Sampler(state, interval=0.1, timeout=1.0).threshold is None

"""Stopping the probes after the heal: no call still in flight may land after the good sample that ended
the wait. A loaded host's slow answers did (kube-kill-master and kube-fail-api-vip on the kubeadm lab: the
write probe's last two calls, started after the last good one, answered in 0.16-0.44 s against a 0.1 s
threshold, and the judge saw an outage "still open when sampling stopped"). Pure logic: the real Sampler
samples a fake service."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

from hadrill.inventory import Inventory
from hadrill.probes.sampler import Sampler
from hadrill.run import Run
from hadrill.slo import good


class _SometimesSlow:
    """Healthy, but every 4th call answers in 0.25 s, over the 0.1 s threshold (a loaded host)."""

    name = "svc"

    def __init__(self) -> None:
        self._calls = itertools.count()
        self._lock = threading.Lock()

    def sample(self) -> None:
        with self._lock:
            n = next(self._calls)
        if n % 4 == 3:
            time.sleep(0.25)


def _healed_run(tmp_path: Path) -> Run:
    run = Run(Inventory(platform="unit"), title="unit", journal_dir=tmp_path, interval=0.1)
    run.recovery_window_s = 0.0  # no recovery window to sample first: the stop alone is looked at
    run.add_probe("svc", Sampler(_SometimesSlow(), interval=0.1, timeout=1.0, threshold=0.1).start())
    now = time.time()
    run.windows.append({"fault": "f1", "description": "d", "start": now, "revert_start": now, "end": now})
    run.revert_started = run.healed_at = now
    return run


def test_sampling_ends_on_a_good_sample_with_nothing_in_flight(tmp_path: Path) -> None:
    for trial in range(6):  # the race needs a slow call in flight at the stop: likely at least once in 6
        run = _healed_run(tmp_path / str(trial))
        time.sleep(0.35 + 0.07 * trial)  # stop at different phases of the slow calls
        run.stop_probes(until_answered_s=10.0)
        samples = sorted(run.samplers["svc"].history.samples(), key=lambda s: (s.start, s.end))
        assert any(not good(s, 0.1) for s in samples), "the slow answers were sampled"
        assert good(samples[-1], 0.1), (trial, samples[-3:])  # the judge's last sample (by start) is good
        verdict = {v.name: v for v in run.evaluate({"max_outage_s": 5.0})}["svc max_outage"]
        assert "still open" not in verdict.detail, verdict.detail


def test_a_service_that_never_answers_well_with_nothing_in_flight_is_still_bounded(tmp_path: Path) -> None:
    run = Run(Inventory(platform="unit"), title="unit", journal_dir=tmp_path, interval=0.1)

    class _AlwaysSlow:
        name = "svc"

        def sample(self) -> None:
            time.sleep(0.25)

    run.recovery_window_s = 0.0  # no recovery window to sample first: the bounded wait alone is timed
    run.add_probe("svc", Sampler(_AlwaysSlow(), interval=0.1, timeout=1.0, threshold=0.1).start())
    now = time.time()
    run.windows.append({"fault": "f1", "description": "d", "start": now, "revert_start": now, "end": now})
    run.revert_started = run.healed_at = now
    time.sleep(0.3)
    started = time.monotonic()
    run.stop_probes(until_answered_s=1.5)
    assert time.monotonic() - started < 5.0  # the wait (1.5 s) and at most one more second for the stop
    verdict = {v.name: v for v in run.evaluate({"max_outage_s": 30.0})}["svc max_outage"]
    assert not verdict.ok and "still open when sampling stopped" in verdict.detail
    assert any("still failing after" in e["text"] for e in run.events)

"""SLO measurements on hand-built histories with known answers, plus properties on grid histories."""

from __future__ import annotations

import itertools
import json
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hadrill.probes import Sample
from hadrill.slo import (
    Outage,
    Verdict,
    acked_writes_lost,
    assert_verdicts,
    availability,
    check_acked_writes_lost,
    check_availability,
    check_max_outage,
    check_steady_state,
    max_outage,
    outages,
    time_to_steady_state,
)

T0 = 1_700_000_000.0
STEP = 0.1


def _grid(pattern: str, latency: float = 0.02, t0: float = T0) -> list[Sample]:
    """'.' = ok, 'x' = failed; one sample every STEP seconds."""
    return [
        Sample(start=t0 + i * STEP, end=t0 + i * STEP + latency, ok=c == ".", error=None if c == "." else "boom")
        for i, c in enumerate(pattern)
    ]


def _clock(t: float) -> str:
    moment = datetime.fromtimestamp(t)
    return f"{moment:%H:%M:%S}.{moment.microsecond // 100_000}"


# -- outages, hand-built ---------------------------------------------------------------------------


def test_no_samples_no_outage() -> None:
    assert outages([]) == []
    assert max_outage([]) is None


def test_all_ok_no_outage() -> None:
    assert outages(_grid("." * 20), interval=STEP) == []


def test_failures_in_the_middle() -> None:
    samples = _grid("...xxxx...")
    (outage,) = outages(samples)
    assert outage.start == pytest.approx(samples[2].end)
    assert outage.end == pytest.approx(samples[7].end)
    assert outage.duration == pytest.approx(0.5)
    assert (outage.failed, outage.ongoing) == (4, False)


def test_leading_failures_start_at_first_sample() -> None:
    samples = _grid("xxx...")
    (outage,) = outages(samples)
    assert outage.start == samples[0].start
    assert outage.end == samples[3].end
    assert (outage.failed, outage.ongoing) == (3, False)


def test_trailing_failures_are_ongoing() -> None:
    samples = _grid("...xx")
    (outage,) = outages(samples)
    assert (outage.start, outage.end) == (samples[2].end, samples[4].end)
    assert (outage.failed, outage.ongoing) == (2, True)


def test_never_acks_is_one_ongoing_outage() -> None:
    samples = _grid("xxxx")
    assert outages(samples) == [Outage(start=samples[0].start, end=samples[-1].end, failed=4, ongoing=True)]


def test_silent_gap_counts_only_with_interval() -> None:
    samples = _grid("...") + _grid("...", t0=T0 + 2.0)
    assert outages(samples) == []
    (outage,) = outages(samples, interval=STEP)
    assert outage.failed == 0
    assert outage.duration == pytest.approx(2.0 - 0.2)
    assert outages(samples, interval=STEP, tolerance=20.0) == []


def test_max_outage_picks_longest() -> None:
    samples = _grid("..x....xxx...x.")
    worst = max_outage(samples)
    assert worst is not None and worst.failed == 3
    assert worst.duration == pytest.approx(0.4)
    assert len(outages(samples)) == 3


def test_acks_are_ordered_by_end_not_start() -> None:
    # the slow first ok sample answers last, so the failure precedes the first acknowledgement
    samples = [Sample(T0, T0 + 1.0, True), Sample(T0 + 0.1, T0 + 0.15, False, "x"), Sample(T0 + 0.2, T0 + 0.25, True)]
    (outage,) = outages(samples)
    assert outage.start == samples[0].start
    assert outage.end == pytest.approx(T0 + 0.25)


# -- availability, steady state, lost writes -------------------------------------------------------


def test_availability_and_window() -> None:
    samples = _grid("..xx......")
    assert availability(samples) == pytest.approx(0.8)
    assert availability(samples, window=(T0 + 0.15, T0 + 0.45)) == pytest.approx(1 / 3)
    with pytest.raises(ValueError):
        availability([])
    with pytest.raises(ValueError):
        availability(samples, window=(T0 + 10, T0 + 20))


def test_time_to_steady_state() -> None:
    samples = _grid("..x..x.......")
    assert time_to_steady_state(samples, T0 + 0.15, consecutive=5) == pytest.approx(0.45)
    assert time_to_steady_state(samples, T0 - 1.0, consecutive=2) == pytest.approx(1.0)
    assert time_to_steady_state(samples, T0 + 0.15, consecutive=50) is None
    with pytest.raises(ValueError):
        time_to_steady_state(samples, T0, consecutive=0)


def test_acked_writes_lost() -> None:
    assert acked_writes_lost(["k3", "k1", "k2", "k1"], {"k2"}) == ["k1", "k3"]
    assert acked_writes_lost(["a"], ["a"]) == []


# -- verdicts --------------------------------------------------------------------------------------


def test_check_max_outage_failing_message() -> None:
    samples = _grid("..." + "x" * 14 + "...")
    verdict = check_max_outage(samples, 1.0, interval=STEP)
    worst = max_outage(samples)
    assert worst is not None
    assert not verdict.ok and verdict.name == "max_outage" and verdict.unit == "s"
    assert verdict.measured == pytest.approx(1.5)
    assert verdict.detail == (
        "longest outage 1.50 s > objective 1.00 s; "
        f"outage {_clock(worst.start)}–{_clock(worst.end)} (14 failed samples)"
    )
    assert check_max_outage(samples, 2.0).ok


def test_check_max_outage_edges() -> None:
    assert check_max_outage(_grid("....."), 1.0).ok
    assert check_max_outage(_grid("....."), 1.0).measured == 0.0
    assert not check_max_outage([], 1.0).ok
    assert "ongoing" in check_max_outage(_grid("..xxx"), 1.0).detail


def test_check_availability() -> None:
    verdict = check_availability(_grid("x" + "." * 9), 0.95)
    assert not verdict.ok and verdict.measured == pytest.approx(0.9)
    assert "90.000%" in verdict.detail and "95.000%" in verdict.detail and "9/10" in verdict.detail
    assert check_availability(_grid("x" + "." * 9), 0.9).ok
    assert not check_availability([], 0.5).ok


def test_check_steady_state() -> None:
    samples = _grid("xxxx.....")
    failing = check_steady_state(samples, T0, 0.2)
    assert not failing.ok and failing.measured == pytest.approx(0.4)
    assert "0.40 s" in failing.detail and "0.20 s" in failing.detail
    assert check_steady_state(samples, T0, 0.5).ok
    never = check_steady_state(_grid("x.x.x"), T0, 10.0)
    assert not never.ok and never.measured is None and "never" in never.detail


def test_check_acked_writes_lost() -> None:
    lost = [f"k{i}" for i in range(8)]
    verdict = check_acked_writes_lost(lost)
    assert not verdict.ok and verdict.measured == 8 and verdict.unit == "writes"
    assert "8 acknowledged writes lost > objective 0" in verdict.detail
    assert "k0, k1, k2, k3, k4" in verdict.detail and "k7" not in verdict.detail
    assert check_acked_writes_lost([]).ok
    assert check_acked_writes_lost(["a"], objective=1).ok


def test_verdict_roundtrip() -> None:
    verdict = check_max_outage(_grid("..xx.."), 1.0)
    assert Verdict.from_dict(json.loads(json.dumps(verdict.to_dict()))) == verdict


def test_assert_verdicts_lists_every_failure() -> None:
    good = check_acked_writes_lost([])
    bad1 = check_acked_writes_lost(["lost-key"])
    bad2 = check_availability(_grid("xx.."), 0.99)
    assert_verdicts([good])
    assert_verdicts([])
    with pytest.raises(AssertionError) as info:
        assert_verdicts([bad1, good, bad2])
    message = str(info.value)
    assert bad1.detail in message and bad2.detail in message and good.detail not in message
    assert "2 of 3" in message


# -- properties on grid histories ------------------------------------------------------------------

_latency = st.floats(min_value=0.0, max_value=0.09, allow_nan=False)


@st.composite
def _histories(draw: st.DrawFn) -> list[Sample]:
    pattern = draw(st.lists(st.booleans(), min_size=1, max_size=60))
    lats = draw(st.lists(_latency, min_size=len(pattern), max_size=len(pattern)))
    return [
        Sample(start=T0 + i * STEP, end=T0 + i * STEP + lat, ok=ok, error=None if ok else "x")
        for i, (ok, lat) in enumerate(zip(pattern, lats, strict=True))
    ]


@given(_histories())
def test_outages_sorted_disjoint_and_within_span(samples: list[Sample]) -> None:
    found = outages(samples, interval=STEP)
    for a, b in itertools.pairwise(found):
        assert a.end <= b.start
    assert all(o.duration >= 0 for o in found)
    span = max(s.end for s in samples) - min(s.start for s in samples)
    assert sum(o.duration for o in found) <= span + 1e-9
    assert all(o.ongoing == (o is found[-1] and not samples[-1].ok) for o in found)


@given(_histories())
def test_every_failed_start_is_inside_an_outage(samples: list[Sample]) -> None:
    found = outages(samples, interval=STEP)
    for s in samples:
        if not s.ok:
            assert any(o.start <= s.start <= o.end for o in found)
    assert sum(o.failed for o in found) == sum(1 for s in samples if not s.ok)


@given(_histories())
def test_availability_is_ok_ratio(samples: list[Sample]) -> None:
    assert availability(samples) == sum(1 for s in samples if s.ok) / len(samples)


@given(st.lists(_latency, min_size=1, max_size=60))
def test_all_ok_on_grid_has_no_outage(lats: list[float]) -> None:
    samples = [Sample(T0 + i * STEP, T0 + i * STEP + lat, True) for i, lat in enumerate(lats)]
    assert outages(samples, interval=STEP) == []


@given(st.integers(1, 20), st.integers(1, 20), st.integers(1, 20), st.lists(_latency, min_size=60, max_size=60))
def test_single_failure_run_gives_one_outage(before: int, k: int, after: int, lats: list[float]) -> None:
    pattern = [True] * before + [False] * k + [True] * after
    samples = [Sample(T0 + i * STEP, T0 + i * STEP + lats[i], ok, None if ok else "x") for i, ok in enumerate(pattern)]
    (outage,) = outages(samples, interval=STEP)
    assert outage.failed == k and not outage.ongoing
    assert abs(outage.duration - (k * STEP + STEP)) <= STEP

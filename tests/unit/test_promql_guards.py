"""PromQL objectives and guards: parsing, bounds and trips, against values worked out by hand."""

from __future__ import annotations

import math
import time

import pytest

from hadrill.judge import judge
from hadrill.probes.guards import Guard, GuardWatch, parse_guards
from hadrill.probes.promql import PromqlBound, check_promql_bound, parse_promql_bounds, truthy


def test_truthy_needs_a_result_with_no_zero() -> None:
    assert truthy([({}, 2.0), ({}, 1.0)])
    assert not truthy([])  # a false comparison returns nothing
    assert not truthy([({}, 1.0), ({}, 0.0)])  # a ``bool`` comparison returns 0
    assert not truthy([({}, math.nan)])


def test_upper_bound_takes_the_highest_value_of_every_series() -> None:
    # two series over the window: 0.1, 0.7 and 0.2, NaN -> highest 0.7 > 0.5
    b = PromqlBound("errors", "rate(e[5s])", 0.5, upper=True)
    v = check_promql_bound(b, [[(1.0, 0.1), (2.0, 0.7)], [(1.0, 0.2), (2.0, math.nan)]], "the fault")
    assert not v.ok and v.measured == 0.7 and "0.7 > objective 0.5 (3 points)" in v.detail


def test_lower_bound_takes_the_lowest_value() -> None:
    b = PromqlBound("members", 'sum(up{service="etcd"})', 2.0, upper=False)
    v = check_promql_bound(b, [[(1.0, 3.0), (2.0, 2.0), (3.0, 3.0)]], "the fault")
    assert v.ok and v.measured == 2.0 and "lowest value" in v.detail and "2 >= objective 2" in v.detail


def test_no_point_in_the_window_is_not_measured() -> None:
    v = check_promql_bound(PromqlBound("x", "x", 1.0, True), [], "the fault")
    assert not v.ok and v.measured is None and v.detail.startswith("not measured: x returned no value")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([{"name": "a", "expr": "x"}], r"promql\[0\]: exactly one of max and min"),
        ([{"name": "a", "expr": "x", "max": 1, "min": 0}], r"promql\[0\]: exactly one"),
        ([{"name": "a", "expr": "", "max": 1}], r"promql\[0\]\.expr"),
        ([{"name": "a", "expr": "x", "max": True}], r"promql\[0\]\.max: a finite number"),
        ({"expr": "x"}, r"promql: a list"),
    ],
)
def test_bad_promql_objectives_name_the_field(raw: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_promql_bounds(raw)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], r"guards: a list"),
        ([{"promql": "x"}], r"guards\[0\]\.name"),
        ([{"name": "g", "promql": "x", "alert": "A"}], r"guards\[0\]: exactly one"),
        ([{"name": "g", "probe": "p"}], r"guards\[0\]\.availability"),
        ([{"name": "g", "probe": "p", "availability": 1.5}], r"guards\[0\]\.availability"),
    ],
)
def test_bad_guards_name_the_field(raw: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_guards(raw)


def _watch(guards: list[Guard], **kwargs: object) -> tuple[GuardWatch, list[tuple[str, str]]]:
    trips: list[tuple[str, str]] = []
    defaults: dict[str, object] = {
        "prometheus": None,
        "firing": lambda: frozenset(),
        "probe_ratio": lambda name: None,
        "on_trip": lambda g, why: trips.append((g.name, why)),
    }
    return GuardWatch(guards, **{**defaults, **kwargs}, interval=0.01), trips  # type: ignore[arg-type]


def test_probe_budget_trips_below_its_ratio_only_after_enough_samples() -> None:
    g = parse_guards([{"name": "budget", "probe": "etcd-write", "availability": 0.9}])[0]
    watch, _ = _watch([g], probe_ratio=lambda name: (0.5, 9))
    assert watch.check(g) is None  # 9 samples: too few to judge a budget
    watch, _ = _watch([g], probe_ratio=lambda name: (0.85, 20))
    assert watch.check(g) == "probe etcd-write availability 0.850 < 0.9 over 20 samples"
    watch, _ = _watch([g], probe_ratio=lambda name: (0.95, 20))
    assert watch.check(g) is None


def test_alert_guard_trips_once_and_unreadable_monitoring_is_counted_not_tripped() -> None:
    g = parse_guards([{"name": "page", "alert": "EtcdInsufficientMembers"}])[0]
    dark, _ = _watch([g], firing=lambda: None)
    assert dark.check(g) is None and dark.unreadable == 1
    watch, trips = _watch([g], firing=lambda: frozenset({"EtcdInsufficientMembers"}))
    watch.start()
    for _ in range(200):
        if trips:
            break
        time.sleep(0.01)
    watch.stop()
    assert trips == [("page", "alert EtcdInsufficientMembers is firing")]
    assert watch.tripped is not None and watch.tripped[0] is g


def test_a_guard_stop_is_a_distinct_first_reason() -> None:
    journal = {
        "hadrill": {
            "verdicts": [{"name": "max_outage", "ok": True, "detail": "fine"}],
            # 1796292000 = 2026-12-03T10:00:00Z
            "stopped_by": {"guard": "etcd-quorum", "at": 1796292000.0, "why": "sum(up) < 2 returned 1"},
        }
    }
    j = judge(journal)
    assert j.status == "failed"
    assert j.reasons == ["stopped by guard etcd-quorum at 10:00:00 UTC: sum(up) < 2 returned 1"]

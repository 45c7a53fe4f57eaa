"""Alert verdicts from polls, against timelines worked out by hand."""

from __future__ import annotations

import re

import pytest

from hadrill.alerting import (
    Observation,
    alert_verdicts,
    check_alert_fires,
    check_alert_resolves,
    check_alert_silent,
    parse_alert_objectives,
)
from hadrill.clients.prometheus import FiringAlert, parse_rfc3339
from hadrill.probes.alerts import firing_names

DOWN = frozenset({"EtcdMemberDown"})
NONE: frozenset[str] = frozenset()


def polls(*pairs: tuple[float, frozenset[str] | None]) -> list[Observation]:
    return [Observation(at, firing, None if firing is not None else "refused") for at, firing in pairs]


# Fault injected at t=100, reverted (end) at t=110. Polls every 0.5 s; the alert is listed from
# t=104.5 to t=113.0 inclusive. Time to detect = 104.5 - 100 = 4.5 s; time to resolve = 113.5 - 110 = 3.5 s.
TIMELINE = polls(
    *[(100.0 + 0.5 * i, NONE) for i in range(-4, 9)],  # 98.0 ... 104.0: quiet
    *[(104.5 + 0.5 * i, DOWN) for i in range(18)],  # 104.5 ... 113.0: firing
    *[(113.5 + 0.5 * i, NONE) for i in range(10)],  # 113.5 ... 118.0: resolved
)


def test_time_to_detect_is_the_first_poll_listing_it_after_the_injection() -> None:
    v = check_alert_fires(TIMELINE, "EtcdMemberDown", 100.0, 60.0)
    assert v.ok and v.measured == pytest.approx(4.5)
    assert v.name == "EtcdMemberDown time_to_detect"


def test_detection_slower_than_the_objective_fails_with_the_measurement() -> None:
    v = check_alert_fires(TIMELINE, "EtcdMemberDown", 100.0, 4.0)
    assert not v.ok and v.measured == pytest.approx(4.5) and "> objective 4.0 s" in v.detail


def test_time_to_resolve_is_the_first_poll_without_it_after_the_heal() -> None:
    v = check_alert_resolves(TIMELINE, "EtcdMemberDown", 100.0, 110.0, 120.0)
    assert v.ok and v.measured == pytest.approx(3.5)


def test_an_alert_that_never_fires_is_a_silent_failure_once_watched_long_enough() -> None:
    quiet = polls(*[(100.0 + i, NONE) for i in range(0, 62)])  # watched 61 s
    v = check_alert_fires(quiet, "EtcdMemberDown", 100.0, 60.0)
    assert not v.ok and v.measured is None and "did not fire within 60.0 s" in v.detail
    resolved = check_alert_resolves(quiet, "EtcdMemberDown", 100.0, 110.0, 120.0)
    assert not resolved.ok and "never fired" in resolved.detail


def test_unreadable_monitoring_is_not_measured_and_says_why() -> None:
    dead = polls(*[(100.0 + i, None) for i in range(0, 10)])
    v = check_alert_fires(dead, "EtcdMemberDown", 100.0, 60.0)
    assert not v.ok and v.measured is None
    assert "could not be read (10 failed polls; last: refused)" in v.detail


def test_an_alert_firing_before_the_fault_detects_nothing() -> None:
    already = polls((99.5, DOWN), (100.5, DOWN))
    v = check_alert_fires(already, "EtcdMemberDown", 100.0, 60.0)
    assert not v.ok and "already firing before the fault" in v.detail


def test_still_firing_long_after_the_heal_fails() -> None:
    stuck = polls((101.0, DOWN), *[(110.0 + i, DOWN) for i in range(0, 31)])  # firing to t=140
    v = check_alert_resolves(stuck, "EtcdMemberDown", 100.0, 110.0, 30.0)
    assert not v.ok and "still firing 30.0 s after the heal" in v.detail


def test_silent_alert_fails_at_the_first_poll_listing_it() -> None:
    v = check_alert_silent(TIMELINE, "EtcdMemberDown", 100.0)
    assert not v.ok and "fired 4.5 s after the injection" in v.detail
    ok = check_alert_silent(TIMELINE, "EtcdNoLeader", 100.0)
    # polls from t=100.0 to t=118.0 inclusive: 37 polls over 18.0 s
    assert ok.ok and "over 18.0 s" in ok.detail and "37 polls" in ok.detail


def test_objectives_parse_and_default_the_resolving_alerts() -> None:
    asked = parse_alert_objectives(
        {"alert_fires": {"name": "EtcdMemberDown", "within_s": 60}, "alert_resolves": {"within_s": 120}}
    )
    assert asked.fires == {"EtcdMemberDown": 60.0}
    assert asked.resolves == ("EtcdMemberDown",) and asked.resolve_within_s == 120.0
    verdicts = alert_verdicts(asked, TIMELINE, 100.0, 110.0)
    assert [(v.name, v.ok, v.measured) for v in verdicts] == [
        ("EtcdMemberDown time_to_detect", True, pytest.approx(4.5)),
        ("EtcdMemberDown time_to_resolve", True, pytest.approx(3.5)),
    ]


def test_without_a_fault_every_alert_objective_is_not_measured() -> None:
    asked = parse_alert_objectives({"alert_fires": [{"name": "A", "within_s": 5}], "alerts_silent": ["B"]})
    verdicts = alert_verdicts(asked, TIMELINE, None, None)
    assert [v.ok for v in verdicts] == [False, False]
    assert all("no fault was injected" in v.detail for v in verdicts)


@pytest.mark.parametrize(
    ("wanted", "field"),
    [
        ({"alert_fires": {"name": "A"}}, "alert_fires[0].within_s"),
        ({"alert_fires": {"name": "A b", "within_s": 5}}, "alert_fires[0].name"),
        ({"alert_fires": {"name": "A", "within_s": True}}, "alert_fires[0].within_s"),
        ({"alert_resolves": {"within_s": 5}}, "alert_resolves.names"),
        ({"alerts_silent": "A"}, "alerts_silent"),
        ({"alert_fires": {"name": "A", "within_s": 5}, "alerts_silent": ["B", "A"]}, "alerts_silent"),
    ],
)
def test_bad_alert_objectives_name_the_field(wanted: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(field) + ":"):
        parse_alert_objectives(wanted)


def test_firing_means_firing_in_prometheus_and_active_in_alertmanager() -> None:
    alerts = [
        FiringAlert("A", {}, "pending", None),
        FiringAlert("B", {}, "firing", None),
        FiringAlert("C", {}, "active", None),
        FiringAlert("D", {}, "suppressed", None),
    ]
    assert firing_names(alerts, "prometheus") == {"B"}
    assert firing_names(alerts, "alertmanager") == {"C"}


def test_rfc3339_with_nanoseconds() -> None:
    # 2026-12-03T10:00:00Z is 1796292000 s after the epoch: 20790 days * 86400 + 10 h * 3600
    assert parse_rfc3339("2026-12-03T10:00:00Z") == 20790 * 86400 + 36000
    assert parse_rfc3339("2026-12-03T10:00:02.5000001Z") == pytest.approx(20790 * 86400 + 36002.5)


def test_the_report_summary_has_a_detected_column_with_the_slowest_alert() -> None:
    from hadrill.report.model import OBJECTIVES, _summarise

    verdicts = [
        {"name": "EtcdMemberDown time_to_detect", "objective": 15.0, "measured": 4.5, "unit": "s", "ok": True},
        {"name": "EtcdNoLeader time_to_detect", "objective": 15.0, "measured": 6.0, "unit": "s", "ok": True},
        {"name": "EtcdMemberDown time_to_resolve", "objective": 15.0, "measured": 3.5, "unit": "s", "ok": True},
    ]
    measured, checks = _summarise(verdicts)
    assert OBJECTIVES["alert_fires"][1].startswith("Detected")
    assert measured["alert_fires"]["measured"] == 6.0 and measured["alert_fires"]["probes"] == 2
    assert checks == {"passed": 1, "total": 1}  # time to resolve is listed with the checks


def test_inventory_names_its_monitoring_with_http_urls() -> None:
    from hadrill.errors import ConfigError
    from hadrill.inventory import Inventory

    inv = Inventory(platform="p", monitoring={"prometheus": "http://10.0.0.5:9090"})  # type: ignore[arg-type]
    assert inv.monitoring is not None and inv.monitoring.alertmanager is None
    assert inv.provides == {"monitoring"}
    assert Inventory(platform="p").provides == set()
    with pytest.raises((ValueError, ConfigError), match="an http"):
        Inventory(platform="p", monitoring={"prometheus": "nfs://10.0.0.5/x"})  # type: ignore[arg-type]

"""Objectives under ``with_monitoring``: asked only when the inventory names its monitoring, else
recorded as "not asked" (never as passed); one experiment file serves labs with and without monitoring."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hadrill.alerting import split_monitored
from hadrill.errors import ConfigError
from hadrill.inventory import Inventory
from hadrill.judge import judge
from hadrill.run import Run

BLOCK = {
    "alert_fires": {"name": "EtcdMemberDown", "within_s": 15},
    "alert_resolves": {"within_s": 15},
    "alerts_silent": ["EtcdInsufficientMembers"],
}
OBJECTIVES = {"acked_writes_lost": 0, "with_monitoring": BLOCK}


def test_split_keeps_the_block_with_monitoring_and_drops_it_without() -> None:
    assert split_monitored(OBJECTIVES, True) == ({"acked_writes_lost": 0, **BLOCK}, [])
    assert split_monitored(OBJECTIVES, False) == (
        {"acked_writes_lost": 0},
        ["alert_fires", "alert_resolves", "alerts_silent"],
    )
    assert split_monitored({"max_outage_s": 1}, False) == ({"max_outage_s": 1}, [])


@pytest.mark.parametrize(
    ("block", "field"),
    [
        ({"max_outage_s": 3}, "with_monitoring"),  # not a monitoring objective
        ({}, "with_monitoring"),
        ([], "with_monitoring"),
        ({"alert_fires": {"name": "X", "within_s": -1}}, "alert_fires[0].within_s"),  # checked even without
    ],
)
def test_a_bad_block_is_refused_with_or_without_monitoring(block: object, field: str) -> None:
    for monitored in (True, False):
        with pytest.raises(ValueError, match=rf"^{field.replace('[', '.').replace(']', '.')}"):
            split_monitored({"with_monitoring": block}, monitored)


def test_a_key_both_inside_and_outside_is_refused() -> None:
    with pytest.raises(ValueError, match=r"with_monitoring\.alerts_silent: declared once"):
        split_monitored({"alerts_silent": ["A"], "with_monitoring": {"alerts_silent": ["B"]}}, True)


def test_without_monitoring_the_run_records_not_asked_and_judges_no_alert(tmp_path: Path) -> None:
    run = Run(Inventory(platform="unit"), title="unit", journal_dir=tmp_path, interval=1.0)
    verdicts = run.evaluate(OBJECTIVES)
    # by hand: no probe ran, so acked_writes_lost is not measured; no alert verdict at all
    assert [v.name for v in verdicts] == ["acked_writes_lost"]
    journal = run.to_journal()
    assert journal["not_asked"] == {
        "objectives": ["alert_fires", "alert_resolves", "alerts_silent"],
        "why": "no monitoring in the inventory",
    }
    assert not journal["ok"]  # not asked is never counted as passed: the other objective still fails


def test_with_monitoring_the_block_is_asked_and_unwatched_alerts_fail(tmp_path: Path) -> None:
    inv = Inventory(platform="unit", monitoring={"prometheus": "http://127.0.0.1:9"})  # type: ignore[arg-type]
    run = Run(inv, title="unit", journal_dir=tmp_path, interval=1.0)
    verdicts = run.evaluate(OBJECTIVES)
    names = sorted(v.name for v in verdicts)
    assert names == [
        "EtcdInsufficientMembers silent",
        "EtcdMemberDown time_to_detect",
        "EtcdMemberDown time_to_resolve",
        "acked_writes_lost",
    ]
    assert all(not v.ok for v in verdicts)  # nothing was watched: every one "not measured", none passes
    assert run.to_journal()["not_asked"] is None


def test_only_not_asked_objectives_leave_no_verdict_and_the_judge_fails_it(tmp_path: Path) -> None:
    run = Run(Inventory(platform="unit"), title="unit", journal_dir=tmp_path, interval=1.0)
    assert run.evaluate({"with_monitoring": BLOCK}) == []
    judgement = judge({"hadrill": run.to_journal()})
    assert not judgement.ok


def test_a_bad_block_is_a_config_error_naming_the_field(tmp_path: Path) -> None:
    run = Run(Inventory(platform="unit"), title="unit", journal_dir=tmp_path, interval=1.0)
    with pytest.raises(ConfigError, match=r"objectives\.with_monitoring"):
        run.evaluate({"with_monitoring": {"max_outage_s": 1}})


def test_the_report_says_not_asked_in_the_detected_column_and_the_scenario(tmp_path: Path) -> None:
    from tests.unit.test_report import make_journal

    from hadrill.report import render_report

    journal = make_journal("run-na", failing=False)
    journal["hadrill"]["not_asked"] = {
        "objectives": ["alert_fires", "alerts_silent"],
        "why": "no monitoring in the inventory",
    }
    (tmp_path / "j" / "run-na").mkdir(parents=True)
    (tmp_path / "j" / "run-na" / "journal.json").write_text(json.dumps(journal))
    render_report(tmp_path / "j", tmp_path / "out")
    page = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    md = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    for text in (page, md):
        assert "not asked" in text  # the Detected column: neither a time nor a pass
        assert "alert_fires, alerts_silent (no monitoring in the inventory)" in text

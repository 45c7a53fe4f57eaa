"""Results as Prometheus metrics: the exposition text of a hand-written report, line by line."""

from __future__ import annotations

import json
from pathlib import Path

from hadrill.report.metrics import report_metrics, write_textfile

ROOT = Path(__file__).resolve().parents[2]

REPORT = {
    "title": 'nightly "gate"',
    "platform": "lab:hadrill",
    "ok": False,
    "scenarios": [
        {
            "name": "kill leader",
            "status": "passed",
            "started": "2026-12-03T10:00:00.000Z",
            "ended": "2026-12-03T10:00:30.500Z",
            "duration_s": 30.5,
            "measured": {
                "max_outage_s": {"measured": 1.25},
                "acked_writes_lost": {"measured": 0.0},
                "availability": {"measured": 0.9},
                "alert_fires": {"measured": None},  # not measured: left out, never 0
            },
        },
        {"name": "partition", "status": "failed", "ended": "2026-12-03T10:01:00Z", "measured": {}},
    ],
}
# 2026-12-03T10:00:00Z = 1796292000 (20790 days since the epoch + 10 h)
T0 = 1796292000.0


def test_exposition_of_a_report() -> None:
    text = report_metrics(REPORT)
    base = 'plan="nightly \\"gate\\"",platform="lab:hadrill"'
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lines == [
        f"hadrill_drill_passed{{{base}}} 0.0",
        f"hadrill_drill_timestamp_seconds{{{base}}} {T0 + 60!r}",
        f'hadrill_drill_scenarios{{{base},status="error"}} 0.0',
        f'hadrill_drill_scenarios{{{base},status="failed"}} 1.0',
        f'hadrill_drill_scenarios{{{base},status="passed"}} 1.0',
        f'hadrill_scenario_passed{{{base},scenario="kill leader"}} 1.0',
        f'hadrill_scenario_passed{{{base},scenario="partition"}} 0.0',
        f'hadrill_scenario_rto_seconds{{{base},scenario="kill leader"}} 1.25',
        f'hadrill_scenario_rpo_writes{{{base},scenario="kill leader"}} 0.0',
        f'hadrill_scenario_availability_ratio{{{base},scenario="kill leader"}} 0.9',
        f'hadrill_scenario_duration_seconds{{{base},scenario="kill leader"}} 30.5',
        f'hadrill_scenario_timestamp_seconds{{{base},scenario="kill leader"}} {T0 + 30.5!r}',
        f'hadrill_scenario_timestamp_seconds{{{base},scenario="partition"}} {T0 + 60!r}',
    ]
    # every series has its HELP and TYPE gauge lines before its samples
    assert text.count("# TYPE ") == 9 and "# TYPE hadrill_scenario_time_to_detect_seconds" not in text


def test_textfile_is_written_whole(tmp_path: Path) -> None:
    path = write_textfile(tmp_path / "node" / "hadrill.prom", "x 1\n")
    assert path.read_text() == "x 1\n" and [p.name for p in path.parent.iterdir()] == ["hadrill.prom"]


def test_dashboard_reads_only_exported_series_and_is_a_grafana_dashboard() -> None:
    board = json.loads((ROOT / "deploy" / "grafana" / "hadrill-dashboard.json").read_text())
    # the fields Grafana's dashboard schema requires of an importable dashboard and its panels
    assert isinstance(board["title"], str) and isinstance(board["schemaVersion"], int) and board["uid"]
    exported = set(report_metrics(REPORT).split()) | {"hadrill_scenario_time_to_detect_seconds"}
    names = {w.split("{")[0] for w in exported if w.startswith("hadrill_")}
    for panel in board["panels"]:
        assert {"id", "type", "title", "gridPos", "targets"} <= set(panel), panel.get("title")
        assert set(panel["gridPos"]) == {"x", "y", "w", "h"}
        for target in panel["targets"]:
            used = {t for t in names if t in target["expr"]}
            assert used, f"{panel['title']}: {target['expr']} reads no exported series"


def test_shipped_results_rules_are_the_labs() -> None:
    from hadrill.lab.monitoring_files import RESULTS_RULES

    shipped = (ROOT / "deploy" / "prometheus" / "hadrill-results.rules.yml").read_text()
    assert shipped.endswith(RESULTS_RULES)
    assert "alert: PraExerciseOverdue" in shipped and "365 * 86400" in shipped and "alert: NightlyGateFailed" in shipped


def test_compliance_counts_per_suite_and_status() -> None:
    from hadrill.report.metrics import compliance_metrics

    text = compliance_metrics(
        [("docker", "pass"), ("docker", "pass"), ("docker", "fail"), ("pki", "waived"), ("", "error")],
        platform="lab:x",
        at=T0,
    )
    samples = dict(line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    p = 'platform="lab:x"'
    assert samples == {
        f'hadrill_compliance_findings{{{p},suite="checks",status="error"}}': "1.0",
        f'hadrill_compliance_findings{{{p},suite="checks",status="fail"}}': "0.0",
        f'hadrill_compliance_findings{{{p},suite="checks",status="pass"}}': "0.0",
        f'hadrill_compliance_findings{{{p},suite="checks",status="waived"}}': "0.0",
        f'hadrill_compliance_findings{{{p},suite="docker",status="error"}}': "0.0",
        f'hadrill_compliance_findings{{{p},suite="docker",status="fail"}}': "1.0",
        f'hadrill_compliance_findings{{{p},suite="docker",status="pass"}}': "2.0",
        f'hadrill_compliance_findings{{{p},suite="docker",status="waived"}}': "0.0",
        f'hadrill_compliance_findings{{{p},suite="pki",status="error"}}': "0.0",
        f'hadrill_compliance_findings{{{p},suite="pki",status="fail"}}': "0.0",
        f'hadrill_compliance_findings{{{p},suite="pki",status="pass"}}': "0.0",
        f'hadrill_compliance_findings{{{p},suite="pki",status="waived"}}': "1.0",
        f"hadrill_compliance_timestamp_seconds{{{p}}}": repr(T0),
    }


def test_repeated_scenario_names_get_distinct_series() -> None:
    runs = [
        {"name": "kill", "status": "passed"},
        {"name": "kill", "status": "failed"},
        {"name": "kill", "status": "passed"},
    ]
    text = report_metrics({"title": "t", "platform": "p", "ok": False, "scenarios": runs})
    passed = [line for line in text.splitlines() if line.startswith("hadrill_scenario_passed")]
    assert passed == [
        'hadrill_scenario_passed{plan="t",platform="p",scenario="kill"} 1.0',
        'hadrill_scenario_passed{plan="t",platform="p",scenario="kill (2)"} 0.0',
        'hadrill_scenario_passed{plan="t",platform="p",scenario="kill (3)"} 1.0',
    ]

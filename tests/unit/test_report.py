"""The exercise report, rendered from hand-made journals: what it shows, its integrity, its escaping,
and the before/after comparison."""

from __future__ import annotations

import copy
import hashlib
import html
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import markupsafe
import pytest

from hadrill.compare import compare, compare_files, load_report
from hadrill.errors import ConfigError
from hadrill.experiment import failure_report
from hadrill.report import build_report, load_journals, render_report
from hadrill.report.render import code, md

T0 = 1_700_000_000.0
GENERATED = T0 + 3600
SECRETS = ("s3cr3t-token-value", "hunter2")
FAILING_DETAIL = "longest outage 1.30 s > objective 1.00 s; outage 22:13:22.0–22:13:23.3 (12 failed samples)"


def _samples(pattern: str) -> list[dict[str, Any]]:
    """'.' ok, 'x' failed; one sample every 100 ms from T0."""
    return [
        {"start": T0 + i / 10, "end": T0 + i / 10 + 0.02, "ok": c == ".", "error": None if c == "." else "timeout",
         "detail": {"key": f"/k/{i}"} if c == "." else None}
        for i, c in enumerate(pattern)
    ]  # fmt: skip


def _verdict(name: str, objective: float, measured: float, unit: str, ok: bool, detail: str) -> dict[str, Any]:
    return {"name": name, "objective": objective, "measured": measured, "unit": unit, "ok": ok, "detail": detail}


def make_journal(run: str, *, failing: bool, title: str = "Partition one etcd member") -> dict[str, Any]:
    """A small, well-formed journal: two probes, one fault window, verdicts (one failing when asked)."""
    outage = 1.3 if failing else 0.4
    verdicts = [
        _verdict("etcd-write max_outage", 1.0, outage, "s", not failing,
                 FAILING_DETAIL if failing else "longest outage 0.40 s <= objective 1.00 s"),
        _verdict("etcd-write availability", 0.5, 0.806, "ratio", True, "availability 80.600% >= objective 50.000%"),
        _verdict("etcd-write acked_writes_lost", 0, 0, "writes", True, "0 acknowledged writes lost <= objective 0"),
        _verdict("etcd-read max_outage", 1.0, 0.6, "s", True, "longest outage 0.60 s <= objective 1.00 s"),
        _verdict("etcd-read availability", 0.5, 0.92, "ratio", True, "availability 92.000% >= objective 50.000%"),
        _verdict("new_leader_s", 5, 0.4, "s", True, "new leader n2 0.40 s after the fault <= objective 5.00 s"),
    ]  # fmt: skip
    activity = {
        "activity": {"type": "action", "name": "partition-a-follower",
                     "provider": {"type": "python", "module": "hadrill.ctk.actions", "func": "partition_member",
                                  "arguments": {"cluster": "etcd", "member": "follower", "api_token": SECRETS[0]}}},
        "output": "n1", "start": "2023-11-14T22:13:21.000000+00:00", "end": "2023-11-14T22:13:22.500000+00:00",
        "status": "succeeded", "duration": 1.5,
    }  # fmt: skip
    return {
        "chaoslib-version": "1.44.0",
        "experiment": {"title": title, "description": "One follower is cut from its peers."},
        "start": "2023-11-14T22:13:20.000000+00:00",
        "end": "2023-11-14T22:13:27.000000+00:00",
        "status": "completed",
        "deviated": failing,
        "steady_states": {"before": {"probes": []}, "after": {"probes": []}},
        "run": [activity],
        "rollbacks": [],
        "duration": 7.0,
        "hadrill": {
            "run": run,
            "title": title,
            "platform": "lab:test",
            "interval": 0.1,
            "started": T0,
            "faults": [
                {"id": "f00d", "kind": "network.partition", "target": "docker://n1", "description": "partition n1",
                 "params": {"members": ["n1"], "password": SECRETS[1]}, "created": T0 + 1.9, "deadline": T0 + 62,
                 "run": "vm:1", "fault": "f00d", "start": T0 + 2.0, "end": T0 + 3.5}
            ],
            "events": [
                {"at": T0 + 1.95, "kind": "fault", "text": "inject: partition n1", "fault": "f00d"},
                {"at": T0 + 2.4, "kind": "check", "text": "new leader n2 0.40 s after the fault", "ok": True},
                {"at": T0 + 3.5, "kind": "fault", "text": "revert: network.partition", "fault": "f00d"},
            ],
            "histories": {
                "etcd-write": {"name": "etcd-write", "samples": _samples("." * 20 + "x" * 12 + "." * 30)},
                "etcd-read": {"name": "etcd-read", "samples": _samples("." * 22 + "x" * 5 + "." * 35)},
            },
            "lost": {"etcd-write": []},
            "verdicts": verdicts,
            "ok": not failing,
        },
    }  # fmt: skip


def write_drill(journal_dir: Path, *, title: str = "PRA 2026", name: str = "partition") -> list[dict[str, Any]]:
    """Two scenarios (one passing, one failing) and the drill record naming them, as plain JSON files."""
    journals = [make_journal("run-ok", failing=False), make_journal("run-bad", failing=True)]
    names = ["kill-leader", name]
    for j in journals:
        path = journal_dir / j["hadrill"]["run"] / "journal.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(j), encoding="utf-8")  # not write_journal: the report must redact by itself
    drill = {
        "format": "hadrill/drill/v1", "title": title, "platform": "lab:test", "date": "2026-11-23",
        "coordinator": "Alice Martin", "participants": [{"name": "Bob", "role": "on-call"}],
        "started": T0 - 1, "ended": T0 + 20, "environment": {"hadrill": "0.1.0", "docker engine": "20.10"},
        "inventory": {"platform": "lab:test", "source": "lab", "networks": [], "clusters": [
            {"name": "etcd", "type": "etcd", "failure_budget": 1,
             "members": [{"name": "n1", "node": "n1"}, {"name": "n2", "node": "n2"}]}],
            "nodes": [{"name": "n1", "url": "docker://n1", "roles": ["etcd"], "addresses": {"net": "10.0.0.1"}}]},
        "versions": {"etcd": {"type": "etcd", "version": "etcd 3.4.23", "source": "status",
                              "members": {"n1": "3.4.23", "n2": "3.4.23"}}},
        "scenarios": [
            {"name": n, "experiment": f"experiments/{n}.yaml", "journal": f"{j['hadrill']['run']}/journal.json",
             "objectives": {"max_outage_s": 1.0}, "started": T0, "ended": T0 + 7, "status": "x", "error": None}
            for n, j in zip(names, journals, strict=True)
        ],
    }  # fmt: skip
    (journal_dir / "drill.json").write_text(json.dumps({"drill": drill}), encoding="utf-8")
    return journals


@pytest.fixture
def rendered(tmp_path: Path) -> tuple[Path, list[dict[str, Any]]]:
    journals = write_drill(tmp_path / "journals")
    render_report(tmp_path / "journals", tmp_path, generated=GENERATED)
    return tmp_path, journals


def test_index_shows_summary_rows_charts_and_the_failing_detail(rendered: tuple[Path, Any]) -> None:
    out, _ = rendered
    page = (out / "index.html").read_text(encoding="utf-8")
    rows = re.findall(
        r'<tr class="row-(\w+)">\s*<td class="num">(\d)</td>\s*<td class="name"><a[^>]*>([^<]*)</a>', page
    )
    assert rows == [("passed", "1", "kill-leader"), ("failed", "2", "partition")]
    assert page.count("<svg") == 2
    assert page.count('class="fault"') == 2 and page.count('class="recovery"') == 2
    assert html.escape(FAILING_DETAIL, quote=False) in page
    assert "1.30 s" in page and "objective ≤ 1.00 s" in page
    assert "Alice Martin" in page and "Signature" in page and "etcd 3.4.23" in page
    assert "hadrill.ctk.actions.partition_member" in page and "1.500 s" in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page), "the page must not load anything from outside"
    assert "<script" not in page


def test_secrets_never_reach_any_report_file(rendered: tuple[Path, Any]) -> None:
    out, _ = rendered
    for name in ("index.html", "report.md", "report.json", "junit.xml"):
        text = (out / name).read_text(encoding="utf-8")
        assert not any(s in text for s in SECRETS), name
    assert "***redacted***" in (out / "index.html").read_text(encoding="utf-8")


def test_sha256_lines_match_the_files(rendered: tuple[Path, Any]) -> None:
    out, _ = rendered
    page = (out / "index.html").read_text(encoding="utf-8")
    listed = dict(re.findall(r'<tr><td class="mono">([^<]+)</td><td class="mono">([0-9a-f]{64})</td></tr>', page))
    expected = {"report.json", "report.md", "junit.xml", "metrics.prom", "journals/drill.json",
                "journals/run-ok/journal.json", "journals/run-bad/journal.json"}  # fmt: skip
    assert set(listed) == expected
    for name, digest in listed.items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest, name
    sums = dict(reversed(line.split("  ", 1)) for line in (out / "SHA256SUMS").read_text().splitlines())
    assert set(sums) == expected | {"index.html"}
    for name, digest in sums.items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest, name


def test_junit_parses_with_properties_and_failure_report(rendered: tuple[Path, Any]) -> None:
    out, journals = rendered
    root = ET.parse(out / "junit.xml").getroot()
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == "2" and suite.get("failures") == "1"
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["kill-leader", "partition"]
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    assert failure is not None and failure.text is not None
    assert failure.text.startswith(failure_report(journals[1]))
    assert failure.get("message") == failure_report(journals[1]).splitlines()[0]
    props = {p.get("name"): p.get("value") for p in cases[1].iter("property")}
    assert props["max_outage_s.objective"] == "1.0" and props["max_outage_s.measured"] == "1.3"
    assert props["acked_writes_lost.measured"] == "0.0"
    assert props["etcd-read availability.measured"] == "0.92"


def test_report_json_round_trips(rendered: tuple[Path, Any]) -> None:
    out, _ = rendered
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert data == build_report(load_journals(out / "journals"), generated=GENERATED)
    assert json.loads(json.dumps(data)) == data
    assert data == load_report(out / "report.json")
    bad = data["scenarios"][1]
    assert (bad["status"], bad["ok"]) == ("failed", False)
    assert bad["measured"]["max_outage_s"] == {"label": "RTO (longest outage)", "objective": 1.0, "measured": 1.3,
                                               "unit": "s", "ok": False, "probes": 2}  # fmt: skip
    assert bad["measured"]["availability"]["measured"] == 0.806  # the worst probe
    assert bad["checks"] == {"passed": 1, "total": 1}
    assert data["counts"] == {"passed": 1, "failed": 1, "error": 0} and data["ok"] is False


def test_user_text_is_escaped_everywhere(tmp_path: Path) -> None:
    evil = '<script>alert(1)</script><img src=x onerror="alert(2)"> | `x` [a](http://e.invalid) & </td>'
    write_drill(tmp_path / "journals", title=evil, name=f"p {evil}")
    render_report(tmp_path / "journals", tmp_path, generated=GENERATED)
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert "<script" not in page and "<img" not in page and "</td> |" not in page
    assert str(markupsafe.escape(evil)) in page
    text = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert not re.search(r"(?<!\\)<[A-Za-z/]", text), "a raw HTML tag in the Markdown"
    assert not re.search(r"(?<!\\)\]\(", text), "a raw Markdown link"
    assert text.splitlines()[0].startswith("# \\<script>alert(1)")
    summary = [line for line in text.splitlines() if line.startswith("| 2 |")]
    assert len(summary) == 1 and summary[0].count(" | ") + 2 == summary[0].count("|") - summary[0].count("\\|")
    root = ET.parse(tmp_path / "junit.xml").getroot()
    assert [c.get("name") for c in root.iter("testcase")][1] == f"p {evil}"


def test_markdown_helpers() -> None:
    assert md("a_b *c* <b>x</b> | y") == "a_b \\*c\\* \\<b>x\\</b> \\| y"
    assert md("line\nbreak") == "line break"
    assert code("a|b") == "`a\\|b`" and code("a`b") == "`` a`b ``"


def test_a_directory_of_plain_journals_renders_without_a_drill(tmp_path: Path) -> None:
    for run, failing in (("b", True), ("a", False)):
        (tmp_path / "j" / run).mkdir(parents=True)
        (tmp_path / "j" / run / "journal.json").write_text(json.dumps(make_journal(run, failing=failing)))
    index = render_report(tmp_path / "j", tmp_path / "out")
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    assert [s["status"] for s in data["scenarios"]] == ["passed", "failed"]
    assert data["coordinator"] == "not recorded" and index.read_text().count("<svg") == 2
    with pytest.raises(ConfigError, match=re.escape("drill.json or at least one")):
        render_report(tmp_path / "out", tmp_path / "again")


def _report(rto: float | None, rpo: float, availability: float, status: str = "passed") -> dict[str, Any]:
    def m(value: float | None) -> dict[str, Any]:
        return {"measured": value}

    measured = {"max_outage_s": m(rto), "acked_writes_lost": m(rpo), "availability": m(availability)}
    return {"format": "hadrill/report/v1", "scenarios": [{"name": "s", "status": status, "measured": measured}]}


def test_compare_flags_a_regression_and_not_an_improvement(rendered: tuple[Path, Any], tmp_path: Path) -> None:
    before = _report(1.0, 0, 0.95)
    assert compare(before, _report(0.4, 0, 0.99)).exit_code == 0  # better everywhere
    assert compare(before, _report(1.4, 0, 0.945)).exit_code == 0  # within tolerance
    worse = compare(before, _report(2.0, 3, 0.80, status="failed"))
    assert worse.exit_code == 1
    assert {r.metric for r in worse.regressions} == {"RTO", "RPO", "availability", "result"}
    unknown = compare(before, _report(None, 0, 0.95))
    assert [r.metric for r in unknown.regressions] == ["RTO"]
    missing = compare(before, {"format": "hadrill/report/v1", "scenarios": []})
    assert missing.exit_code == 1 and missing.regressions[0].note == "not run in the new exercise"
    improvement = compare(_report(2.0, 3, 0.8, status="failed"), before)
    assert improvement.exit_code == 0 and all("better" in r.note for r in improvement.rows if r.metric != "result")
    # on real report files: the failing scenario's RTO grows by 1 s after an "upgrade"
    out, _ = rendered
    after = copy.deepcopy(load_report(out / "report.json"))
    after["scenarios"][1]["measured"]["max_outage_s"]["measured"] = 2.3
    (tmp_path / "after.json").write_text(json.dumps(after))
    result = compare_files(out / "report.json", tmp_path / "after.json")
    assert [(r.scenario, r.metric) for r in result.regressions] == [("partition", "RTO")]
    (tmp_path / "other.json").write_text('{"format": "something else"}')
    with pytest.raises(ConfigError, match=re.escape("other.json: format: expected 'hadrill/report/v1'")):
        compare_files(tmp_path / "after.json", tmp_path / "other.json")
    with pytest.raises(ConfigError, match="SHA256SUMS: line 1: expected a JSON report"):
        compare_files(out / "SHA256SUMS", tmp_path / "after.json")


def test_a_scenario_the_harness_could_not_run_is_an_error(tmp_path: Path) -> None:
    write_drill(tmp_path / "journals")
    drill_path = tmp_path / "journals" / "drill.json"
    drill = json.loads(drill_path.read_text())
    drill["drill"]["scenarios"].append(
        {"name": "broken", "experiment": "x.yaml", "journal": None, "error": "EngineError: no engine\ntraceback"}
    )
    drill_path.write_text(json.dumps(drill))
    render_report(tmp_path / "journals", tmp_path)
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["scenarios"][2]["status"] == "error" and data["counts"]["error"] == 1
    case = ET.parse(tmp_path / "junit.xml").getroot().findall("./testsuite/testcase")[2]
    error = case.find("error")
    assert error is not None and error.get("message") == "EngineError: no engine"
    assert "could not run" in (tmp_path / "index.html").read_text()


# -- pre-upgrade validation (hadrill drill --target-version) ----------------------------------------------
EVIL_REASON = "<script>alert(3)</script> | `x` [a](http://e.invalid) & </td> ]]> \x01"


def _preflight(*, go: bool, reason: str = "PodDisruptionBudget web/pdb allows 0 evictions") -> dict[str, Any]:
    """A synthetic ``hadrill preflight --json`` document, built as the command builds it."""
    from hadrill.preflight import Check, PreflightResult

    checks = [
        Check("target version", True, True, "v1.34.2 -> 1.35"),
        Check("nodes Ready", True, True, "all 3 nodes Ready", ["n1", "n2", "n3"]),
        Check("drain: PodDisruptionBudgets", go, True,
              "every PodDisruptionBudget (1) allows at least one eviction" if go
              else "1 of 1 PodDisruptionBudgets allow no eviction", [] if go else [reason]),
        Check("deprecated APIs: deprecated", False, False, "1 uses of APIs deprecated at 1.35",
              ["CustomResourceDefinition x: version a/v1 is marked deprecated"]),
    ]  # fmt: skip
    return PreflightResult("1.35", "v1.34.2", T0 + 30, checks).to_dict()


def _render_with(tmp_path: Path, preflight: dict[str, Any], **kw: Any) -> Path:
    write_drill(tmp_path / "journals", **kw)
    (tmp_path / "preflight.json").write_text(json.dumps(preflight, indent=2) + "\n", encoding="utf-8")
    render_report(tmp_path / "journals", tmp_path, generated=GENERATED)
    return tmp_path


def _preflight_case(out: Path) -> ET.Element:
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    cases = [c for c in suite.findall("testcase") if c.get("name") == "preflight"]
    assert len(cases) == 1
    return cases[0]


def test_a_go_preflight_is_in_every_report_file(tmp_path: Path) -> None:
    out = _render_with(tmp_path, _preflight(go=True))
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "Pre-upgrade validation" in page and 'href="#preflight"' in page
    assert "Pre-upgrade validation to Kubernetes 1.35: GO" in page
    assert "every PodDisruptionBudget (1) allows at least one eviction" in page
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "## Pre-upgrade validation" in text and "**Verdict: GO**" in text and "Target version: 1.35" in text
    assert "| nodes Ready | yes | ok | all 3 nodes Ready |" in text
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    pre = data["preflight"]
    assert (pre["decision"], pre["verdict"], pre["ok"], pre["target_version"]) == ("go", "GO", True, "1.35")
    assert pre["reasons"] == [] and pre["warnings"] == [
        "deprecated APIs: deprecated: 1 uses of APIs deprecated at 1.35"
    ]
    assert data == build_report(load_journals(out / "journals"), generated=GENERATED, preflight=_preflight(go=True))
    case = _preflight_case(out)
    assert case.find("failure") is None and case.find("error") is None
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures")) == ("3", "1")  # 2 scenarios + preflight
    sums = (out / "SHA256SUMS").read_text(encoding="utf-8")
    digest = hashlib.sha256((out / "preflight.json").read_bytes()).hexdigest()
    assert f"{digest}  preflight.json\n" in sums and "preflight.json" in page


def test_a_no_go_preflight_shows_its_reasons_and_fails_the_junit_case(tmp_path: Path) -> None:
    out = _render_with(tmp_path, _preflight(go=False))
    reason = "drain: PodDisruptionBudgets: 1 of 1 PodDisruptionBudgets allow no eviction"
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "Pre-upgrade validation to Kubernetes 1.35: NO-GO" in page and f"<li>{reason}</li>" in page
    assert "PodDisruptionBudget web/pdb allows 0 evictions" in page
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "**Verdict: NO-GO**" in text and f"- {md(reason)}" in text
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert data["preflight"]["decision"] == "no-go" and data["preflight"]["reasons"] == [reason]
    failure = _preflight_case(out).find("failure")
    assert failure is not None and failure.get("message") == f"NO-GO for Kubernetes 1.35: {reason}"
    assert failure.text is not None and "PodDisruptionBudget web/pdb allows 0 evictions" in failure.text
    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures")) == ("3", "2")


def test_a_decision_contradicting_its_checks_follows_the_checks(tmp_path: Path) -> None:
    doc = {**_preflight(go=False), "decision": "go"}
    out = _render_with(tmp_path, doc)
    assert json.loads((out / "report.json").read_text())["preflight"]["verdict"] == "NO-GO"


def test_a_malicious_preflight_reason_is_escaped_everywhere(tmp_path: Path) -> None:
    doc = _preflight(go=False)
    doc["checks"][2]["summary"] = EVIL_REASON
    doc["checks"][2]["details"] = [EVIL_REASON]
    doc["target_version"] = "<b>1.35</b>"
    out = _render_with(tmp_path, doc)
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "<script" not in page and "<b>1.35" not in page and "</td> ]]>" not in page
    assert str(markupsafe.escape(EVIL_REASON[: EVIL_REASON.index(" ]]>")])) in page
    text = (out / "report.md").read_text(encoding="utf-8")
    assert not re.search(r"(?<!\\)<[A-Za-z/]", text), "a raw HTML tag in the Markdown"
    assert not re.search(r"(?<!\\)\]\(", text), "a raw Markdown link"
    rows = [line for line in text.splitlines() if line.startswith("| drain: PodDisruptionBudgets |")]
    assert len(rows) == 1 and rows[0].count(" | ") + 2 == rows[0].count("|") - rows[0].count("\\|")
    failure = _preflight_case(out).find("failure")  # parses: XML-escaped, \x01 replaced
    assert failure is not None and failure.text is not None
    assert "<script>alert(3)</script>" in failure.text and "\x01" not in failure.text


def test_a_preflight_not_run_is_recorded_and_skipped(tmp_path: Path) -> None:
    from hadrill.drill import run_preflight_record
    from hadrill.inventory import Inventory

    record = run_preflight_record(Inventory(platform="no-k8s"), "1.35")
    assert record["decision"] == "not run" and record["note"] == "not run: no kubernetes cluster in the inventory"
    out = _render_with(tmp_path, record)
    page = (out / "index.html").read_text(encoding="utf-8")
    assert "NOT RUN" in page and "not run: no kubernetes cluster in the inventory" in page
    pre = json.loads((out / "report.json").read_text())["preflight"]
    assert (pre["decision"], pre["ok"], pre["checks"]) == ("not run", True, [])
    case = _preflight_case(out)
    skipped = case.find("skipped")
    assert case.find("failure") is None and skipped is not None
    assert skipped.get("message") == "not run: no kubernetes cluster in the inventory"


def test_hadrill_report_rerenders_a_stored_preflight(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from hadrill.cli.drill import report_cmd

    drill = tmp_path / "drill"
    write_drill(drill / "journals")
    stored = tmp_path / "elsewhere.json"
    stored.write_text(json.dumps(_preflight(go=True)), encoding="utf-8")
    other = tmp_path / "other"
    record = json.loads((drill / "journals" / "drill.json").read_text())
    record["drill"]["scenarios"] = record["drill"]["scenarios"][:1]  # only the passing scenario
    (drill / "journals" / "drill.json").write_text(json.dumps(record), encoding="utf-8")
    result = CliRunner().invoke(
        report_cmd, ["--journal-dir", str(drill / "journals"), "--out", str(other), "--preflight", str(stored)]
    )
    assert result.exit_code == 0, result.output
    assert (other / "preflight.json").read_bytes() == stored.read_bytes()
    assert json.loads((other / "report.json").read_text())["preflight"]["verdict"] == "GO"
    (drill / "preflight.json").write_text(json.dumps(_preflight(go=False)), encoding="utf-8")
    result = CliRunner().invoke(report_cmd, ["--journal-dir", str(drill / "journals")])  # the drill's own
    assert result.exit_code == 1, result.output  # no-go
    assert json.loads((drill / "report.json").read_text())["preflight"]["verdict"] == "NO-GO"
    assert "NO-GO" in (drill / "index.html").read_text(encoding="utf-8")


def test_a_drill_with_a_target_version_runs_the_preflight_after_the_scenarios(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import yaml

    import hadrill.drill
    import hadrill.preflight
    from hadrill.drill import run_drill
    from hadrill.inventory import Cluster, Inventory, Member, Node
    from hadrill.plan import parse_plan

    calls: list[tuple[str, str]] = []

    def fake_preflight(inventory: Inventory, target: str, *, cluster: str = "kubernetes") -> Any:
        calls.append((target, cluster))
        return hadrill.preflight.PreflightResult(
            "1.35", "v1.34.2", T0, [hadrill.preflight.Check("x", False, True, "bad")]
        )

    monkeypatch.setattr(hadrill.preflight, "run_preflight", fake_preflight)
    monkeypatch.setattr(hadrill.drill, "capture_environment", lambda: {"hadrill": "test"})
    k8s = Cluster(name="kubernetes", type="kubernetes", members=[Member(name="cp", node="cp")], failure_budget=0)
    inv = Inventory(platform="k8s", nodes=[Node(name="cp", url="docker://cp")], clusters=[k8s])
    inv_path = tmp_path / "inventory.yaml"
    inv_path.write_text(yaml.safe_dump(inv.model_dump(mode="json")), encoding="utf-8")
    plan = parse_plan(
        {"platform": "k8s", "coordinator": "A", "scenarios": [{"experiment": "missing.yaml"}]},
        "plan.yaml", tmp_path, check_files=False,
    )  # fmt: skip
    result = run_drill(plan, inv_path, tmp_path / "out", target_version="1.35")
    assert calls == [("1.35", "kubernetes")]
    assert result.preflight is not None and result.preflight["decision"] == "no-go"
    assert not result.preflight_ok and not result.ok
    assert json.loads((tmp_path / "out" / "preflight.json").read_text()) == result.preflight
    assert json.loads((tmp_path / "out" / "report.json").read_text())["preflight"]["reasons"] == ["x: bad"]
    again = run_drill(plan, inv_path, tmp_path / "out")  # without a target version: no stale validation
    assert again.preflight is None and not (tmp_path / "out" / "preflight.json").exists()
    assert json.loads((tmp_path / "out" / "report.json").read_text())["preflight"] is None


def test_compiled_templates_are_kept_between_runs_and_change_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second report compiles no template (jinja reads the first one's code) and is byte for byte the
    first; a cache that cannot be made (its place is a file) only costs the compile."""
    import jinja2

    write_drill(tmp_path / "journals")
    monkeypatch.setenv("HADRILL_CACHE_DIR", str(tmp_path / "cache"))
    render_report(tmp_path / "journals", tmp_path / "first", generated=GENERATED)
    assert len(list((tmp_path / "cache" / "report-templates").glob("*/*.cache"))) == 2  # HTML and Markdown

    def no_compile(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a template was compiled again")

    with monkeypatch.context() as m:
        m.setattr(jinja2.Environment, "compile", no_compile)
        render_report(tmp_path / "journals", tmp_path / "second", generated=GENERATED)
    for name in ("index.html", "report.md"):
        assert (tmp_path / "second" / name).read_bytes() == (tmp_path / "first" / name).read_bytes()
    (tmp_path / "blocked").write_text("a file where the cache would go")
    monkeypatch.setenv("HADRILL_CACHE_DIR", str(tmp_path / "blocked"))
    render_report(tmp_path / "journals", tmp_path / "third", generated=GENERATED)
    assert (tmp_path / "third" / "index.html").read_bytes() == (tmp_path / "first" / "index.html").read_bytes()

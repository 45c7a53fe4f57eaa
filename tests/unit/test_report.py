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
    expected = {"report.json", "report.md", "junit.xml", "journals/drill.json", "journals/run-ok/journal.json",
                "journals/run-bad/journal.json"}  # fmt: skip
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
    with pytest.raises(ConfigError, match="SHA256SUMS: expected a JSON report"):
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

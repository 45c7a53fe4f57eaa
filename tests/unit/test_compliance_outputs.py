"""Reports (JSON, SARIF 2.1.0, JUnit) carry check ids and severities; the baseline gates only new findings."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path

import pytest

from hadrill.compliance.baseline import apply_baseline, load_baseline, write_baseline
from hadrill.compliance.outputs import summary, to_junit, to_sarif, write_reports
from hadrill.compliance.registry import CHECKS, Finding, Verdict
from hadrill.compliance.runner import exit_code, gate
from hadrill.compliance.waivers import parse_waivers
from hadrill.errors import ConfigError


def findings() -> list[Finding]:
    userns = CHECKS["HD-DOCKER-001"].finding("engine", Verdict(False, {"configured": None}, "set", "no userns"))
    icc = CHECKS["HD-DOCKER-002"].finding("engine", Verdict(True, "false", "false", "icc off"))
    mtu = CHECKS["HD-NET-001"].finding("nfs-1", Verdict(False, 1500, 9000, "eth1 at 1500", object="storage:eth1"))
    pki = CHECKS["HD-PKI-003"].error("cp-1", "cannot list /etc/kubernetes/pki")
    pss = Finding(check_id="HD-PSS-003", target="Deployment/prod/web", status="fail", observed={"spec.x": True},
                  message="privileged", object="Deployment/web", namespace="prod", severity="critical", suite="pss",
                  file="deploy/web.yaml")  # fmt: skip
    waiver = parse_waivers("waivers:\n- {check: HD-NET-001, owner: neteng, reason: switch swap, expires: 2099-01-01}")
    return gate([userns, icc, mtu, pki, pss], waiver, today=date(2026, 1, 1))


def test_summary_counts_what_the_gate_counts() -> None:
    s = summary(findings())
    assert s == {"pass": 1, "fail": 2, "error": 1, "waived": 1, "baselined": 0, "failing": 3, "total": 5}


def test_sarif_is_2_1_0_with_rules_levels_suppressions_and_locations() -> None:
    doc = to_sarif(findings(), baseline_used=True)
    assert doc["version"] == "2.1.0" and doc["$schema"].endswith("sarif-2.1.0.json")
    run = doc["runs"][0]
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    assert set(rules) == {"HD-DOCKER-001", "HD-DOCKER-002", "HD-NET-001", "HD-PKI-003", "HD-PSS-003"}
    assert rules["HD-DOCKER-001"]["properties"]["severity"] == "high"
    assert rules["HD-DOCKER-001"]["properties"]["security-severity"] == "8.0"
    assert rules["HD-DOCKER-001"]["defaultConfiguration"]["level"] == "error"
    assert "CIS Docker" in rules["HD-DOCKER-001"]["properties"]["reference"]
    assert rules["HD-DOCKER-002"]["defaultConfiguration"]["level"] == "warning"
    by_rule = {r["ruleId"]: r for r in run["results"]}
    for r in run["results"]:
        assert run["tool"]["driver"]["rules"][r["ruleIndex"]]["id"] == r["ruleId"]
        assert r["partialFingerprints"]["hadrillFinding/v1"]
    assert by_rule["HD-DOCKER-002"]["kind"] == "pass" and by_rule["HD-DOCKER-002"]["level"] == "none"
    assert by_rule["HD-DOCKER-001"]["baselineState"] == "new"
    assert by_rule["HD-NET-001"]["suppressions"][0]["kind"] == "external"
    assert "switch swap" in by_rule["HD-NET-001"]["suppressions"][0]["justification"]
    assert by_rule["HD-PSS-003"]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "deploy/web.yaml"
    assert by_rule["HD-PSS-003"]["level"] == "error"
    assert run["invocations"][0]["executionSuccessful"] is False  # the PKI check could not run
    json.dumps(doc)  # serialisable as is


def test_junit_has_a_testcase_per_finding_with_check_id_and_severity_properties() -> None:
    root = to_junit(findings()).getroot()
    assert root is not None
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == (
        "5",
        "2",
        "1",
        "1",
    )
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    userns = cases["HD-DOCKER-001 [engine]"]
    props = {p.get("name"): p.get("value") for p in userns.iter("property")}
    assert props["check_id"] == "HD-DOCKER-001" and props["severity"] == "high"
    failure = userns.find("failure")
    assert failure is not None and failure.get("type") == "HD-DOCKER-001"
    assert "remediation:" in (failure.text or "")
    assert cases["HD-NET-001 [nfs-1 storage:eth1]"].find("skipped") is not None
    assert cases["HD-PKI-003 [cp-1]"].find("error") is not None
    assert cases["HD-DOCKER-002 [engine]"].find("failure") is None


def test_write_reports_writes_the_three_files(tmp_path: Path) -> None:
    paths = write_reports(findings(), tmp_path / "out", {"inventory": "inv.yaml"})
    report = json.loads(paths["json"].read_text())
    assert report["kind"] == "ComplianceReport" and report["inventory"] == "inv.yaml"
    assert report["checks"]["HD-NET-001"]["severity"] == "high"
    assert {f["check_id"] for f in report["findings"]} >= {"HD-DOCKER-001", "HD-PSS-003"}
    assert json.loads(paths["sarif"].read_text())["version"] == "2.1.0"
    assert ET.parse(paths["junit"]).getroot().tag == "testsuites"


def test_the_baseline_makes_only_new_findings_fail(tmp_path: Path) -> None:
    night1 = findings()
    assert write_baseline(night1, tmp_path / "baseline.json") == 3  # two failures, one error
    known = load_baseline(tmp_path / "baseline.json")
    night2 = [*night1, CHECKS["HD-DOCKER-005"].finding("engine", Verdict(False, "true", "false"))]
    gated = apply_baseline(night2, known)
    assert [f.check_id for f in gated if f.failing] == ["HD-DOCKER-005"]
    assert exit_code(gated) == 1
    assert exit_code(apply_baseline(night1, known)) == 0
    root = to_junit(gated).getroot()
    assert root is not None
    suite = root.find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    sarif = {r["ruleId"]: r for r in to_sarif(gated, baseline_used=True)["runs"][0]["results"]}
    assert sarif["HD-DOCKER-001"]["baselineState"] == "unchanged" and sarif["HD-DOCKER-005"]["baselineState"] == "new"


def test_the_fingerprint_ignores_the_observed_value() -> None:
    a = Finding(check_id="HD-PKI-003", target="cp", status="fail", observed="29 days", object="/pki/a.crt")
    assert a.fingerprint == a.with_(observed="12 days", message="other").fingerprint
    assert a.fingerprint != a.with_(object="/pki/b.crt").fingerprint


@pytest.mark.parametrize(
    ("text", "field"),
    [("{", "line 1"), ('{"kind": "Other"}', "kind"), ('{"kind": "ComplianceBaseline", "findings": {}}', "findings"),
     ('{"kind": "ComplianceBaseline", "findings": [{"fingerprint": 3}]}', "findings[0].fingerprint")],
)  # fmt: skip
def test_a_broken_baseline_names_the_file_and_the_field(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "b.json"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_baseline(path)
    assert info.value.file == str(path) and info.value.field == field

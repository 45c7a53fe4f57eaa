"""Reports built from findings: JSON (hadrill's own), SARIF 2.1.0 (code scanning), JUnit XML (CI).

Every report carries the check ids and severities, so a dashboard, GitHub code scanning and a CI test
view all name the same rule. Statuses map as follows:

========  =====================  ================================  ==========================
status    JSON                   SARIF result                      JUnit testcase
========  =====================  ================================  ==========================
pass      status pass            kind pass, level none             passed
fail      status fail            kind fail, level by severity      <failure>
error     status error           kind fail + tool notification     <error>
waived    status waived          kind fail, suppression external   <skipped> (the waiver)
baselined baselined: true        baselineState unchanged           <skipped> (in baseline)
========  =====================  ================================  ==========================

SARIF levels: critical and high → ``error``, medium → ``warning``, low → ``note``; the severity is
also in each rule's ``properties.security-severity`` (critical 9.5, high 8.0, medium 5.5, low 3.0).
"""

from __future__ import annotations

import io
import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hadrill import __version__
from hadrill.compliance.registry import CHECKS, Finding
from hadrill.compliance.sarif_locations import BASE_ID, anchors, artifact_location, repository_root
from hadrill.journal import redact
from hadrill.secrets import redact_text, redact_values

__all__ = ["summary", "to_json", "to_junit", "to_sarif", "write_reports"]

_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
_SCORE = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0"}
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_URL = re.compile(r"https?://\S+[^\s.,;)]")


def summary(findings: Iterable[Finding]) -> dict[str, int]:
    """Counts by status, plus ``failing`` (what the gate counts) and ``baselined``."""
    items = list(findings)
    counts = Counter(f.status for f in items)
    out = {s: counts.get(s, 0) for s in ("pass", "fail", "error", "waived")}
    out["baselined"] = sum(f.baselined for f in items)
    out["failing"] = sum(f.failing for f in items)
    out["total"] = len(items)
    return out


def _rule(check_id: str) -> dict[str, Any]:
    chk = CHECKS.get(check_id)
    if chk is None:
        return {"id": check_id}
    return {
        "id": chk.id,
        "name": chk.id.replace("-", ""),
        "shortDescription": {"text": chk.title},
        "fullDescription": {"text": f"{chk.title}. Reference: {chk.reference}"},
        "help": {"text": chk.remediation, "markdown": f"**{chk.title}**\n\n{chk.remediation}\n\n{chk.reference}"},
        "defaultConfiguration": {"level": _LEVEL[chk.severity]},
        **({"helpUri": m[0]} if (m := _URL.search(chk.reference)) else {}),
        "properties": {
            "severity": chk.severity,
            "security-severity": _SCORE[chk.severity],
            "reference": chk.reference,
            "suite": chk.suite,
            "tags": ["security", "compliance", chk.suite],
        },
    }


def to_json(findings: list[Finding], meta: dict[str, Any] | None = None) -> dict[str, Any]:
    ids = sorted({f.check_id for f in findings})
    checks = {}
    for i in ids:
        chk = CHECKS.get(i)
        if chk is not None:
            checks[i] = {
                "title": chk.title,
                "severity": chk.severity,
                "remediation": chk.remediation,
                "reference": chk.reference,
                "suite": chk.suite,
                "target_kind": chk.target_kind,
            }
    return {
        "api_version": "hadrill/v1",
        "kind": "ComplianceReport",
        "generated": datetime.now(UTC).isoformat(timespec="seconds"),
        **(meta or {}),
        "summary": summary(findings),
        "checks": checks,
        "findings": [f.to_dict() for f in findings],
    }


def _physical(f: Finding, sources: list[str], root: Path) -> dict[str, Any] | None:
    """The file and line a finding points at: its own file's object, else the declaring inventory/policy entry."""
    candidates = ([f.file] if f.file else []) + [s for s in sources if s]
    keys = [k for k in (f.target, f.object) if k]
    for path in candidates:
        found = anchors(str(path))
        line = next((found[k] for k in keys if k in found), None)
        if line is not None or path == f.file:
            return {"artifactLocation": artifact_location(path, root), "region": {"startLine": line or 1}}
    if candidates:
        return {"artifactLocation": artifact_location(candidates[0], root), "region": {"startLine": 1}}
    return None


def to_sarif(
    findings: list[Finding], *, baseline_used: bool = False, sources: list[str] | None = None,
    root: Path | None = None,
) -> dict[str, Any]:  # fmt: skip
    """SARIF 2.1.0; ``sources`` are the inventory and policy files that declared the nodes (for locations),
    ``root`` the repository root URIs are relative to (default: the git work tree's, else the cwd)."""
    root = root or repository_root()
    ids = sorted({f.check_id for f in findings})
    index = {i: n for n, i in enumerate(ids)}
    results, notes = [], []
    for f in findings:
        chk = CHECKS.get(f.check_id)
        severity = chk.severity if chk else f.severity
        logical = [{"name": f.target, "kind": "resource", "fullyQualifiedName": f"{f.target}/{f.object or ''}"}]
        location: dict[str, Any] = {"logicalLocations": logical}
        physical = _physical(f, sources or [], root)
        if physical is not None:
            location["physicalLocation"] = physical
        result: dict[str, Any] = {
            "ruleId": f.check_id,
            "ruleIndex": index[f.check_id],
            "kind": "pass" if f.status == "pass" else "fail",
            "level": "none" if f.status == "pass" else _LEVEL[severity],
            "message": {"text": f.message or f.check_id},
            "locations": [location],
            "partialFingerprints": {"hadrillFinding/v1": f.fingerprint},
            "properties": {
                "status": f.status,
                "severity": severity,
                "observed": _plain(f.observed),
                "expected": _plain(f.expected),
                "namespace": f.namespace,
            },
        }
        if f.status == "waived" and f.waiver:
            just = f"{f.waiver['reason']} (owner {f.waiver['owner']}, until {f.waiver['expires']})"
            result["suppressions"] = [{"kind": "external", "status": "accepted", "justification": just}]
        if baseline_used and f.status != "pass":
            result["baselineState"] = "unchanged" if f.baselined else "new"
        if f.status == "error":
            notes.append({"level": "error", "message": {"text": f"{f.check_id} on {f.target}: {f.message}"},
                          "descriptor": {"id": f.check_id}})  # fmt: skip
        results.append(result)
    run = {
        "tool": {
            "driver": {
                "name": "hadrill",
                "version": __version__,
                "rules": [_rule(i) for i in ids],
            }
        },
        "originalUriBaseIds": {BASE_ID: {"uri": root.as_uri().rstrip("/") + "/"}},
        "results": results,
        "invocations": [{"executionSuccessful": not notes, "toolExecutionNotifications": notes}],
    }
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def to_junit(findings: list[Finding], suite_name: str = "hadrill-compliance") -> ET.ElementTree:
    s = summary(findings)
    skipped = s["waived"] + sum(f.baselined for f in findings)
    root = ET.Element("testsuites", name=suite_name)
    suite = ET.SubElement(
        root, "testsuite", name=suite_name, tests=str(len(findings)), timestamp=datetime.now(UTC).isoformat(),
        failures=str(sum(f.status == "fail" and not f.baselined for f in findings)),
        errors=str(sum(f.status == "error" and not f.baselined for f in findings)), skipped=str(skipped),
    )  # fmt: skip
    for f in findings:
        chk = CHECKS.get(f.check_id)
        where = f"{f.target}" + (f" {f.object}" if f.object else "")
        case = ET.SubElement(suite, "testcase", classname=f"hadrill.compliance.{f.suite or 'checks'}",
                             name=f"{f.check_id} [{where}]")  # fmt: skip
        props = ET.SubElement(case, "properties")
        for k, v in (("check_id", f.check_id), ("severity", chk.severity if chk else f.severity),
                     ("reference", chk.reference if chk else ""), ("target", f.target),
                     ("status", f.status), ("fingerprint", f.fingerprint)):  # fmt: skip
            ET.SubElement(props, "property", name=k, value=str(v))
        detail = f"observed: {_plain(f.observed)}\nexpected: {_plain(f.expected)}\n"
        if chk:
            detail += f"remediation: {chk.remediation}\n"
        if f.baselined:
            ET.SubElement(case, "skipped", message=f"known finding (in the baseline): {f.message}")
        elif f.status == "fail":
            ET.SubElement(case, "failure", message=f.message, type=f.check_id).text = detail
        elif f.status == "error":
            ET.SubElement(case, "error", message=f.message, type="infrastructure").text = detail
        elif f.status == "waived":
            ET.SubElement(case, "skipped", message=f"waived: {f.message}")
    ET.indent(root)
    return ET.ElementTree(root)


def write_reports(findings: list[Finding], out_dir: Path, meta: dict[str, Any] | None = None,
                  *, baseline_used: bool = False, root: Path | None = None) -> dict[str, Path]:  # fmt: skip
    """findings.json, findings.sarif and junit.xml in ``out_dir``; returns their paths. SARIF locations
    come from ``meta``'s ``inventory`` and ``policy`` files, relative to ``root`` (see :func:`to_sarif`)."""
    sources = [str(meta[k]) for k in ("inventory", "policy") if meta and meta.get(k)]
    out_dir.mkdir(parents=True, exist_ok=True)
    # an observed value may hold a key or a token: hidden by key name and by value (the fingerprint stays)
    findings = [
        f.with_(observed=redact(f.observed), expected=redact(f.expected), message=redact_text(f.message))
        for f in findings
    ]
    paths = {"json": out_dir / "findings.json", "sarif": out_dir / "findings.sarif", "junit": out_dir / "junit.xml"}
    doc = redact_values(_plain(to_json(findings, meta)))  # an observed value may hold a key or a token
    paths["json"].write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    sarif = redact_values(_plain(to_sarif(findings, baseline_used=baseline_used, sources=sources, root=root)))
    paths["sarif"].write_text(json.dumps(sarif, indent=1) + "\n", encoding="utf-8")
    buf = io.BytesIO()
    to_junit(findings).write(buf, encoding="utf-8", xml_declaration=True)
    paths["junit"].write_text(redact_text(buf.getvalue().decode("utf-8")) + "\n", encoding="utf-8")
    return paths

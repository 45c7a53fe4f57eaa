"""``hadrill check --audit-waivers``: unused, expiring and expired waivers, with owners; exit 1 if any expired.

Dates are relative to today, so the expected verdicts are worked out here by hand: a waiver expiring in
5 days is within the default 30, one that expired yesterday is expired, one for a check nothing fails
is unused.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import yaml

from hadrill.compliance.registry import Finding
from hadrill.compliance.waiver_audit import audit_waivers
from hadrill.compliance.waivers import parse_waivers

POD = {
    "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ops"},
    "spec": {"hostNetwork": True, "containers": [{"name": "c", "image": "nginx"}]},
}  # fmt: skip  # baseline: fails hostNamespaces (HD-PSS-002) only


def _waivers(*entries: tuple[str, str, int]) -> str:
    today = date.today()
    return yaml.safe_dump({"waivers": [
        {"check": check, "owner": owner, "reason": "r", "expires": (today + timedelta(days=days)).isoformat()}
        for check, owner, days in entries
    ]})  # fmt: skip


def test_audit_flags_by_hand() -> None:
    today = date(2026, 6, 1)
    ws = parse_waivers(
        "waivers:\n"
        "- {check: HD-PSS-002, owner: a, reason: r, expires: 2026-12-31}\n"  # used, far: fine
        "- {check: HD-PSS-002, owner: b, reason: r, expires: 2026-06-30}\n"  # 29 days: expiring
        "- {check: HD-PSS-002, owner: c, reason: r, expires: 2026-07-01}\n"  # 30 days: expiring (inclusive)
        "- {check: HD-PSS-002, owner: d, reason: r, expires: 2026-07-02}\n"  # 31 days: fine
        "- {check: HD-PSS-002, owner: e, reason: r, expires: 2026-05-31}\n"  # yesterday: expired
        "- {check: HD-PSS-009, owner: f, reason: r, expires: 2026-12-31}\n"  # nothing fails it: unused
    )
    findings = [Finding("HD-PSS-002", "Pod/ops/p", "fail"), Finding("HD-PSS-009", "Pod/ops/p", "pass")]
    audit = audit_waivers(ws, findings, today=today)
    assert [(a.waiver.owner, a.problems, a.days_left, a.matched) for a in audit] == [
        ("a", (), 213, 1), ("b", ("expiring",), 29, 1), ("c", ("expiring",), 30, 1), ("d", (), 31, 1),
        ("e", ("expired",), -1, 1), ("f", ("unused",), 213, 0),
    ]  # fmt: skip


def _run(tmp_path: Path, waivers: str) -> tuple[subprocess.CompletedProcess[str], dict]:  # type: ignore[type-arg]
    (tmp_path / "pod.yaml").write_text(yaml.safe_dump(POD))
    (tmp_path / "waivers.yaml").write_text(waivers)
    env = {k: v for k, v in os.environ.items() if k != "HADRILL_INVENTORY"}
    env["HADRILL_STATE_DIR"] = str(tmp_path / "state")
    hadrill = Path(sys.executable).with_name("hadrill")
    proc = subprocess.run(
        [str(hadrill), "check", "--manifests", str(tmp_path / "pod.yaml"), "--pss-level", "baseline",
         "--waivers", str(tmp_path / "waivers.yaml"), "--audit-waivers", "--out", str(tmp_path / "out")],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    audit = tmp_path / "out" / "waivers-audit.json"
    return proc, json.loads(audit.read_text()) if audit.exists() else {}


def test_cli_exits_1_on_an_expired_waiver_and_lists_owners(tmp_path: Path) -> None:
    proc, audit = _run(tmp_path, _waivers(("HD-PSS-002", "live@x", 90), ("HD-PSS-002", "soon@x", 5),
                                          ("HD-PSS-00*", "late@x", -3), ("HD-PSS-011", "idle@x", 200)))  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    for owner in ("soon@x", "late@x", "idle@x"):
        assert owner in proc.stdout
    assert {w["owner"]: w["problems"] for w in audit["waivers"]} == {
        "live@x": [],
        "soon@x": ["expiring"],
        "late@x": ["expired"],
        "idle@x": ["unused"],
    }


def test_cli_without_expired_waivers_keeps_the_check_exit_code(tmp_path: Path) -> None:
    proc, audit = _run(tmp_path, _waivers(("HD-PSS-002", "live@x", 90), ("HD-PSS-011", "idle@x", 200)))
    assert proc.returncode == 0, proc.stdout + proc.stderr  # the one failure is waived
    assert "idle@x" in proc.stdout and [w["problems"] for w in audit["waivers"]] == [[], ["unused"]]

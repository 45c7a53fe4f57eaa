"""Secrets are redacted by their value, not only by their key's name, in every file hadrill writes.

Planted in the inventory (a node URL with a password, a PEM key and a kubeconfig in a cluster's
settings), in the environment (read by the experiment's configuration) and in an activity's arguments
and output; then the journal, the rendered report (JSON, Markdown, HTML, JUnit, SHA256SUMS) and the
compliance reports are grepped for each planted value. Each needle is unique so a hit says what leaked.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import yaml

from hadrill.compliance.outputs import write_reports
from hadrill.compliance.registry import Finding
from hadrill.experiment import run_experiment_file
from hadrill.report.render import render_report

PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7PEMSECRETBODY"
PEM = f"-----BEGIN PRIVATE KEY-----\n{PEM_BODY}\n-----END PRIVATE KEY-----\n"
NEEDLES = {
    "node URL password": "NodePassw0rdX",
    "endpoint URL password": "EndpointPassw0rdY",
    "PEM in inventory settings": PEM_BODY,
    "kubeconfig client-key-data": "S3ViZUNsaWVudEtleURhdGFaWg==",
    "kubeconfig token": "kubetoken0123456789abcdef",
    "env URL password": "EnvPassw0rdZ",
    "env bearer token": "EnvBearerTok3nQQQ",
    "argument bearer token": "ArgBearerTok3nWWW",
    "argument JWT": "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2EifQ.c2lnbmF0dXJlc2lnbmF0dXJl",
    "argument PEM": "MIIargumentPEMbodyAAAA",
}
KUBECONFIG = (
    "apiVersion: v1\nusers:\n- name: admin\n  user:\n"
    f"    client-key-data: {NEEDLES['kubeconfig client-key-data']}\n    token: {NEEDLES['kubeconfig token']}\n"
)


def _inventory(path: Path) -> Path:
    inv = {
        "platform": "secrets-test",
        "nodes": [{"name": "n1", "url": f"ssh://root:{NEEDLES['node URL password']}@10.0.0.1",
                   "addresses": {"storage": "10.0.0.1"}}],
        "clusters": [{
            "name": "etcd", "type": "etcd", "failure_budget": 0,
            "members": [{"name": "m1", "node": "n1",
                         "endpoints": {"client": f"https://u:{NEEDLES['endpoint URL password']}@10.0.0.1:2379"}}],
            "settings": {"ca_bundle": PEM, "embedded": KUBECONFIG},
        }],
    }  # fmt: skip
    path.write_text(yaml.safe_dump(inv))
    return path


def _experiment(path: Path) -> Path:
    arg_pem = f"-----BEGIN EC PRIVATE KEY-----\n{NEEDLES['argument PEM']}\n-----END EC PRIVATE KEY-----"
    exp = {
        "title": "secrets stay out",
        "description": "echo planted secrets through an activity",
        "configuration": {"db_url": {"type": "env", "key": "ECO_DB_URL"}, "auth": {"type": "env", "key": "ECO_AUTH"}},
        "controls": [{"name": "hadrill", "provider": {"type": "python", "module": "hadrill.ctk.control"}}],
        "method": [{
            "type": "action", "name": "echo",
            "provider": {"type": "python", "module": "json", "func": "dumps", "arguments": {"obj": {
                "header": f"Authorization: Bearer {NEEDLES['argument bearer token']}",
                "sa_token": NEEDLES["argument JWT"], "key": arg_pem, "db": "${db_url}", "auth": "${auth}",
            }}},
        }],
    }  # fmt: skip
    path.write_text(yaml.safe_dump(exp))
    return path


def _leaks(root: Path) -> list[str]:
    found = []
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        text = f.read_bytes().decode("utf-8", errors="replace")
        found += [f"{what} in {f.relative_to(root)}" for what, needle in NEEDLES.items() if needle in text]
    return found


def test_planted_secrets_reach_no_journal_report_or_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("HADRILL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("ECO_DB_URL", f"postgresql://app:{NEEDLES['env URL password']}@db:5432/app")
    monkeypatch.setenv("ECO_AUTH", f"Bearer {NEEDLES['env bearer token']}")
    inv = _inventory(tmp_path / "inventory.yaml")
    out = tmp_path / "out"
    caplog.set_level(logging.DEBUG)
    result = run_experiment_file(_experiment(tmp_path / "exp.yaml"), inventory=inv, journal_dir=out / "journals")
    assert result.journal["status"] == "completed", result.journal.get("run")
    # the activity really saw the secrets (else the test proves nothing)
    echoed = result.journal["run"][0]["output"]
    assert NEEDLES["env bearer token"] in echoed and NEEDLES["argument PEM"] in echoed
    render_report(out / "journals", out / "report")
    finding = Finding(
        check_id="HD-PSS-003", target="Pod/p", status="fail", severity="critical", suite="pss",
        observed={"env": f"DB=postgres://a:{NEEDLES['env URL password']}@h", "token": NEEDLES["kubeconfig token"]},
        expected="no secret", message=f"saw Authorization: Bearer {NEEDLES['env bearer token']}",
    )  # fmt: skip
    write_reports([finding], out / "compliance", {"note": KUBECONFIG})
    files = [p for p in out.rglob("*") if p.is_file()]
    assert {"journal.json", "report.json", "report.md", "index.html", "junit.xml", "findings.sarif"} <= {
        p.name for p in files
    }
    assert _leaks(out) == []
    assert [w for w, n in NEEDLES.items() if n in caplog.text] == []
    # what is left stays readable: the host of a URL, the name of the header
    journal = json.loads(next(out.rglob("journal.json")).read_text())
    assert "@10.0.0.1" in json.dumps(journal["hadrill"]["inventory"])
    assert "Authorization: Bearer ***redacted***" in journal["run"][0]["output"]

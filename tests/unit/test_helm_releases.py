"""Helm v3 release Secrets decoded for the pre-upgrade check, on Secrets Helm itself wrote.

The oracle is Helm: ``tests/data/helm_release`` is a tiny Go program that stores a release through
``helm.sh/helm/v3/pkg/storage/driver`` (Helm's default Secret backend, v3.19.0, pinned in its go.mod)
into client-go's fake clientset and prints the Secret as the API would return it. hadrill must get the
exact manifest back and flag, per target version, what the table says by hand below.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from hadrill.helm_releases import (
    decode_release,
    deprecated_api_metric,
    helm_release_checks,
    release_api_findings,
    releases_from_secrets,
)
from hadrill.preflight import Check, lookup

HELPER = Path(__file__).parents[1] / "data" / "helm_release"
MANIFEST = """\
---
# Source: legacy-app/templates/pdb.yaml
apiVersion: policy/v1beta1
kind: PodDisruptionBudget
metadata:
  name: web
spec:
  minAvailable: 1
---
# Source: legacy-app/templates/hpa.yaml
apiVersion: autoscaling/v2beta2
kind: HorizontalPodAutoscaler
metadata:
  name: web
---
# Source: legacy-app/templates/deploy.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
"""


@pytest.fixture(scope="module")
def helm_secret() -> dict[str, Any]:
    from hadrill.errors import HadrillError
    from hadrill.lab.gobuild import go_build_dir

    try:
        binary = go_build_dir(HELPER, "helm-release-secret")
    except HadrillError as e:
        pytest.fail(f"could not build the Helm helper from the Go module proxy: {e}")
    out = subprocess.run([str(binary), "legacy", "shop"], input=MANIFEST, capture_output=True, text=True,
                         timeout=120, check=True).stdout  # fmt: skip
    secret: dict[str, Any] = json.loads(out)
    # client-go's JSON of a Secret carries data as base64, as the API server returns it
    return secret


def test_helm_written_secret_decodes_to_the_release(helm_secret: dict[str, Any]) -> None:
    assert helm_secret["type"] == "helm.sh/release.v1"
    assert helm_secret["metadata"]["labels"]["owner"] == "helm"
    release = decode_release(helm_secret)
    assert release["manifest"] == MANIFEST
    assert release["name"] == "legacy" and release["namespace"] == "shop" and release["version"] == 1


def test_release_findings_by_target_version(helm_secret: dict[str, Any]) -> None:
    releases, problems = releases_from_secrets([helm_secret, {"type": "Opaque", "data": {}}])
    assert problems == [] and [(r.namespace, r.name, r.revision) for r in releases] == [("shop", "legacy", 1)]
    # policy/v1beta1 PDB: deprecated 1.21, removed 1.25; autoscaling/v2beta2 HPA: deprecated 1.23, removed 1.26
    at = {t: [(obj, status) for obj, _, status in release_api_findings(releases[0], t, lookup)]
          for t in ((1, 20), (1, 23), (1, 25), (1, 26))}  # fmt: skip
    assert at[(1, 20)] == []
    assert at[(1, 23)] == [("PodDisruptionBudget web", "deprecated"), ("HorizontalPodAutoscaler web", "deprecated")]
    assert at[(1, 25)] == [("PodDisruptionBudget web", "removed"), ("HorizontalPodAutoscaler web", "deprecated")]
    assert at[(1, 26)] == [("PodDisruptionBudget web", "removed"), ("HorizontalPodAutoscaler web", "removed")]


def test_only_the_deployed_revision_counts_and_bad_secrets_are_named(helm_secret: dict[str, Any]) -> None:
    superseded = json.loads(json.dumps(helm_secret))
    superseded["metadata"]["name"] = "sh.helm.release.v1.legacy.v0"
    rel = decode_release(helm_secret)
    rel["info"]["status"] = "superseded"
    import base64
    import gzip

    superseded["data"]["release"] = base64.b64encode(base64.b64encode(gzip.compress(json.dumps(rel).encode()))).decode()
    broken = {"type": "helm.sh/release.v1", "metadata": {"name": "x", "namespace": "shop"},
              "data": {"release": "bm90IGJhc2U2NA=="}}  # fmt: skip
    releases, problems = releases_from_secrets([superseded, helm_secret, broken])
    assert len(releases) == 1 and releases[0].status == "deployed"
    assert problems and problems[0].startswith("Secret shop/x: ")


class _Api:
    """A stand-in for KubeApi answering the two requests the check makes (logic under test: the verdicts)."""

    def __init__(self, secrets: list[dict[str, Any]], metrics: str) -> None:
        self.secrets, self.metrics, self.selectors = secrets, metrics, []

    def list_all(self, path: str, *, label_selector: str = "", pages: int = 1000) -> list[dict[str, Any]]:
        self.selectors.append((path, label_selector))
        return self.secrets

    def request(self, method: str, path: str, **kw: Any) -> Any:
        assert (method, path) == ("GET", "/metrics")
        return type("R", (), {"text": self.metrics})()


METRICS = "\n".join([
    "# HELP apiserver_requested_deprecated_apis [STABLE] Gauge of deprecated APIs that have been requested",
    "# TYPE apiserver_requested_deprecated_apis gauge",
    'apiserver_requested_deprecated_apis{group="policy",removed_release="1.25",resource="poddisruptionbudgets",'
    'subresource="",version="v1beta1"} 1',
    'apiserver_requested_deprecated_apis{group="",removed_release="",resource="endpoints",subresource="",'
    'version="v1"} 1',
    'apiserver_request_total{code="200"} 5',
])  # fmt: skip


def test_preflight_checks_block_on_a_removed_api_and_list_requested_ones(helm_secret: dict[str, Any]) -> None:
    assert deprecated_api_metric(METRICS) == [
        {"group": "policy", "removed_release": "1.25", "resource": "poddisruptionbudgets", "subresource": "",
         "version": "v1beta1"},
        {"group": "", "removed_release": "", "resource": "endpoints", "subresource": "", "version": "v1"},
    ]  # fmt: skip
    api = _Api([helm_secret], METRICS)
    checks = {c["name"]: Check(**c) for c in helm_release_checks(api, (1, 25), lookup)}
    assert api.selectors == [("/api/v1/secrets", "owner=helm")]
    removed = checks["Helm releases: removed APIs"]
    assert removed.blocking and not removed.ok and len(removed.details) == 1
    assert "shop/legacy" in removed.details[0] and "policy/v1beta1 PodDisruptionBudget" in removed.details[0]
    assert not checks["Helm releases: deprecated APIs"].ok
    requested = checks["deprecated APIs requested"]
    assert not requested.blocking and requested.details == [
        "policy/v1beta1 poddisruptionbudgets (removed in 1.25)", "core/v1 endpoints (removed in ?)",
    ]  # fmt: skip
    clean = {c["name"]: Check(**c) for c in helm_release_checks(_Api([helm_secret], ""), (1, 20), lookup)}
    assert all(c.ok for c in clean.values())

"""The Kubernetes API suites: Pod Security Standards on live pods and templates, workload resilience, backup CronJob.

Thin: the checks are :mod:`hadrill.compliance.kube_workloads`' and :mod:`hadrill.compliance.etcd_backup`'s;
this module runs them once against the inventory's Kubernetes cluster (one LIST per resource kind) and
parametrises over the check ids, so ``pytest compliance/test_kubernetes.py`` and ``hadrill check --suite
pss,workloads,etcd-backup`` give the same findings. Skipped when the inventory has no Kubernetes cluster.
"""

from __future__ import annotations

import pytest

from hadrill.compliance.kube_workloads import kube_cluster
from hadrill.compliance.policy import CompliancePolicy
from hadrill.compliance.registry import Finding, checks_in
from hadrill.compliance.runner import assert_no_failures, gate, run_cluster_suites
from hadrill.compliance.waivers import Waiver
from hadrill.inventory import load_inventory
from hadrill.pytest_plugin import _platform_key

pytestmark = pytest.mark.compliance
SUITES = ("pss", "workloads", "etcd_backup")
IDS = [c.id for s in ("pss", "workloads") for c in checks_in(s)] + ["HD-ETCD-BAK-003", "HD-ETCD-BAK-004"]


@pytest.fixture(scope="session")
def kube_findings(
    pytestconfig: pytest.Config, hadrill_compliance_policy: CompliancePolicy, hadrill_waivers: list[Waiver]
) -> list[Finding]:
    inventory = load_inventory(pytestconfig.stash[_platform_key].inventory_path())
    if kube_cluster(inventory, hadrill_compliance_policy.workloads.cluster) is None:
        pytest.skip("no Kubernetes cluster in the inventory")
    return gate(run_cluster_suites(inventory, hadrill_compliance_policy, SUITES), hadrill_waivers)


@pytest.mark.parametrize("check_id", IDS)
def test_kubernetes(check_id: str, kube_findings: list[Finding], request: pytest.FixtureRequest) -> None:
    mine = [f for f in kube_findings if f.check_id == check_id]
    for f in mine:
        request.node.user_properties.append((f.target, f"{f.status}: {f.observed!r}"))
    if not mine and not check_id.startswith("HD-PSS-"):
        pytest.skip(f"{check_id}: nothing to check (no matching object, or not configured in the policy)")
    assert_no_failures(mine)  # PSS findings are failures only: none means every pod complies

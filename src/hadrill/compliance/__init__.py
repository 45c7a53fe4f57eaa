"""Compliance: prove the platform is configured the way its operators promised.

Checks are library functions (one module per family: ``docker``, ``network``, ``scst``,
``nfs_mounts``, ``pki``, ``etcd_backup``, ``pss``/``pss_scan``), reused by ``hadrill check``
(:mod:`hadrill.compliance.runner`, :mod:`hadrill.cli.check`) and by the testinfra suites in the
repository's ``compliance/`` directory. Every check has an id, a severity, remediation text and a
reference (:mod:`~hadrill.compliance.registry`); findings go through waivers
(:mod:`~hadrill.compliance.waivers`) and the nightly baseline (:mod:`~hadrill.compliance.baseline`)
into JSON, SARIF and JUnit (:mod:`~hadrill.compliance.outputs`).
"""

from __future__ import annotations

from hadrill.compliance import (  # noqa: F401 (register)
    docker,
    etcd_backup,
    kube_workloads,
    network,
    nfs_mounts,
    pki,
    pss_scan,
    scst,
    swarm,
)
from hadrill.compliance.registry import CHECKS, Check, Finding, Verdict, checks_in
from hadrill.compliance.runner import assert_no_failures, run_checks

__all__ = ["CHECKS", "Check", "Finding", "Verdict", "assert_no_failures", "checks_in", "run_checks"]

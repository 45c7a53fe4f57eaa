"""Shared fixtures of the compliance suites: the inventory's nodes as testinfra hosts, the policy, waivers.

Run them against a platform::

    pytest compliance --hadrill-inventory inventory.yaml [--hadrill-policy policy.yaml] [--hadrill-waivers w.yaml]

Each suite module names its suite (``SUITE = "docker"``); its tests are parametrised with the
inventory nodes that suite applies to (by role, and the policy's ``nodes``: the same selection as
``hadrill check``) and with the suite's check ids, so a report reads ``test_docker[node1-HD-DOCKER-001]``.
``host`` is testinfra's host for the node's URL (``docker://``, ``ssh://``, ``local://``...). A suite
with no node to check is skipped, saying which roles it looks for.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import testinfra

from hadrill.compliance.policy import CompliancePolicy, load_policy
from hadrill.compliance.registry import Finding
from hadrill.compliance.runner import assert_no_failures, gate, run_suite_on_node, suite_nodes
from hadrill.compliance.waivers import Waiver, load_waivers
from hadrill.inventory import Inventory, Node, load_inventory
from hadrill.pytest_plugin import _platform_key  # the session's platform: --hadrill-inventory or --hadrill-lab


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("hadrill")
    g.addoption("--hadrill-policy", help="Compliance policy YAML (default: the inventory's compliance: section).")
    g.addoption("--hadrill-waivers", help="Waivers YAML: waived findings pass, expired waivers fail.")


def _platform(config: pytest.Config) -> tuple[Path, Inventory, CompliancePolicy]:
    cached = getattr(config, "_hadrill_compliance", None)
    if cached is None:
        path = config.stash[_platform_key].inventory_path()
        inventory = load_inventory(path)
        policy_file = config.getoption("--hadrill-policy")
        policy = load_policy(Path(policy_file) if policy_file else None, inventory, str(path))
        cached = (path, inventory, policy)
        config._hadrill_compliance = cached  # type: ignore[attr-defined]
    return cached


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "hadrill_node" not in metafunc.fixturenames:
        return
    suite = getattr(metafunc.module, "SUITE", None)
    if suite is None:
        raise pytest.UsageError(f"{metafunc.module.__name__}: a compliance suite module must set SUITE")
    _, inventory, policy = _platform(metafunc.config)
    nodes = suite_nodes(inventory, policy, suite)
    if not nodes:
        roles = "storage networks" if suite == "network" else f"roles {getattr(policy, suite).roles}"
        marks = pytest.mark.skip(reason=f"no inventory node for the {suite} suite ({roles})")
        metafunc.parametrize("hadrill_node", [pytest.param(None, marks=marks)], ids=["no-nodes"], scope="module")
        return
    metafunc.parametrize("hadrill_node", nodes, ids=[n.name for n in nodes], scope="module")


@pytest.fixture(scope="session")
def hadrill_compliance_policy(pytestconfig: pytest.Config) -> CompliancePolicy:
    """The policy in force: hadrill's defaults, the inventory's section, then --hadrill-policy."""
    return _platform(pytestconfig)[2]


@pytest.fixture(scope="session")
def hadrill_waivers(pytestconfig: pytest.Config) -> list[Waiver]:
    path = pytestconfig.getoption("--hadrill-waivers")
    return load_waivers(Path(path)) if path else []


@pytest.fixture(scope="module")
def host(hadrill_node: Node) -> Any:
    """testinfra's host for the node under test (overrides testinfra's --hosts parametrisation)."""
    return testinfra.get_host(hadrill_node.url)


@pytest.fixture(scope="module")
def suite_findings(
    request: pytest.FixtureRequest, host: Any, hadrill_node: Node, hadrill_waivers: list[Waiver]
) -> Iterator[list[Finding]]:
    """Every finding of the module's suite on this node, checked once, waivers applied."""
    _, inventory, policy = _platform(request.config)
    yield gate(run_suite_on_node(request.module.SUITE, host, hadrill_node, inventory, policy), hadrill_waivers)


@pytest.fixture
def assert_check(request: pytest.FixtureRequest, suite_findings: list[Finding]) -> Any:
    """``assert_check("HD-DOCKER-001")``: that check's findings on this node must not fail."""

    def check(check_id: str) -> None:
        __tracebackhide__ = True
        mine = [f for f in suite_findings if f.check_id == check_id]
        for f in mine:
            request.node.user_properties.append((f"{f.object or f.target}", f"{f.status}: {f.observed!r}"))
        if not mine:
            pytest.skip(f"{check_id}: nothing to check on this node")
        assert_no_failures(mine)

    return check

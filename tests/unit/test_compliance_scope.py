"""A suite asked for that matched no node is an empty scope: its own exit code, naming the roles."""

from __future__ import annotations

from pathlib import Path

from hadrill.compliance.policy import load_policy
from hadrill.compliance.registry import Finding
from hadrill.compliance.runner import EMPTY_SCOPE, empty_scopes, exit_code
from hadrill.inventory import Inventory, Node

INV = Inventory(platform="p", nodes=[Node(name="web-1", url="docker://web-1", roles=["docker-host"])])


def test_a_role_typo_is_an_empty_scope_not_a_green_suite(tmp_path: Path) -> None:
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text("compliance:\n  docker: {roles: [docker-hots]}\n", encoding="utf-8")
    policy = load_policy(policy_file, INV)
    assert empty_scopes(INV, policy, ["docker"]) == ["suite docker: roles [docker-hots] matched no node"]
    assert exit_code([], empty_scopes(INV, policy, ["docker"])) == EMPTY_SCOPE == 4


def test_default_suites_not_asked_for_are_not_flagged() -> None:
    policy = load_policy(None, INV)
    # scst (roles scst, iscsi-target) matches nothing here, but nobody asked for it: not an empty scope
    assert empty_scopes(INV, policy, ["docker", "scst"]) == []
    # named with --suite: it is
    assert empty_scopes(INV, policy, ["scst"], named=["scst"]) == [
        "suite scst: roles [scst, iscsi-target] matched no node"
    ]


def test_a_failing_finding_still_exits_1() -> None:
    failing = Finding(check_id="HD-X-1", target="web-1", status="fail", message="m")
    assert exit_code([failing], ["suite scst: roles [scst] matched no node"]) == 1
    assert exit_code([], []) == 0

"""Waivers: matching by check and selector, waived findings reported as waived, expired ones failing."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from hadrill.compliance.registry import Finding
from hadrill.compliance.runner import exit_code, gate
from hadrill.compliance.waivers import apply_waivers, load_waivers, parse_waivers
from hadrill.errors import ConfigError

TODAY = date(2026, 6, 15)
WAIVERS = """\
api_version: hadrill/v1
kind: Waivers
waivers:
  - check: HD-DOCKER-001
    selector: {host: "etcd-*"}
    owner: platform-team@example.com
    reason: userns-remap breaks the storage driver here; vendor fix due
    expires: 2026-12-31
  - check: HD-PSS-*
    selector: {namespace: monitoring, object: DaemonSet/node-exporter}
    owner: sre@example.com
    reason: node-exporter needs the host's network namespace
    expires: 2026-06-15
  - check: HD-NET-001
    owner: neteng@example.com
    reason: switch replacement scheduled
    expires: 2026-01-31
"""


def fail(check: str, target: str, **kw: object) -> Finding:
    return Finding(check_id=check, target=target, status="fail", message="broken", **kw)  # type: ignore[arg-type]


def test_a_live_waiver_turns_a_failure_into_waived_and_says_by_whom() -> None:
    waivers = parse_waivers(WAIVERS, "waivers.yaml")
    out = apply_waivers([fail("HD-DOCKER-001", "etcd-1"), fail("HD-DOCKER-001", "web-1")], waivers, TODAY)
    assert [f.status for f in out] == ["waived", "fail"]
    assert out[0].waiver == {"owner": "platform-team@example.com", "reason": waivers[0].reason,
                             "expires": "2026-12-31", "expired": False}  # fmt: skip
    assert "waived by platform-team@example.com until 2026-12-31" in out[0].message
    assert exit_code(out) == 1  # web-1 still fails


def test_selectors_match_namespace_and_object_with_globs_and_the_expiry_day_still_counts() -> None:
    waivers = parse_waivers(WAIVERS)
    ds = fail(
        "HD-PSS-002", "DaemonSet/monitoring/node-exporter", namespace="monitoring", object="DaemonSet/node-exporter"
    )
    other_ns = fail("HD-PSS-002", "DaemonSet/kube-system/node-exporter", namespace="kube-system",
                    object="DaemonSet/node-exporter")  # fmt: skip
    out = apply_waivers([ds, other_ns], waivers, TODAY)
    assert [f.status for f in out] == ["waived", "fail"]
    assert apply_waivers([ds], waivers, date(2026, 6, 16))[0].status == "fail"


def test_an_expired_waiver_fails_and_says_so() -> None:
    (out,) = apply_waivers([fail("HD-NET-001", "nfs-1", object="storage:eth1")], parse_waivers(WAIVERS), TODAY)
    assert out.status == "fail"
    assert out.waiver is not None and out.waiver["expired"] is True
    assert "EXPIRED on 2026-01-31" in out.message and "neteng@example.com" in out.message
    assert exit_code([out]) == 1


def test_passing_and_erroring_findings_are_left_alone() -> None:
    passing = Finding(check_id="HD-NET-001", target="n", status="pass")
    error = Finding(check_id="HD-NET-001", target="n", status="error", message="unreachable")
    assert apply_waivers([passing, error], parse_waivers(WAIVERS), TODAY) == [passing, error]
    assert exit_code([passing, error]) == 3


def test_gate_applies_waivers_before_the_baseline() -> None:
    f = fail("HD-DOCKER-001", "etcd-1")
    (out,) = gate([f], parse_waivers(WAIVERS), {f.fingerprint}, TODAY)
    assert out.status == "waived" and not out.baselined and exit_code([out]) == 0


@pytest.mark.parametrize(
    ("text", "field", "expected"),
    [
        ("waivers:\n  - {check: X, owner: o, reason: r}\n", "waivers[0].expires", "present"),
        ("waivers:\n  - {check: X, owner: o, reason: r, expires: soon}\n", "waivers[0].expires", "date"),
        ("waivers:\n  - {check: X, owner: '  ', reason: r, expires: 2026-01-01}\n", "waivers[0].owner", "non-empty"),
        ("waivers:\n  - {check: X, owner: o, reason: r, expires: 2026-01-01, selector: {pod: x}}\n",
         "waivers[0].selector.pod", "no such field"),
        ("kind: Waiver\n", "kind", "Waivers"),
        ("waivers: [\n", "line 2", "valid YAML"),
    ],
)  # fmt: skip
def test_mistakes_name_the_file_and_the_field(text: str, field: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_waivers(text, "waivers.yaml")
    assert info.value.file == "waivers.yaml"
    assert info.value.field == field
    assert expected in str(info.value)


def test_loading_a_missing_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_waivers(tmp_path / "nope.yaml")
    assert info.value.file.endswith("nope.yaml")

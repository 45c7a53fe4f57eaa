"""hadrill's Pod Security Standards agree with pod-security-admission's own test fixtures.

The oracle is upstream: ``test/testdata/{baseline,restricted}/v1.N/{pass,fail}/*.yaml`` of the Go
module ``k8s.io/pod-security-admission`` at the version hadrill's policy mirrors (v0.34.x), fetched
through the Go module proxy (``go mod download``, checksum-verified) and kept in hadrill's cache. Each
fixture is judged at its own policy version, through the same code ``hadrill check --manifests`` uses.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hadrill.compliance.pss_scan import scan_objects
from hadrill.compliance.pss_versions import LATEST, parse_version

PSA_MODULE, PSA_VERSION = "k8s.io/pod-security-admission", "v0.34.4"
VERSIONS = [f"v1.{n}" for n in range(LATEST[1] + 1)]


@pytest.fixture(scope="module")
def testdata() -> Path:
    from hadrill.lab.gobuild import module_source

    root = module_source(PSA_MODULE, PSA_VERSION) / "test" / "testdata"
    assert (root / "restricted" / "v1.34" / "pass").is_dir(), f"no fixtures under {root}"
    return root


@pytest.mark.parametrize("level", ["baseline", "restricted"])
@pytest.mark.parametrize("version", VERSIONS)
def test_every_upstream_fixture_gets_the_upstream_verdict(testdata: Path, level: str, version: str) -> None:
    wrong, seen = [], 0
    for verdict in ("pass", "fail"):
        for path in sorted((testdata / level / version / verdict).glob("*.yaml")):
            seen += 1
            findings = scan_objects([yaml.safe_load(path.read_text())], level=level, version=parse_version(version))
            if bool(findings) != (verdict == "fail"):
                wrong.append(f"{verdict}/{path.name}: {[f.message for f in findings] or 'allowed'}")
    assert seen, f"no fixtures for {level} {version}"
    assert not wrong, f"{level} {version}: {len(wrong)} of {seen} fixtures judged wrongly:\n" + "\n".join(wrong)


def _check(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "HADRILL_INVENTORY"}
    env["HADRILL_STATE_DIR"] = str(tmp_path / "empty-state")  # no lab, no inventory here
    hadrill = Path(sys.executable).with_name("hadrill")
    return subprocess.run(
        [str(hadrill), "check", *args, "--out", str(tmp_path / "out")], env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip


def test_check_manifests_needs_no_inventory_and_agrees_with_upstream(testdata: Path, tmp_path: Path) -> None:
    """``hadrill check --manifests DIR`` on a machine with no lab: exit 0 on upstream's restricted pass
    fixtures, exit 1 with one failing pod per fail fixture."""
    passing = _check(["--manifests", str(testdata / "restricted" / "v1.34" / "pass")], tmp_path)
    assert passing.returncode == 0, passing.stdout[-1500:] + passing.stderr[-1500:]
    fail_dir = testdata / "restricted" / "v1.34" / "fail"
    failing = _check(["--manifests", str(fail_dir)], tmp_path)
    assert failing.returncode == 1, failing.stdout[-1500:] + failing.stderr[-1500:]
    import json

    found = json.loads((tmp_path / "out" / "findings.json").read_text())
    failed_files = {Path(f["file"]).name for f in found["findings"] if f["status"] == "fail"}
    assert failed_files == {p.name for p in fail_dir.glob("*.yaml")}


def test_pss_version_judges_at_the_target_version(testdata: Path, tmp_path: Path) -> None:
    """A sysctl allowed from 1.32 (net.ipv4.tcp_rmem): fine at 1.34, refused when judged at 1.31."""
    fixture = testdata / "baseline" / "v1.32" / "pass"
    allowed_from_1_32 = [
        p for p in fixture.glob("sysctls*.yaml") if "tcp_rmem" in p.read_text() or "tcp_wmem" in p.read_text()
    ]
    assert allowed_from_1_32, "upstream has a 1.32 sysctls fixture with tcp_rmem/tcp_wmem"
    target = allowed_from_1_32[0]
    at_134 = _check(["--manifests", str(target), "--pss-level", "baseline"], tmp_path)
    assert at_134.returncode == 0, at_134.stdout[-1500:] + at_134.stderr[-1500:]
    at_131 = _check(["--manifests", str(target), "--pss-level", "baseline", "--pss-version", "1.31"], tmp_path)
    assert at_131.returncode == 1, at_131.stdout[-1500:] + at_131.stderr[-1500:]
    bad = _check(["--manifests", str(target), "--pss-version", "1.99"], tmp_path)
    assert bad.returncode == 2 and "--pss-version" in bad.stderr

"""The host checks' pure parts: dockerd flags and settings, MTU facts, certificates, snapshots, policies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hadrill.clients.nodes import FileStat, parse_stat_line
from hadrill.clients.targets import Result
from hadrill.compliance.docker import DaemonFacts, parse_dockerd_args
from hadrill.compliance.etcd_backup import BackupFacts
from hadrill.compliance.network import LinkFacts, ProbeFacts, _links
from hadrill.compliance.pki import CertFacts, parse_certificate
from hadrill.compliance.policy import CompliancePolicy, DockerPolicy, load_policy, select_nodes
from hadrill.compliance.registry import CHECKS, Verdict, checks_in, register
from hadrill.compliance.runner import parse_suites, suite_nodes
from hadrill.errors import ConfigError
from hadrill.inventory import Inventory


# -- docker ------------------------------------------------------------------------------------------
def test_dockerd_flags_in_every_spelling() -> None:
    argv = ["dockerd", "-H", "unix:///tmp/d.sock", "--icc=false", "--live-restore", "--userns-remap", "default",
            "--no-new-privileges", "--userland-proxy=false", "-D", "-bnone", "--log-driver", "syslog",
            "--data-root=/srv/docker"]  # fmt: skip
    assert parse_dockerd_args(argv) == {
        "host": "unix:///tmp/d.sock", "icc": "false", "live-restore": "true", "userns-remap": "default",
        "no-new-privileges": "true", "userland-proxy": "false", "debug": "true", "bridge": "none",
        "log-driver": "syslog", "data-root": "/srv/docker",
    }  # fmt: skip


def daemon(config: dict[str, Any] | None = None, flags: dict[str, str] | None = None, **info: Any) -> DaemonFacts:
    base = {"ID": "x", "SecurityOptions": ["name=seccomp,profile=default"], "LiveRestoreEnabled": False,
            "LoggingDriver": "json-file"}  # fmt: skip
    return DaemonFacts("n", DockerPolicy(), "/etc/docker/daemon.json", config, None, flags or {}, {**base, **info})


def verdicts(d: DaemonFacts) -> dict[str, bool]:
    return {c.id: c.evaluate("n", d)[0].status == "pass" for c in checks_in("docker")}


def test_an_unconfigured_daemon_fails_the_settings_and_passes_the_absent_file() -> None:
    passing = {k for k, ok in verdicts(daemon()).items() if ok}
    assert passing == {"HD-DOCKER-006", "HD-DOCKER-007", "HD-DOCKER-008"}


def test_settings_from_daemon_json_or_flags_and_userns_must_be_in_effect() -> None:
    config = {"userns-remap": "default", "icc": False, "live-restore": True, "no-new-privileges": True,
              "userland-proxy": False}  # fmt: skip
    hardened = daemon(config, SecurityOptions=["name=seccomp,profile=default", "name=userns"], LiveRestoreEnabled=True)
    assert all(verdicts(hardened).values())
    flags = {"userns-remap": "default", "icc": "false", "no-new-privileges": "true", "userland-proxy": "false"}
    by_flags = daemon(None, flags, SecurityOptions=["name=userns"], LiveRestoreEnabled=True)
    assert all(verdicts(by_flags).values())
    configured_only = daemon(config, LiveRestoreEnabled=True)  # set in the file, not in effect (not restarted)
    f = CHECKS["HD-DOCKER-001"].evaluate("n", configured_only)[0]
    assert f.status == "fail" and "does not report name=userns" in f.message
    assert f.observed == {"configured": "default", "source": "daemon.json", "daemon_reports_userns": False}


def test_the_live_daemon_wins_for_live_restore_and_remote_logging_is_by_policy() -> None:
    d = daemon({"live-restore": True}, LiveRestoreEnabled=False)
    assert CHECKS["HD-DOCKER-003"].evaluate("n", d)[0].status == "fail"
    required = DaemonFacts("n", DockerPolicy(remote_log_required=True), "/d.json", None, None, {},
                           {"ID": "x", "LoggingDriver": "json-file"})  # fmt: skip
    assert CHECKS["HD-DOCKER-006"].evaluate("n", required)[0].status == "fail"
    syslog = DaemonFacts("n", DockerPolicy(remote_log_required=True), "/d.json", None, None, {},
                         {"ID": "x", "LoggingDriver": "syslog"})  # fmt: skip
    assert CHECKS["HD-DOCKER-006"].evaluate("n", syslog)[0].status == "pass"


@pytest.mark.parametrize(
    ("mode", "uid", "owner_ok", "mode_ok"),
    [(0o644, 0, True, True), (0o600, 0, True, True), (0o666, 0, True, False), (0o644, 1000, False, True)],
)
def test_daemon_json_owner_and_mode(mode: int, uid: int, owner_ok: bool, mode_ok: bool) -> None:
    st = FileStat("/etc/docker/daemon.json", mode, uid, "root" if uid == 0 else "dev", 10, 0.0)
    d = DaemonFacts("n", DockerPolicy(), st.path, {}, st, {}, {"ID": "x"})
    assert CHECKS["HD-DOCKER-007"].evaluate("n", d)[0].status == ("pass" if owner_ok else "fail")
    assert CHECKS["HD-DOCKER-008"].evaluate("n", d)[0].status == ("pass" if mode_ok else "fail")


# -- network -------------------------------------------------------------------------------------------
class FakeNode:
    url = "docker://fake"

    def __init__(self, stdout: str, rc: int = 0) -> None:
        self.stdout, self.rc = stdout, rc

    def run(self, command: str, *, timeout: float = 30.0) -> Result:
        return Result(self.rc, self.stdout, "")


IP_OUTPUT = """\
1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever
48: eth0    inet 10.213.4.11/24 brd 10.213.4.255 scope global eth0\\       valid_lft forever preferred_lft forever
50: eth1    inet 10.213.5.11/24 brd 10.213.5.255 scope global eth1\\       valid_lft forever preferred_lft forever
----
1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN mode DEFAULT group default qlen 1000
48: eth0@if49: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default
50: eth1@if51: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 9000 qdisc noqueue state UP mode DEFAULT group default
"""


def test_interfaces_are_found_by_address_whatever_their_name() -> None:
    assert _links(FakeNode(IP_OUTPUT)) == {"127.0.0.1": ("lo", 65536), "10.213.4.11": ("eth0", 1500),
                                           "10.213.5.11": ("eth1", 9000)}  # fmt: skip


def test_mtu_and_probe_verdicts() -> None:
    ok = CHECKS["HD-NET-001"].evaluate("n1", LinkFacts("storage", "10.213.5.11", 9000, "eth1", 9000))[0]
    low = CHECKS["HD-NET-001"].evaluate("n1", LinkFacts("storage", "10.213.5.11", 9000, "eth1", 1500))[0]
    missing = CHECKS["HD-NET-001"].evaluate("n1", LinkFacts("storage", "10.213.5.11", 9000, None, None))[0]
    assert (ok.status, low.status, missing.status) == ("pass", "fail", "fail")
    assert (low.observed, low.expected, low.object) == (1500, 9000, "storage:eth1")
    probe = ProbeFacts("storage", "n2", "10.213.5.12", 8972, "ping -M do", False, "local error: message too long")
    f = CHECKS["HD-NET-002"].evaluate("n1", probe)[0]
    assert f.status == "fail" and "8972-byte" in f.message and f.object == "storage: to n2"


# -- PKI -----------------------------------------------------------------------------------------------
def pem_certificate(days: int) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(1).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_certificate_expiry_against_the_window() -> None:
    now = datetime.now(UTC)
    for days, status in ((365, "pass"), (10, "fail")):
        not_after, subject = parse_certificate("junk before\n" + pem_certificate(days))
        assert subject == "CN=kube-apiserver"
        f = CHECKS["HD-PKI-003"].evaluate("cp", CertFacts("/pki/apiserver.crt", not_after, subject, 30, now))[0]
        assert f.status == status and "days left" in str(f.observed)
    with pytest.raises(ValueError):
        parse_certificate("not a certificate")


@pytest.mark.parametrize(
    ("line", "key_ok", "ca_ok"),
    [("600|0|root|1|0|/p/ca.key", True, True), ("640|0|root|1|0|/p/ca.key", False, True),
     ("644|0|root|1|0|/p/ca.crt", False, True), ("664|0|root|1|0|/p/ca.crt", False, False),
     ("400|1000|kube|1|0|/p/sa.key", False, False)],
)  # fmt: skip
def test_key_and_ca_modes_and_owners(line: str, key_ok: bool, ca_ok: bool) -> None:
    st = parse_stat_line(line)
    assert (CHECKS["HD-PKI-001"].evaluate("cp", st)[0].status == "pass") is key_ok
    assert (CHECKS["HD-PKI-002"].evaluate("cp", st)[0].status == "pass") is ca_ok


# -- etcd backups -------------------------------------------------------------------------------------------
def test_snapshot_age_and_status_verdicts() -> None:
    snap = FileStat("/var/backups/etcd/snap.db", 0o600, 0, "root", 20480, 1_000_000.0)
    fresh = BackupFacts("/var/backups/etcd", snap, 1_000_000.0 + 3600, 25, {"hash": 1, "revision": 9, "totalKey": 4,
                        "totalSize": 20480}, "", "etcdctl")  # fmt: skip
    old = BackupFacts("/var/backups/etcd", snap, 1_000_000.0 + 26 * 3600, 25, None, "snapshot file invalid", "etcdutl")
    none = BackupFacts("/var/backups/etcd", None, 0, 25)
    age, status = CHECKS["HD-ETCD-BAK-001"], CHECKS["HD-ETCD-BAK-002"]
    assert [age.evaluate("e", f)[0].status for f in (fresh, old, none)] == ["pass", "fail", "fail"]
    assert [status.evaluate("e", f)[0].status for f in (fresh, old, none)] == ["pass", "fail", "fail"]
    assert age.evaluate("e", old)[0].observed == "26.0 h old"


# -- policy, selection, registry -----------------------------------------------------------------------------
INVENTORY = Inventory.model_validate(
    {
        "platform": "p",
        "networks": [{"name": "storage", "subnet": "10.0.5.0/24", "storage": True, "mtu": 9000},
                     {"name": "mgmt", "subnet": "10.0.4.0/24"}],
        "nodes": [
            {"name": "dh1", "url": "ssh://root@10.0.4.1", "roles": ["docker-host"], "addresses": {"mgmt": "10.0.4.1"}},
            {"name": "san1", "url": "ssh://root@10.0.4.2", "roles": ["iscsi-target"],
             "addresses": {"mgmt": "10.0.4.2", "storage": "10.0.5.2"}},
            {"name": "cp1", "url": "ssh://root@10.0.4.3", "roles": ["control-plane", "etcd"],
             "addresses": {"storage": "10.0.5.3"}},
        ],
        "compliance": {"pki": {"min_days": 60}, "etcd_backup": {"nodes": ["cp1"]}},
    }
)  # fmt: skip


def test_suites_pick_nodes_by_role_name_and_storage_network(tmp_path: Path) -> None:
    policy = load_policy(None, INVENTORY, "inv.yaml")
    assert policy.pki.min_days == 60 and policy.pki.dir == "/etc/kubernetes/pki"
    names = {s: [n.name for n in suite_nodes(INVENTORY, policy, s)] for s in parse_suites("")}
    assert names == {"docker": ["dh1"], "network": ["san1", "cp1"], "scst": ["san1"], "nfs_mounts": [],
                     "pki": ["cp1"], "etcd_backup": ["cp1"], "swarm": []}  # fmt: skip
    file = tmp_path / "policy.yaml"
    file.write_text("compliance:\n  pki: {roles: []}\n  docker: {nodes: [san1]}\n")
    policy = load_policy(file, INVENTORY, "inv.yaml")
    assert policy.pki.min_days == 60 and policy.pki.roles == []  # merged suite by suite, the file wins
    assert [n.name for n in select_nodes(INVENTORY, policy.docker, "docker")] == ["dh1", "san1"]


@pytest.mark.parametrize(
    ("text", "field"),
    [("compliance:\n  pki: {min_days: soon}\n", "compliance.pki.min_days"),
     ("compliance:\n  dockr: {}\n", "compliance.dockr"),
     ("compliance:\n  nfs_mounts: {preset: vers4}\n", "compliance.nfs_mounts.preset"),
     ("kind: Policy\n", "kind")],
)  # fmt: skip
def test_policy_mistakes_name_the_file_and_the_field(tmp_path: Path, text: str, field: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_policy(path, INVENTORY)
    assert (info.value.file, info.value.field) == (str(path), field)


def test_unknown_nodes_and_suites_are_bad_input() -> None:
    policy = CompliancePolicy.model_validate({"scst": {"nodes": ["ghost"]}})
    with pytest.raises(ConfigError, match=r"compliance\.scst\.nodes"):
        suite_nodes(INVENTORY, policy, "scst")
    with pytest.raises(ConfigError, match="one of docker, network"):
        parse_suites("docker,mtu")
    assert parse_suites("nfs-mounts, pki") == ["nfs_mounts", "pki"]


def test_check_ids_are_unique_and_every_check_is_complete() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        register("HD-DOCKER-001", suite="docker", title="t", severity="low", remediation="r", reference="x")(
            lambda d: d
        )
    with pytest.raises(ValueError, match="severity"):
        register("HD-X-1", suite="x", title="t", severity="urgent", remediation="r", reference="x")  # type: ignore[arg-type]
    for chk in CHECKS.values():
        assert chk.id.startswith("HD-") and chk.title and chk.remediation and chk.reference
    assert CHECKS["HD-DOCKER-002"].evaluate("n", daemon())[0].severity == "medium"
    assert CHECKS["HD-NET-001"].finding("n", Verdict(True, 1, 1)).status == "pass"

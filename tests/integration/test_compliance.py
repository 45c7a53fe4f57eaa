"""Compliance checks against real targets: two real Docker daemons, real networks, files in lab containers.

Every family gets a passing and a failing case on real objects, and each suite is run three ways on the
same hand-written inventory (the library, ``hadrill check``, and ``pytest compliance/test_*.py``), which
must agree finding by finding. Lab objects are named ``hdt-<worker>-comp...`` with owner ``pytest`` and
removed at the end; the second Docker daemon runs in its own network and mount namespaces, on its own
socket, data root and exec root, and is stopped in ``finally``. Traffic: lab containers, their network
namespaces and loopback only.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hadrill.clients.targets import Result, target
from hadrill.compliance.docker import check_docker
from hadrill.compliance.etcd_backup import check_etcd_backup
from hadrill.compliance.network import check_storage_networks
from hadrill.compliance.nfs_mounts import check_nfs_mounts
from hadrill.compliance.pki import check_pki
from hadrill.compliance.policy import DockerPolicy, EtcdBackupPolicy, NfsMountPolicy, PkiPolicy, ScstPolicy
from hadrill.compliance.registry import Finding
from hadrill.compliance.scst import check_scst
from hadrill.inventory import Inventory
from hadrill.lab.etcd import ETCD_IMAGE
from hadrill.lab.images import ensure_image
from hadrill.lab.lab import Lab
from hadrill.lab.labfile import parse_lab_data

pytestmark = [pytest.mark.lab, pytest.mark.compliance]

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
ROOT = Path(__file__).resolve().parents[2]
HADRILL = Path(sys.executable).parent / "hadrill"
SUBPROCESS_TIMEOUT = 300.0


# -- helpers ---------------------------------------------------------------------------------------------
def small_lab(client: docker.DockerClient, purpose: str, *, storage_mtu: int | None = None) -> Lab:
    """A lab with no service: just its labelled networks, for hand-placed containers."""
    name = f"hdt-{WORKER}-{purpose}"
    assert len(name) <= 24, name
    network: dict[str, Any] = {"storage_mtu": storage_mtu} if storage_mtu else {}
    spec = parse_lab_data({"name": name, "etcd": None, "network": network}, f"<test lab {purpose}>")
    lab = Lab(spec, owner="pytest", client=client)
    lab.down()
    lab.ctx.ensure_network()
    if storage_mtu:
        lab.ctx.ensure_network(storage=True)
    return lab


def sleeper(lab: Lab, suffix: str, offset: int, image: str, storage: bool = False) -> tuple[str, str, str | None]:
    """A container that only sleeps, from the lab's etcd image; (name, address, storage address)."""
    name = f"{lab.name}-{suffix}"
    ctx = lab.ctx
    networks = {ctx.storage_network_name: ctx.ip(offset, ctx.storage_network_name)} if storage else {}
    ctx.ensure_container(
        name, image, "compliance", ctx.ip(offset), command=["sleep", "infinity"], init=True, networks=networks
    )
    return name, ctx.ip(offset), networks.get(ctx.storage_network_name)


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def failing_by_check(findings: list[Finding]) -> dict[tuple[str, str], bool]:
    """(node, check id) → any failing finding: the granularity pytest reports at."""
    out: dict[tuple[str, str], bool] = {}
    for f in findings:
        key = (f.target, f.check_id)
        out[key] = out.get(key, False) or f.failing
    return out


def run_cli(suite: str, inventory: Path, policy: Path, out: Path, *extra: str) -> tuple[int, list[dict[str, Any]]]:
    proc = subprocess.run(
        [
            str(HADRILL),
            "check",
            "--inventory",
            str(inventory),
            "--policy",
            str(policy),
            "--suite",
            suite,
            "--out",
            str(out),
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        cwd=ROOT,
    )
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    return proc.returncode, json.loads((out / "findings.json").read_text())["findings"]


def run_pytest_suite(module: str, inventory: Path, policy: Path, junit: Path) -> dict[tuple[str, str], str]:
    """Run ``compliance/<module>`` with pytest; (node, check id) → passed / failed / skipped."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            f"compliance/{module}",
            "--hadrill-inventory",
            str(inventory),
            "--hadrill-policy",
            str(policy),
            "--junitxml",
            str(junit),
            "-p",
            "no:cacheprovider",
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        cwd=ROOT,
    )
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-2000:]
    (junit.parent / "pytest.out").write_text(proc.stdout + proc.stderr)  # kept for the failure report
    outcomes = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        m = re.search(r"\[(.+)-(HD-[A-Z-]+-\d+)\]$", case.get("name", ""))
        assert m, case.get("name")
        state = (
            "failed"
            if case.find("failure") is not None or case.find("error") is not None
            else ("skipped" if case.find("skipped") is not None else "passed")
        )
        outcomes[(m.group(1), m.group(2))] = state
    return outcomes


def assert_three_ways_agree(
    suite: str, module: str, findings: list[Finding], inventory: Path, policy: Path, tmp: Path
) -> None:
    """The library's findings, ``hadrill check`` and ``pytest compliance/...`` give the same verdicts."""
    rc, cli = run_cli(suite, inventory, policy, tmp / "cli")
    lib = {(f.check_id, f.target, f.object, f.status) for f in findings}
    assert {(f["check_id"], f["target"], f["object"], f["status"]) for f in cli} == lib
    assert rc == (1 if any(f.failing for f in findings) else 0)
    by_check = failing_by_check(findings)
    outcomes = run_pytest_suite(module, inventory, policy, tmp / "junit.xml")
    ran = {k: v for k, v in outcomes.items() if v != "skipped"}
    assert set(ran) == set(by_check), (ran, by_check)
    assert {k: v == "failed" for k, v in ran.items()} == by_check


@pytest.fixture(scope="module")
def engine() -> docker.DockerClient:
    return docker.from_env(timeout=120)


@pytest.fixture(scope="module")
def etcd_image(engine: docker.DockerClient) -> str:
    return ensure_image(engine, ETCD_IMAGE)


@pytest.fixture(scope="module")
def file_hosts(engine: docker.DockerClient, etcd_image: str) -> Iterator[dict[str, str]]:
    """Two plain containers (good, bad) to carry configuration files."""
    lab = small_lab(engine, "comp-files")
    try:
        yield {kind: sleeper(lab, kind, off, etcd_image)[0] for kind, off in (("good", 41), ("bad", 42))}
    finally:
        lab.down()


def host_inventory(hosts: dict[str, str], role: str) -> dict[str, Any]:
    return {
        "api_version": "hadrill/v1",
        "kind": "Inventory",
        "platform": "compliance-test",
        "nodes": [{"name": kind, "url": f"docker://{c}", "roles": [role]} for kind, c in hosts.items()],
    }


# -- Docker ------------------------------------------------------------------------------------------------
@pytest.fixture
def hardened_dockerd() -> Iterator[dict[str, str]]:
    """A second dockerd, hardened, in its own network and mount namespaces: it touches nothing of the main
    engine (no bridge, no iptables of the host: --icc=false needs iptables, so they live in its netns)."""
    if shutil.which("unshare") is None or shutil.which("dockerd") is None:
        pytest.fail("the hardened-daemon test needs unshare (util-linux) and dockerd (docker.io)")
    tag = f"hdt-{WORKER}-compd"
    d = Path(tempfile.mkdtemp(prefix=f"{tag}-", dir="/tmp"))
    d.chmod(0o711)  # the remapped root must traverse to its data root
    config = d / "daemon.json"
    config.write_text(json.dumps({"log-driver": "syslog", "log-opts": {"syslog-address": "udp://127.0.0.1:514"}}))
    config.chmod(0o644)
    sock, pidfile = d / "docker.sock", d / "docker.pid"
    cmd = [
        "unshare",
        "--net",
        "--mount",
        "--propagation",
        "private",
        "dockerd",
        "--config-file",
        str(config),
        "-H",
        f"unix://{sock}",
        "--data-root",
        str(d / "data"),
        "--exec-root",
        str(d / "exec"),
        "--pidfile",
        str(pidfile),
        "--bridge=none",
        "--userns-remap=default",
        "--icc=false",
        "--live-restore",
        "--no-new-privileges",
        "--userland-proxy=false",
        "--storage-driver",
        "vfs",
        "--containerd-namespace",
        tag,
        "--containerd-plugins-namespace",
        f"{tag}-plugins",
    ]
    log = (d / "dockerd.log").open("w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    children: list[int] = []
    try:
        deadline = time.monotonic() + 90
        for _ in range(400):
            try:
                docker.DockerClient(base_url=f"unix://{sock}", timeout=10).ping()
                break
            except docker.errors.DockerException:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"hardened dockerd did not start: {(d / 'dockerd.log').read_text()[-2000:]}")
                time.sleep(0.25)
        children = [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
        yield {"daemon_json": str(config), "docker_host": f"unix://{sock}", "pidfile": str(pidfile)}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        for pid in children:  # its containerd, if it outlived dockerd
            try:
                if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"containerd"):
                    os.kill(pid, signal.SIGKILL)
            except (FileNotFoundError, ProcessLookupError):
                pass
        log.close()
        shutil.rmtree(d, ignore_errors=True)


class _NoDockerCli:
    """The local node as if the docker CLI were not installed (the check falls back to the Docker SDK)."""

    url = "local://"

    def run(self, command: str, *, timeout: float = 30.0) -> Result:
        if command.startswith("docker"):
            return Result(127, "", "sh: docker: not found")
        return target("local://").run(command, timeout=timeout)


def test_docker_checks_fail_on_the_lab_engine_and_pass_on_a_hardened_daemon(
    hardened_dockerd: dict[str, str], tmp_path: Path
) -> None:
    lab_engine = {f.check_id: f for f in check_docker("local://", DockerPolicy(remote_log_required=True), name="lab")}
    assert lab_engine["HD-DOCKER-001"].status == "fail", lab_engine["HD-DOCKER-001"]
    assert lab_engine["HD-DOCKER-001"].observed["daemon_reports_userns"] is False
    assert all(f.status != "error" for f in lab_engine.values()), lab_engine

    policy = DockerPolicy(remote_log_required=True, **hardened_dockerd)
    hardened = {f.check_id: f for f in check_docker("local://", policy, name="hardened")}
    assert {k: f.status for k, f in hardened.items()} == {k: "pass" for k in lab_engine}, hardened
    assert hardened["HD-DOCKER-001"].observed == {
        "configured": "default",
        "source": "command line",
        "daemon_reports_userns": True,
    }
    assert hardened["HD-DOCKER-006"].observed == "syslog"

    no_cli = check_docker(_NoDockerCli(), policy, name="hardened")  # the Docker SDK reads the same daemon
    assert {f.check_id: f.status for f in no_cli} == {k: f.status for k, f in hardened.items()}

    inventory = write_yaml(
        tmp_path / "inv.yaml",
        {"platform": "docker-test", "nodes": [{"name": "hardened", "url": "local://", "roles": ["docker-host"]}]},
    )
    pol = write_yaml(
        tmp_path / "policy.yaml", {"compliance": {"docker": {"remote_log_required": True, **hardened_dockerd}}}
    )
    assert_three_ways_agree("docker", "test_docker.py", list(hardened.values()), inventory, pol, tmp_path)
    lab_inv = write_yaml(
        tmp_path / "lab-inv.yaml",
        {"platform": "lab-engine", "nodes": [{"name": "lab", "url": "local://", "roles": ["docker-host"]}]},
    )
    lab_pol = write_yaml(tmp_path / "lab-policy.yaml", {"compliance": {"docker": {"remote_log_required": True}}})
    (tmp_path / "lab").mkdir()
    assert_three_ways_agree("docker", "test_docker.py", list(lab_engine.values()), lab_inv, lab_pol, tmp_path / "lab")


# -- storage network MTU ----------------------------------------------------------------------------------
def test_storage_mtu_passes_at_9000_and_a_1500_network_declared_9000_fails(
    engine: docker.DockerClient, etcd_image: str, tmp_path: Path
) -> None:
    jumbo = small_lab(engine, "comp-mtu", storage_mtu=9000)
    small = small_lab(engine, "comp-mtu1500", storage_mtu=1500)
    try:
        nets, nodes = [], []
        for lab in (jumbo, small):
            storage = lab.ctx.storage_network_name
            nets.append({"name": storage, "subnet": str(lab.ctx.subnets[storage]), "storage": True, "mtu": 9000})
            for suffix, off in (("a", 51), ("b", 52)):
                name, ip, sip = sleeper(lab, suffix, off, etcd_image, storage=True)
                nodes.append(
                    {
                        "name": name,
                        "url": f"docker://{name}",
                        "roles": ["storage"],
                        "addresses": {lab.ctx.network_name: ip, storage: sip},
                    }
                )
        inv_data = {"platform": "mtu-test", "networks": nets, "nodes": nodes}
        inventory = Inventory.model_validate(inv_data)
        findings = check_storage_networks(inventory)
        status = {(f.target, f.check_id): f for f in findings}
        for suffix, peer in (("a", "b"), ("b", "a")):
            good, bad = f"{jumbo.name}-{suffix}", f"{small.name}-{suffix}"
            assert status[(good, "HD-NET-001")].status == "pass" and status[(good, "HD-NET-001")].observed == 9000
            probe = status[(good, "HD-NET-002")]
            assert (
                probe.status == "pass" and probe.object == f"{jumbo.ctx.storage_network_name}: to {jumbo.name}-{peer}"
            )
            assert status[(bad, "HD-NET-001")].status == "fail" and status[(bad, "HD-NET-001")].observed == 1500
            assert status[(bad, "HD-NET-002")].status == "fail", status[(bad, "HD-NET-002")]
            assert "8972" in status[(bad, "HD-NET-002")].message
        assert len(findings) == 8  # each node: its interface and one probe to its one peer
        inv_file = write_yaml(tmp_path / "inv.yaml", inv_data)
        pol = write_yaml(tmp_path / "policy.yaml", {"compliance": {"network": {"mtu": 9000}}})
        assert_three_ways_agree("network", "test_storage_network.py", findings, inv_file, pol, tmp_path)
    finally:
        jumbo.down()
        small.down()


# -- SCST ----------------------------------------------------------------------------------------------------
SCST_GOOD = """\
HANDLER vdisk_fileio {
    DEVICE disk01 {
        filename "/srv/iscsi/disk 01.img"
        write_through 1
        nv_cache 0
    }
}
HANDLER vdisk_blockio {
    DEVICE lv0 { filename /dev/vg0/lv0; write_through 1 }
}
TARGET_DRIVER iscsi {
    enabled 1
    TARGET iqn.2026-01.lab.hadrill:tgt { LUN 0 disk01; LUN 1 lv0; enabled 1 }
}
"""
SCST_BAD = SCST_GOOD.replace("        nv_cache 0\n", "        nv_cache 1\n").replace("; write_through 1 }", " }")


def _fake_sysfs(host: str, wt: str) -> None:
    t = target(f"docker://{host}")
    base = "/srv/scst_tgt/handlers/vdisk_fileio"
    t.put_file(f"{base}/disk01/write_through", f"{wt}\n[key]\n")
    t.put_file(f"{base}/disk01/nv_cache", "0\n")
    t.put_file(f"{base}/mgmt", 'Usage: echo "add_device ..." >mgmt\n')  # a file, not a device: skipped


def test_scst_vdisks_write_through_in_files_and_sysfs(file_hosts: dict[str, str], tmp_path: Path) -> None:
    for kind, text, wt in (("good", SCST_GOOD, "1"), ("bad", SCST_BAD, "0")):
        target(f"docker://{file_hosts[kind]}").put_file("/etc/scst.conf", text)
        _fake_sysfs(file_hosts[kind], wt)
    policy = ScstPolicy(sysfs_root="/srv/scst_tgt")
    good = check_scst(f"docker://{file_hosts['good']}", policy, name="good")
    bad = check_scst(f"docker://{file_hosts['bad']}", policy, name="bad")
    assert [(f.check_id, f.object, f.status) for f in good] == [
        ("HD-SCST-001", "vdisk_fileio/disk01 (/etc/scst.conf)", "pass"),
        ("HD-SCST-002", "vdisk_fileio/disk01 (/etc/scst.conf)", "pass"),
        ("HD-SCST-001", "vdisk_blockio/lv0 (/etc/scst.conf)", "pass"),
        ("HD-SCST-002", "vdisk_blockio/lv0 (/etc/scst.conf)", "pass"),
        ("HD-SCST-001", "vdisk_fileio/disk01 (sysfs /srv/scst_tgt)", "pass"),
        ("HD-SCST-002", "vdisk_fileio/disk01 (sysfs /srv/scst_tgt)", "pass"),
    ]
    failing = {(f.check_id, f.object): f.observed for f in bad if f.status == "fail"}
    assert failing == {
        ("HD-SCST-002", "vdisk_fileio/disk01 (/etc/scst.conf)"): "1",
        ("HD-SCST-001", "vdisk_blockio/lv0 (/etc/scst.conf)"): "unset (SCST default 0)",
        ("HD-SCST-001", "vdisk_fileio/disk01 (sysfs /srv/scst_tgt)"): "0",
    }
    target(f"docker://{file_hosts['bad']}").put_file("/etc/scst.conf", "HANDLER vdisk_fileio {\n  DEVICE d {\n")
    broken = check_scst(f"docker://{file_hosts['bad']}", policy, name="bad")
    assert {f.status for f in broken} == {"error"} and "line 2" in broken[0].message
    target(f"docker://{file_hosts['bad']}").put_file("/etc/scst.conf", SCST_BAD)

    inventory = write_yaml(tmp_path / "inv.yaml", host_inventory(file_hosts, "iscsi-target"))
    pol = write_yaml(tmp_path / "policy.yaml", {"compliance": {"scst": {"sysfs_root": "/srv/scst_tgt"}}})
    assert_three_ways_agree("scst", "test_scst.py", good + bad, inventory, pol, tmp_path)


# -- NFS client mounts -------------------------------------------------------------------------------------
NFSMOUNT_GOOD = """\
[ NFSMount_Global_Options ]
Defaultvers=3
Proto=udp
Hard=True
Timeo=11
Retrans=3
Rsize=32768
Wsize=32768
"""
NFSMOUNT_BAD = NFSMOUNT_GOOD.replace("Proto=udp", "Proto=tcp").replace("Hard=True", "Soft=True")
MOUNT_V3 = (
    "10.213.0.20:/export /mnt/data nfs rw,relatime,vers=3,rsize=32768,wsize=32768,namlen=255,hard,proto=udp,"
    "timeo=11,retrans=3,sec=sys,mountaddr=10.213.0.20,mountvers=3,mountproto=udp,addr=10.213.0.20 0 0\n"
)
MOUNT_V4 = (
    "10.213.0.21:/export /mnt/v4 nfs4 rw,relatime,vers=4.2,rsize=1048576,wsize=1048576,namlen=255,soft,"
    "proto=tcp,timeo=600,retrans=2,sec=sys,clientaddr=10.213.0.29,addr=10.213.0.21 0 0\n"
)


def test_nfs_mount_policy_on_config_and_mounts(file_hosts: dict[str, str], tmp_path: Path) -> None:
    # The containers cannot mount NFS (no privileges): their "live mounts" are a mounts file in /proc/mounts format.
    proc_mounts = "proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n"
    for kind, conf, mounts in (("good", NFSMOUNT_GOOD, MOUNT_V3), ("bad", NFSMOUNT_BAD, MOUNT_V3 + MOUNT_V4)):
        t = target(f"docker://{file_hosts[kind]}")
        t.put_file("/etc/nfsmount.conf", conf)
        t.put_file("/srv/mounts", proc_mounts + mounts)
    policy = NfsMountPolicy(preset="vers3-udp-jumbo", options={}, mounts_file="/srv/mounts")
    good = check_nfs_mounts(f"docker://{file_hosts['good']}", policy, name="good")
    bad = check_nfs_mounts(f"docker://{file_hosts['bad']}", policy, name="bad")
    assert [(f.check_id, f.object, f.status) for f in good] == [
        ("HD-NFS-001", "/etc/nfsmount.conf", "pass"),
        ("HD-NFS-002", "/mnt/data", "pass"),
    ]
    assert [(f.check_id, f.object, f.status) for f in bad] == [
        ("HD-NFS-001", "/etc/nfsmount.conf", "fail"),
        ("HD-NFS-002", "/mnt/data", "pass"),
        ("HD-NFS-002", "/mnt/v4", "fail"),
    ]
    assert bad[0].observed == {"proto": "tcp", "hard": False}
    assert bad[2].observed["vers"] == "4.2" and bad[2].observed["proto"] == "tcp"
    # the node's real /proc/mounts: no NFS mount, so only the configuration is judged
    real = check_nfs_mounts(f"docker://{file_hosts['good']}", NfsMountPolicy(preset="vers3-udp-jumbo"), name="good")
    assert [f.check_id for f in real] == ["HD-NFS-001"]

    inventory = write_yaml(tmp_path / "inv.yaml", host_inventory(file_hosts, "nfs-client"))
    pol = write_yaml(
        tmp_path / "policy.yaml",
        {"compliance": {"nfs_mounts": {"preset": "vers3-udp-jumbo", "options": {}, "mounts_file": "/srv/mounts"}}},
    )
    assert_three_ways_agree("nfs_mounts", "test_nfs_mounts.py", good + bad, inventory, pol, tmp_path)


# -- Kubernetes PKI ----------------------------------------------------------------------------------------
def _pki(days: int, cn: str, issuer: tuple[Any, x509.Name] | None = None) -> tuple[Any, str, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    sign_key, issuer_name = issuer or (key, subject)
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=days))
        .sign(sign_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return key, cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def test_pki_modes_owners_and_expiry(file_hosts: dict[str, str], tmp_path: Path) -> None:
    ca_key, ca_crt, ca_key_pem = _pki(3650, "kubernetes")
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    _, api_crt, api_key_pem = _pki(365, "kube-apiserver", (ca_key, ca_name))
    _, short_crt, short_key_pem = _pki(5, "kube-apiserver-etcd-client", (ca_key, ca_name))
    pki = "/etc/kubernetes/pki"
    g, b = target(f"docker://{file_hosts['good']}"), target(f"docker://{file_hosts['bad']}")
    for t in (g, b):
        t.check(f"rm -rf {pki}")
        t.put_file(f"{pki}/ca.crt", ca_crt, "0644")
        t.put_file(f"{pki}/etcd/ca.crt", ca_crt, "0644")
        t.put_file(f"{pki}/apiserver.crt", api_crt, "0644")
    g.put_file(f"{pki}/ca.key", ca_key_pem, "0600")
    g.put_file(f"{pki}/apiserver.key", api_key_pem, "0600")
    b.put_file(f"{pki}/ca.key", ca_key_pem, "0644")
    b.put_file(f"{pki}/apiserver.key", api_key_pem, "0600")
    b.check(f"chown 1000:1000 {pki}/apiserver.key && chmod 0666 {pki}/etcd/ca.crt")
    b.put_file(f"{pki}/apiserver-etcd-client.crt", short_crt, "0644")
    b.put_file(f"{pki}/apiserver-etcd-client.key", short_key_pem, "0600")
    policy = PkiPolicy(min_days=30)
    good = check_pki(f"docker://{file_hosts['good']}", policy, name="good")
    bad = check_pki(f"docker://{file_hosts['bad']}", policy, name="bad")
    assert {f.status for f in good} == {"pass"} and len(good) == 7  # 2 keys, 2 ca.crt modes, 3 certificates
    failing = {(f.check_id, f.object) for f in bad if f.status == "fail"}
    assert failing == {
        ("HD-PKI-001", f"{pki}/ca.key"),
        ("HD-PKI-001", f"{pki}/apiserver.key"),
        ("HD-PKI-002", f"{pki}/etcd/ca.crt"),
        ("HD-PKI-003", f"{pki}/apiserver-etcd-client.crt"),
    }
    short = next(f for f in bad if f.object == f"{pki}/apiserver-etcd-client.crt")
    assert "days left" in short.observed and short.expected == ">= 30 days left"

    inventory = write_yaml(tmp_path / "inv.yaml", host_inventory(file_hosts, "control-plane"))
    pol = write_yaml(tmp_path / "policy.yaml", {"compliance": {"pki": {"min_days": 30}}})
    assert_three_ways_agree("pki", "test_pki.py", good + bad, inventory, pol, tmp_path)


# -- etcd backups ------------------------------------------------------------------------------------------
def test_etcd_snapshot_fresh_and_readable_then_old_then_corrupt(engine: docker.DockerClient, tmp_path: Path) -> None:
    spec = parse_lab_data({"name": f"hdt-{WORKER}-comp-etcd", "etcd": {"members": 1}}, "<test lab comp-etcd>")
    lab = Lab(spec, owner="pytest", client=engine)
    try:
        lab.down()
        inv = lab.up(timeout=120)
        member = inv.cluster("etcd").members[0]
        t = target(inv.node(member.node).url)
        t.check(
            "mkdir -p /var/backups/etcd && ETCDCTL_API=3 etcdctl --endpoints http://127.0.0.1:2379 "
            "snapshot save /var/backups/etcd/etcd-1.db",
            timeout=60,
        )
        policy = EtcdBackupPolicy(max_age_hours=1)
        fresh = check_etcd_backup(inv.node(member.node).url, policy, name=member.node)
        assert [f.status for f in fresh] == ["pass", "pass"], fresh
        assert fresh[1].observed["totalKey"] >= 1 and fresh[1].observed["revision"] >= 1

        inventory = write_yaml(
            tmp_path / "inv.yaml",
            {
                "platform": "etcd-backup",
                "nodes": [{"name": member.node, "url": inv.node(member.node).url, "roles": ["etcd-backup"]}],
            },
        )
        pol = write_yaml(tmp_path / "policy.yaml", {"compliance": {"etcd_backup": {"max_age_hours": 1}}})
        assert_three_ways_agree("etcd_backup", "test_etcd_backup.py", fresh, inventory, pol, tmp_path)

        t.check("touch -d '3 hours ago' /var/backups/etcd/etcd-1.db")
        old = check_etcd_backup(inv.node(member.node).url, policy, name=member.node)
        assert [f.status for f in old] == ["fail", "pass"] and old[0].observed.startswith("3.0 h")
        (tmp_path / "old").mkdir()
        assert_three_ways_agree("etcd_backup", "test_etcd_backup.py", old, inventory, pol, tmp_path / "old")

        t.check("head -c 4096 /dev/urandom > /var/backups/etcd/etcd-2.db")  # newest, and not a snapshot
        corrupt = check_etcd_backup(inv.node(member.node).url, policy, name=member.node)
        assert [f.status for f in corrupt] == ["pass", "fail"] and corrupt[1].object == "/var/backups/etcd/etcd-2.db"
    finally:
        lab.down()


# -- the CLI gate: waivers, baseline, exit codes -----------------------------------------------------------
def cli(*args: str) -> tuple[int, str]:
    proc = subprocess.run([str(HADRILL), "check", *args], capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT)
    return proc.returncode, proc.stdout + proc.stderr


def test_cli_gate_with_waivers_baseline_and_exit_codes(file_hosts: dict[str, str], tmp_path: Path) -> None:
    target(f"docker://{file_hosts['bad']}").put_file("/etc/scst.conf", SCST_BAD)
    inv = write_yaml(
        tmp_path / "inv.yaml",
        {
            "platform": "gate",
            "nodes": [{"name": "bad", "url": f"docker://{file_hosts['bad']}", "roles": ["iscsi-target"]}],
        },
    )
    out = ["--inventory", str(inv), "--suite", "scst", "--out", str(tmp_path / "out")]
    rc, text = cli(*out)
    assert rc == 1 and "HD-SCST-002" in text

    waiver = {"check": "HD-SCST-*", "selector": {"host": "bad"}, "owner": "storage-team", "reason": "migration"}
    live = write_yaml(tmp_path / "live.yaml", {"kind": "Waivers", "waivers": [{**waiver, "expires": "2999-01-01"}]})
    rc, _ = cli(*out, "--waivers", str(live))
    report = json.loads((tmp_path / "out" / "findings.json").read_text())
    assert rc == 0 and report["summary"]["waived"] == 2 and report["summary"]["failing"] == 0
    expired = write_yaml(tmp_path / "old.yaml", {"kind": "Waivers", "waivers": [{**waiver, "expires": "2020-01-01"}]})
    rc, text = cli(*out, "--waivers", str(expired))
    assert rc == 1 and "EXPIRED on 2020-01-01" in (tmp_path / "out" / "findings.json").read_text()

    known = tmp_path / "known.json"
    rc, _ = cli(*out, "--write-baseline", str(known))
    assert rc == 1 and len(json.loads(known.read_text())["findings"]) == 2
    rc, _ = cli(*out, "--baseline", str(known))
    assert rc == 0  # nothing new
    target(f"docker://{file_hosts['bad']}").put_file(
        "/etc/scst.conf", SCST_BAD.replace("write_through 1", "write_through 0")
    )
    rc, _ = cli(*out, "--baseline", str(known))
    assert rc == 1  # disk01 is now also not write-through: a new finding
    target(f"docker://{file_hosts['bad']}").put_file("/etc/scst.conf", SCST_BAD)

    rc, text = cli(*out, "--policy", str(write_yaml(tmp_path / "p.yaml", {"compliance": {"scst": {"roles": "x"}}})))
    assert rc == 2 and "compliance.scst.roles" in text
    ghost = write_yaml(
        tmp_path / "ghost.yaml",
        {
            "platform": "ghost",
            "nodes": [{"name": "ghost", "url": f"docker://hdt-{WORKER}-comp-nobody", "roles": ["iscsi-target"]}],
        },
    )
    rc, text = cli("--inventory", str(ghost), "--suite", "scst", "--out", str(tmp_path / "out"))
    assert rc == 3 and "error" in text

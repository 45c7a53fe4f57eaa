"""Real-fleet path (#13) for storage: NFS (nfs-ganesha + keepalived) and Gluster on systemd hosts, over ssh://.

One lab for the module (``hdt-<worker>-store``: ``nodes: host``, ``transport: ssh``, NFS and Gluster, no
etcd, and the monitoring container scraping the hosts' exporter units) brought up with the same override
``hadrill lab up --transport ssh`` applies. hadrill reaches the nodes only as ``ssh://root@ADDR``; the
tests read what really happened through the engine (``docker exec``), an oracle independent of the
transport under test. With the monitoring, the experiments' alert objectives are judged on hosts too.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from labtools import engine_exec, fresh_lab, wait_until

from hadrill.clients.prometheus import PrometheusClient
from hadrill.clients.targets import Target, target
from hadrill.experiment import failure_report, run_experiment_file
from hadrill.faults.base import injected, recover
from hadrill.faults.gluster import stop_brick
from hadrill.faults.ledger import Ledger
from hadrill.faults.vip import fail_vip
from hadrill.inventory import Inventory, load_inventory
from hadrill.lab.exporter_files import EXPORTER_PORT, EXPORTER_UNIT
from hadrill.lab.lab import Lab, docker_inventory_path
from hadrill.lab.labfile import parse_lab_data

pytestmark = [pytest.mark.lab, pytest.mark.chaos]

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
ROOT = Path(__file__).resolve().parents[2]
NFS_UNITS = ("nfs-ganesha.service", "keepalived.service")


@pytest.fixture(scope="module")
def lab(state_dir: Path) -> Iterator[Lab]:
    spec = parse_lab_data(
        {"name": f"hdt-{WORKER}-store", "etcd": None, "nfs": {"advert_int": 1.0}, "gluster": {}, "monitoring": {}},
        "<storage hosts>",
    ).with_transport("ssh")
    yield from fresh_lab(spec)


@pytest.fixture(scope="module")
def inv(lab: Lab) -> Inventory:
    return load_inventory(lab.inventory_path)



def running(node: str) -> bool:
    return bool(docker.from_env().containers.get(node).status == "running")


def vip_on(inv: Inventory) -> list[str]:
    """The servers carrying the VIP (a powered-off one carries nothing)."""
    vip = inv.cluster("nfs").settings["vip"]
    return [
        m.node
        for m in inv.cluster("nfs").members
        if running(m.node) and f" {vip}/" in engine_exec(m.node, "ip -o -4 addr show up")
    ]


def unhealthy(inv: Inventory) -> str | None:
    for m in inv.cluster("nfs").members:
        for unit in NFS_UNITS:
            if (state := engine_exec(m.node, f"systemctl is-active {unit}")) != "active":
                return f"{m.node}: {unit} is {state}"
    if len(holders := vip_on(inv)) != 1:
        return f"VIP held by {holders}"
    for m in inv.cluster("gluster").members:
        if (state := engine_exec(m.node, "systemctl is-active glusterd.service")) != "active":
            return f"{m.node}: glusterd is {state}"
        if "T" in engine_exec(m.node, "ps -o stat= -C glusterfsd,glusterd | cut -c1 | sort -u"):
            return f"{m.node}: gluster processes stopped"
    return None


@pytest.fixture(autouse=True)
def clean_after(request: pytest.FixtureRequest, state_dir: Path) -> Iterator[None]:
    """After every test: nothing left open in the ledger, every unit active, one VIP holder, no frozen brick."""
    yield
    if "inv" not in request.fixturenames:
        return
    inv = request.getfixturevalue("inv")
    leftovers = recover(Ledger(state_dir / "ledger.jsonl"), include_live=True)
    wait_until("storage healthy after the test", lambda: unhealthy(inv), timeout=90)
    assert not leftovers, f"the test left faults open: {[(r.id, o) for r, o in leftovers]}"


def test_every_storage_node_is_a_systemd_host_reached_over_ssh(lab: Lab, inv: Inventory) -> None:
    assert {"nfs-server", "nfs-client", "gluster-server", "gluster-client"} <= {r for n in inv.nodes for r in n.roles}
    for node in inv.nodes:
        assert node.url.startswith(f"ssh://root@{node.address()}?"), node.url
        t = Target(node.url)
        assert t.container is None  # nothing can fall back to the engine
        assert t.check("hostname", timeout=15).strip() == node.name
        assert t.check("systemctl is-system-running", timeout=15).strip() == "running"
    for m in inv.cluster("nfs").members:
        for unit in NFS_UNITS:  # the restart policy a production host carries (a drop-in on Debian's unit)
            assert engine_exec(m.node, f"systemctl show -p Restart --value {unit}") == "on-failure"
    for m in inv.cluster("gluster").members:  # Debian's own policy for glusterd
        assert engine_exec(m.node, "systemctl show -p Restart --value glusterd.service") == "on-abnormal"
    docker_inv = load_inventory(docker_inventory_path(lab.name))
    assert [n.url for n in docker_inv.nodes] == [f"docker://{n.name}" for n in inv.nodes]


def test_monitoring_scrapes_the_exporter_unit_of_every_storage_server(inv: Inventory) -> None:
    assert inv.monitoring is not None  # named by its URLs; not a node (every node here is an ssh:// host)
    prom = PrometheusClient(inv.monitoring.prometheus)
    servers = {
        (c, m.node): f"{next(n for n in inv.nodes if n.name == m.node).address()}:{EXPORTER_PORT}"
        for c in ("nfs", "gluster")
        for m in inv.cluster(c).members
    }
    for _, node in servers:  # a systemd unit runs it, as on a real storage host
        assert engine_exec(node, f"systemctl is-active {EXPORTER_UNIT}") == "active", node
    holder = vip_on(inv)  # the engine's view of the VIP: the oracle for the exporter's vip check
    assert len(holder) == 1, holder
    # by hand: each NFS server runs keepalived and ganesha, one holds the VIP; each Gluster server its brick
    want = {}
    for (cluster, node), instance in servers.items():
        if cluster == "nfs":
            want |= {("nfs", instance, "keepalived"): 1.0, ("nfs", instance, "ganesha"): 1.0}
            want[("nfs", instance, "vip")] = 1.0 if node == holder[0] else 0.0
        else:
            want[("gluster", instance, "brick")] = 1.0

    def problem() -> str | None:
        got = {(lb["service"], lb["instance"], lb["check"]): v for lb, v in prom.query("hadrill_lab_check")}
        return None if got == want else f"scraped {sorted(got.items())}, expected {sorted(want.items())}"

    wait_until("the storage hosts' series as the engine sees the hosts", problem, timeout=10)
    up = {lb["instance"]: v for lb, v in prom.query('up{job="lab"}')}
    assert up == dict.fromkeys(servers.values(), 1.0)


@pytest.mark.parametrize("mode", ["kill", "stop-nfs", "link-down"])
def test_vip_fault_modes_go_through_systemd_on_a_host(mode: str, inv: Inventory, ledger: Ledger) -> None:
    cluster = inv.cluster("nfs")
    [holder] = vip_on(inv)
    [other] = [m.node for m in cluster.members if m.node != holder]
    fault = fail_vip(inv, cluster, mode=mode, time_limit=60)  # type: ignore[arg-type]
    with injected(fault, ledger=ledger) as record:
        assert record.params["host"] is True
        # the proof is the holder going down; the VIP's move is the platform's recovery, watched after it
        wait_until(
            "the VIP moved to the other server", lambda: None if vip_on(inv) == [other] else "not yet", timeout=30
        )
        if mode == "kill":  # a host is killed by a power cut: the machine is off (powered on by the lab driver)
            assert record.params["container"] == holder
            assert docker.from_env().containers.get(holder).status == "exited"
        else:  # through systemd alone, guarded by the host's own timer
            assert record.params["container"] is None
            timers = engine_exec(holder, "systemctl list-timers --all --no-legend")
            assert f"hadrill-deadman-{record.id}.timer" in timers, timers
        if mode == "stop-nfs":
            assert engine_exec(holder, "systemctl is-active nfs-ganesha.service") == "inactive"
            assert engine_exec(holder, "systemctl is-active keepalived.service") == "active"
    assert [e.step for e in fault.events] == ["inject", "effect", "revert_start", "revert"]
    for unit in NFS_UNITS:
        assert engine_exec(holder, f"systemctl is-active {unit}") == "active", unit
    assert vip_on(inv) == [other]  # nopreempt: the returning server stays BACKUP
    assert "hadrill-deadman" not in engine_exec(holder, "systemctl list-timers --all --no-legend")


@pytest.mark.parametrize("mode", ["kill-node", "pause-node"])
def test_gluster_node_faults_go_through_systemd_on_a_host(mode: str, inv: Inventory, ledger: Ledger) -> None:
    cluster = inv.cluster("gluster")
    server = cluster.members[0].node
    fault = stop_brick(inv, cluster, [cluster.members[0].name], mode=mode, time_limit=90)  # type: ignore[arg-type]
    with injected(fault, ledger=ledger) as record:
        assert record.params["host"] is True
        stats = engine_exec(server, "ps -e -o stat=,unit= | awk '$2 == \"glusterd.service\" {print substr($1,1,1)}'")
        if mode == "kill-node":
            assert stats == "", stats  # glusterd, the brick and the self-heal daemon are gone
            assert engine_exec(server, "systemctl is-active glusterd.service") in ("failed", "inactive")
        else:
            assert stats and set(stats.split()) == {"T"}, stats  # every process of the unit stopped
        assert f"hadrill-deadman-{record.id}.timer" in engine_exec(server, "systemctl list-timers --all --no-legend")
    assert engine_exec(server, "systemctl is-active glusterd.service") == "active"
    assert "T" not in engine_exec(server, "ps -e -o stat=,unit= | awk '$2 == \"glusterd.service\" {print $1}'")


@pytest.mark.parametrize(
    "experiment",
    [ROOT / "experiments" / f"{n}.yaml" for n in ("nfs-fail-vip", "gluster-stop-brick", "gluster-lose-quorum")],
    ids=lambda p: p.stem,
)
def test_storage_experiment_passes_over_ssh(experiment: Path, lab: Lab, inv: Inventory, tmp_path: Path) -> None:
    result = run_experiment_file(experiment, inventory=lab.inventory_path, journal_dir=tmp_path)
    assert result.ok, failure_report(result.journal)
    verdicts = result.hadrill["verdicts"]
    assert verdicts and all(v["ok"] for v in verdicts), verdicts
    assert result.journal_path is not None
    text = result.journal_path.read_text(encoding="utf-8")
    assert "ssh://" in text and "docker://" not in text  # the faults really went to the ssh:// nodes
    assert "PRIVATE KEY" not in text


# -- compliance suites over ssh:// (testinfra's ssh backend) ---------------------------------------------
SCST_GOOD = """\
HANDLER vdisk_fileio {
    DEVICE disk01 {
        filename /srv/iscsi/disk01.img
        write_through 1
        nv_cache 0
    }
}
HANDLER vdisk_blockio {
    DEVICE lv0 { filename /dev/vg0/lv0; write_through 1 }
}
"""
SCST_BAD = SCST_GOOD.replace("        nv_cache 0\n", "        nv_cache 1\n").replace("; write_through 1 }", " }")
NFSMOUNT_GOOD = (
    "[ NFSMount_Global_Options ]\nDefaultvers=3\nProto=udp\nHard=True\nTimeo=11\nRetrans=3\nRsize=32768\nWsize=32768\n"
)
NFSMOUNT_BAD = NFSMOUNT_GOOD.replace("Proto=udp", "Proto=tcp").replace("Hard=True", "Soft=True")
MOUNT_V3 = "10.0.0.20:/export /mnt/data nfs rw,vers=3,rsize=32768,wsize=32768,hard,proto=udp,timeo=11,retrans=3 0 0\n"
MOUNT_V4 = "10.0.0.21:/export /mnt/v4 nfs4 rw,vers=4.2,rsize=1048576,wsize=1048576,soft,proto=tcp 0 0\n"
NODE_SUITES = ("scst", "nfs_mounts", "network")
PYTEST_SUITES = ("test_scst.py", "test_nfs_mounts.py", "test_storage_network.py")


def check_cli(inventory: Path, policy: Path, out: Path) -> tuple[int, set[tuple[str, str, str, str, str]]]:
    proc = subprocess.run(
        [sys.executable, "-m", "hadrill.cli", "check", "--inventory", str(inventory), "--policy", str(policy),
         "--suite", ",".join(NODE_SUITES), "--out", str(out)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stdout[-2000:] + proc.stderr[-2000:]
    found = json.loads((out / "findings.json").read_text())["findings"]
    return proc.returncode, {
        (f["check_id"], f["target"], str(f["object"]), f["status"], json.dumps(f["observed"], sort_keys=True))
        for f in found
    }


def run_testinfra_suites(inventory: Path, policy: Path, junit: Path) -> dict[tuple[str, str], str]:
    """``pytest compliance/...`` through testinfra's backend for the inventory's URLs: (node, check) → outcome."""
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", *[f"compliance/{m}" for m in PYTEST_SUITES], "--hadrill-inventory",
         str(inventory), "--hadrill-policy", str(policy), "--junitxml", str(junit), "-p", "no:cacheprovider", "-q"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-2000:]
    outcomes = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        m = re.search(r"\[(.+)-(HD-[A-Z-]+-\d+)\]$", case.get("name", ""))
        assert m, case.get("name")
        failed = case.find("failure") is not None or case.find("error") is not None
        outcomes[(m.group(1), m.group(2))] = "failed" if failed else "passed"
    return outcomes


def test_node_compliance_suites_give_the_same_verdicts_over_ssh_as_over_docker(
    lab: Lab, inv: Inventory, tmp_path: Path
) -> None:
    good, bad = str(inv.cluster("nfs").settings["client"]), str(inv.cluster("gluster").settings["client"])
    for node, scst, wt, conf, mounts in ((good, SCST_GOOD, "1", NFSMOUNT_GOOD, MOUNT_V3),
                                         (bad, SCST_BAD, "0", NFSMOUNT_BAD, MOUNT_V3 + MOUNT_V4)):  # fmt: skip
        t = target(f"docker://{node}")  # set-up through the engine, not the transport under test
        t.put_file("/etc/scst.conf", scst)
        t.put_file("/srv/scst_tgt/handlers/vdisk_fileio/disk01/write_through", f"{wt}\n[key]\n")
        t.put_file("/srv/scst_tgt/handlers/vdisk_fileio/disk01/nv_cache", "0\n")
        t.put_file("/etc/nfsmount.conf", conf)
        t.put_file("/srv/mounts", "proc /proc proc rw 0 0\n" + mounts)
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        json.dumps(
            {
                "compliance": {
                    "scst": {"roles": [], "nodes": [good, bad], "sysfs_root": "/srv/scst_tgt"},
                    "nfs_mounts": {"roles": [], "nodes": [good, bad], "preset": "vers3-udp-jumbo", "options": {},
                                   "mounts_file": "/srv/mounts"},
                    "network": {"mtu": 9000},
                }
            }
        )
    )  # fmt: skip
    ssh_rc, over_ssh = check_cli(lab.inventory_path, policy, tmp_path / "ssh")
    docker_rc, over_docker = check_cli(docker_inventory_path(lab.name), policy, tmp_path / "docker")
    assert over_ssh == over_docker and ssh_rc == docker_rc == 1
    failing = {(c, t, o) for c, t, o, status, _ in over_ssh if status == "fail"}
    # worked out from the files above: the bad node's nv_cache, missing write_through, sysfs 0, tcp+soft, v4
    assert failing == {
        ("HD-SCST-002", bad, "vdisk_fileio/disk01 (/etc/scst.conf)"),
        ("HD-SCST-001", bad, "vdisk_blockio/lv0 (/etc/scst.conf)"),
        ("HD-SCST-001", bad, "vdisk_fileio/disk01 (sysfs /srv/scst_tgt)"),
        ("HD-NFS-001", bad, "/etc/nfsmount.conf"),
        ("HD-NFS-002", bad, "/mnt/v4"),
    }, failing
    # the storage network's 9000 MTU passes end to end from every node, on both transports
    assert {t for c, t, _, status, _ in over_ssh if c.startswith("HD-NET") and status == "pass"} >= {good, bad}
    ssh_suites = run_testinfra_suites(lab.inventory_path, policy, tmp_path / "ssh.xml")
    docker_suites = run_testinfra_suites(docker_inventory_path(lab.name), policy, tmp_path / "docker.xml")
    assert ssh_suites == docker_suites
    assert {k for k, v in ssh_suites.items() if v == "failed"} == {
        (bad, "HD-SCST-001"),
        (bad, "HD-SCST-002"),
        (bad, "HD-NFS-001"),
        (bad, "HD-NFS-002"),
    }

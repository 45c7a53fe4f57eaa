"""Real-fleet path (#13): three etcd members on systemd host nodes, reached only as ``ssh://root@ADDR``.

One lab for the module (``hdt-<worker>-hosts``, lab file ``nodes: host``, ``transport: ssh``) and an
isolated ledger. hadrill reaches the nodes only over SSH; the tests read what really happened through
the engine (``docker exec``), an oracle independent of the transport under test.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from labtools import Harness, engine_exec, fresh_lab, wait_until

from hadrill.clients.etcd import EtcdClient
from hadrill.clients.targets import Target
from hadrill.errors import InjectionFailed, TargetError
from hadrill.experiment import failure_report, run_experiment_file
from hadrill.faults.base import injected, recover
from hadrill.faults.etcd import kill_member, partition_member, pick_member
from hadrill.faults.ledger import Ledger
from hadrill.faults.power import power_off
from hadrill.faults.service import ServiceFault
from hadrill.inventory import Inventory, load_inventory
from hadrill.lab.bmc import LabBmcs, with_bmc
from hadrill.lab.lab import Lab, docker_inventory_path
from hadrill.lab.labfile import parse_lab_data
from hadrill.lab.ssh import LabSsh

pytestmark = [pytest.mark.lab, pytest.mark.chaos]

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
ROOT = Path(__file__).resolve().parents[2]
DEADMAN_LIMIT = 6.0  # seconds: the harness's time limit in the SIGKILL test
DEADMAN_GRACE = 20.0  # seconds after the deadline for the timer to fire and etcd to rejoin
POWER_LIMIT = 25.0  # seconds: a power cut's limit (poweroff syncs first; the proof asks the dead node)

HARNESS = """\
import sys
import time
from pathlib import Path

from hadrill.faults.base import injected
from hadrill.faults.service import ServiceFault

url, time_limit = sys.argv[1], float(sys.argv[2])
with injected(ServiceFault(target=url, unit="etcd.service", action="kill-masked", time_limit=time_limit)) as record:
    print("INJECTED", record.id, record.deadline, flush=True)
    time.sleep(120)
"""

POWER_HARNESS = """\
import sys
import time

from hadrill.faults.base import injected
from hadrill.faults.power import PowerOff

url, node, time_limit = sys.argv[1], sys.argv[2], float(sys.argv[3])
fault = PowerOff(target=url, off="ssh", on="lab", container=node, node=node, time_limit=time_limit)
with injected(fault) as record:
    print("INJECTED", record.id, record.deadline, flush=True)
    time.sleep(120)
"""

BMC_HARNESS = """\
import json
import sys
import time

from hadrill.faults.base import injected
from hadrill.faults.power import PowerOff

url, node, time_limit, bmc = sys.argv[1], sys.argv[2], float(sys.argv[3]), json.loads(sys.argv[4])
fault = PowerOff(target=url, off=bmc["driver"], on=bmc["driver"], container=node, node=node, bmc=bmc,
                 time_limit=time_limit)
with injected(fault) as record:
    print("INJECTED", record.id, record.deadline, flush=True)
    time.sleep(120)
"""


@pytest.fixture(scope="module")
def lab(state_dir: Path) -> Iterator[Lab]:
    spec = parse_lab_data(
        {"name": f"hdt-{WORKER}-hosts", "etcd": {"members": 3}, "nodes": "host", "transport": "ssh"}, "<hosts lab>"
    )
    yield from fresh_lab(spec)


@pytest.fixture(scope="module")
def inv(lab: Lab) -> Inventory:
    return load_inventory(lab.inventory_path)


@pytest.fixture(autouse=True)
def clean_after(request: pytest.FixtureRequest, state_dir: Path) -> Iterator[None]:
    """After every test: nothing left open in the ledger, every etcd unit active, one leader."""
    yield
    if "inv" not in request.fixturenames:
        return
    inv = request.getfixturevalue("inv")
    leftovers = recover(Ledger(state_dir / "ledger.jsonl"), include_live=True)
    wait_until("cluster healthy after the test", lambda: unhealthy(inv), timeout=60)
    assert not leftovers, f"the test left faults open: {[(r.id, o) for r, o in leftovers]}"



def unhealthy(inv: Inventory) -> str | None:
    leaders = set()
    for m in inv.cluster("etcd").members:
        state = engine_exec(m.node, "systemctl is-active etcd.service")
        if state != "active":
            return f"{m.name}: etcd.service is {state}"
        try:
            leaders.add(EtcdClient(m.endpoints["client"], timeout=1.0).status().leader)
        except TargetError as e:
            return f"{m.name} does not answer: {e}"
    if len(leaders) != 1 or "0" in leaders or "" in leaders:
        return f"members disagree on the leader: {sorted(leaders)}"
    return None


def follower(inv: Inventory) -> str:
    return pick_member(inv, inv.cluster("etcd"), "follower").name


# -- SSH transport -----------------------------------------------------------------------------------
def test_every_node_is_reached_over_ssh_with_a_pinned_host_key(lab: Lab, inv: Inventory, tmp_path: Path) -> None:
    ssh = LabSsh(lab.name)
    assert stat.S_IMODE(ssh.key.stat().st_mode) == 0o600
    private = ssh.key.read_text()
    inventory_text = lab.inventory_path.read_text()
    assert private.splitlines()[1] not in inventory_text  # referenced by path, never copied
    for node in inv.nodes:
        assert node.url.startswith(f"ssh://root@{node.address()}?"), node.url
        t = Target(node.url)  # a fresh target: nothing cached from lab up
        assert t.container is None  # nothing can fall back to the engine
        assert t.check("hostname", timeout=15).strip() == node.name
        assert t.check("cat /proc/1/comm", timeout=15).strip() == "systemd"
        assert t.check("systemctl is-system-running", timeout=15).strip() == "running"
        assert t.check("systemctl show -p Restart --value etcd.service", timeout=15).strip() == "on-failure"
    # The docker:// inventory of the same nodes stays beside it.
    docker_inv = load_inventory(docker_inventory_path(lab.name))
    assert [n.url for n in docker_inv.nodes] == [f"docker://{n.name}" for n in inv.nodes]

    # Host keys are pinned: the first node's address with the second node's key is refused.
    first, second = inv.nodes[0], inv.nodes[1]
    swapped = tmp_path / "known_hosts"
    key_of_second = engine_exec(second.name, "cut -d' ' -f1,2 /etc/ssh/ssh_host_ed25519_key.pub")
    swapped.write_text(f"{first.address()} {key_of_second}\n")
    config = tmp_path / "config"
    config.write_text(
        ssh.config.read_text()
        .replace(str(ssh.known_hosts), str(swapped))
        .replace(f"ControlPath {ssh.control_prefix}-%C", "ControlPath none")  # no shared master: a fresh handshake
    )
    assert "ControlPath none" in config.read_text()
    with pytest.raises(TargetError):
        Target(first.url.replace(str(ssh.config), str(config))).check("true", timeout=15)


def test_a_host_gone_silent_costs_the_timeout_not_a_hang(inv: Inventory) -> None:
    """A frozen host (the engine pauses it: TCP stays up, nothing answers) behind a warm multiplexed SSH
    connection: the command gives up at its timeout plus the harness's grace, named, instead of waiting
    on SSH's keep-alives."""
    node = inv.member_node(inv.cluster("etcd"), follower(inv))
    t = Target(node.url)
    t.check("true", timeout=10)  # the master connection is up
    container = docker.from_env().containers.get(node.name)
    container.pause()
    try:
        start = time.monotonic()
        with pytest.raises(TargetError, match="no answer within 5 s"):
            t.run("true", timeout=2)
        took = time.monotonic() - start
    finally:
        container.unpause()
    assert 4.5 <= took < 7, took
    wait_until("the host answers again", lambda: None if t.run("true", timeout=5).ok else "not yet", timeout=30)


# -- service faults ----------------------------------------------------------------------------------
def test_kill_masked_service_fault_is_injected_proven_and_reverted(inv: Inventory, ledger: Ledger) -> None:
    member = follower(inv)
    node = inv.member_node(inv.cluster("etcd"), member)
    endpoint = inv.cluster("etcd").member(member).endpoints["client"]
    pid_before = engine_exec(node.name, "systemctl show -p MainPID --value etcd.service")
    fault = ServiceFault(target=node.url, unit="etcd.service", action="kill-masked", time_limit=60)

    with injected(fault, ledger=ledger) as record:
        assert [e.step for e in fault.events] == ["inject", "effect"]
        effect = fault.events[-1].detail
        assert "masked" in effect and "deadman" in effect, effect
        time.sleep(2.0)  # two RestartSec: Restart=on-failure would have brought it back by now
        assert engine_exec(node.name, "systemctl is-active etcd.service") in ("failed", "inactive")
        assert engine_exec(node.name, f"kill -0 {pid_before} 2>/dev/null && echo alive || echo gone") == "gone"
        timers = engine_exec(node.name, "systemctl list-timers --all --no-legend")
        assert f"hadrill-deadman-{record.id}.timer" in timers, timers
        with pytest.raises(TargetError):
            EtcdClient(endpoint, timeout=1.0).status()

    assert [e.step for e in fault.events] == ["inject", "effect", "revert_start", "revert"]
    assert engine_exec(node.name, "systemctl is-active etcd.service") == "active"
    assert f"hadrill-deadman-{record.id}" not in engine_exec(node.name, "systemctl list-timers --all --no-legend")
    assert not ledger.open_faults()


def test_kill_lets_restart_policy_bring_the_unit_back(inv: Inventory, ledger: Ledger) -> None:
    node = inv.member_node(inv.cluster("etcd"), follower(inv))
    pid_before = engine_exec(node.name, "systemctl show -p MainPID --value etcd.service")
    fault = ServiceFault(target=node.url, unit="etcd.service", action="kill", time_limit=60)
    with injected(fault, ledger=ledger):
        assert f"pid {pid_before} killed" in fault.events[-1].detail
        wait_until(
            "systemd restarted etcd (Restart=on-failure)",
            lambda: (
                None
                if engine_exec(node.name, "systemctl is-active etcd.service") == "active"
                and engine_exec(node.name, "systemctl show -p MainPID --value etcd.service") not in ("0", pid_before)
                else "not yet"
            ),
            timeout=15,
        )
    assert int(engine_exec(node.name, "systemctl show -p NRestarts --value etcd.service")) >= 1


def test_refused_service_fault_leaves_nothing_open(inv: Inventory, ledger: Ledger) -> None:
    """A unit the host does not have is refused; its record closes, so later faults are not held."""
    node = inv.member_node(inv.cluster("etcd"), follower(inv))
    fault = ServiceFault(target=node.url, unit="no-such-hadrill.service", action="stop", time_limit=60)
    refused = pytest.raises(InjectionFailed, match=r"no-such-hadrill\.service is not-found")
    with refused, injected(fault, ledger=ledger):
        pytest.fail("a unit the host lacks was injected")
    assert [e.step for e in fault.events] == ["inject", "revert_start", "revert"]
    assert not ledger.open_faults()
    timer = f"hadrill-deadman-{fault.events[0].fault}"
    assert timer not in engine_exec(node.name, "systemctl list-timers --all --no-legend")
    assert engine_exec(node.name, "systemctl is-active etcd.service") == "active"


def test_sigkilled_harness_fault_is_reverted_by_the_hosts_timer(
    inv: Inventory, state_dir: Path, tmp_path: Path
) -> None:
    member = follower(inv)
    node = inv.member_node(inv.cluster("etcd"), member)
    script = tmp_path / "harness.py"
    script.write_text(HARNESS)
    harness = Harness([sys.executable, str(script), node.url, str(DEADMAN_LIMIT)], tmp_path / "harness.log")
    fault_id, deadline = harness.wait_injected(timeout=60)
    harness.kill()
    # SSH dies too: every sshd on the node is SIGKILLed (systemd restarts the listener, not sessions).
    engine_exec(node.name, "pkill -KILL -x sshd; true")
    # down and masked: "activating" (auto-restart) until its RestartSec passes, then "failed" (refused)
    assert engine_exec(node.name, "systemctl is-active etcd.service") in ("failed", "inactive", "activating")
    assert engine_exec(node.name, "systemctl show -p LoadState --value etcd.service") == "masked"
    assert f"hadrill-deadman-{fault_id}.timer" in engine_exec(node.name, "systemctl list-timers --all --no-legend")

    left = deadline - time.time() + DEADMAN_GRACE
    waited = wait_until(
        "the host's own timer brought etcd back",
        lambda: None if engine_exec(node.name, "systemctl is-active etcd.service") == "active" else "not yet",
        timeout=max(left, 1.0),
    )
    assert time.time() >= deadline - 1.0, f"etcd came back {deadline - time.time():.1f} s before the deadline"
    assert engine_exec(node.name, "systemctl is-enabled etcd.service") == "enabled"  # unmasked
    assert waited > 0
    # The ledger still says open (the harness died); recover closes it and finds nothing to undo.
    outcomes = recover(Ledger(state_dir / "ledger.jsonl"))
    assert [(r.id, o) for r, o in outcomes] == [(fault_id, "reverted")]


def test_partition_on_a_host_is_guarded_by_the_hosts_timer(inv: Inventory, ledger: Ledger) -> None:
    cluster = inv.cluster("etcd")
    member = cluster.member(follower(inv))
    node = inv.member_node(cluster, member.name)
    fault = partition_member(inv, cluster, member, time_limit=60)
    with injected(fault, ledger=ledger) as record:
        assert "HDI-" in engine_exec(node.name, "iptables -S")
        assert f"hadrill-deadman-{record.id}.timer" in engine_exec(node.name, "systemctl list-timers --all --no-legend")
    assert "HDI-" not in engine_exec(node.name, "iptables -S")
    timer = f"hadrill-deadman-{fault.events[0].fault}"
    assert timer not in engine_exec(node.name, "systemctl list-timers --all --no-legend")


def test_kill_member_asks_the_node_and_picks_the_service_fault(inv: Inventory) -> None:
    cluster = inv.cluster("etcd")
    fault = kill_member(inv, cluster, cluster.members[0], action="kill")
    assert isinstance(fault, ServiceFault)
    assert (fault.unit, fault.action) == ("etcd.service", "kill-masked")
    with pytest.raises(NotImplementedError, match="power driver"):
        kill_member(inv, cluster, cluster.members[0], action="restart")


# -- power faults ------------------------------------------------------------------------------------
def started_at(node: str) -> tuple[str, str]:
    c = docker.from_env().containers.get(node)
    return c.status, str(c.attrs["State"]["StartedAt"])


def test_power_cut_over_ssh_is_powered_on_by_the_lab_driver(inv: Inventory, ledger: Ledger) -> None:
    cluster = inv.cluster("etcd")
    member = follower(inv)
    node = inv.member_node(cluster, member)
    endpoint = cluster.member(member).endpoints["client"]
    status, booted = started_at(node.name)
    assert status == "running"
    fault = power_off(inv, node.name, time_limit=120)
    assert (fault.off, fault.on, fault.members) == ("ssh", "lab", (member,))
    with injected(fault, ledger=ledger):
        assert "powered off by ssh" in fault.events[-1].detail, fault.events[-1].detail
        assert started_at(node.name)[0] == "exited"  # the machine is off, not a unit
        with pytest.raises(TargetError):
            EtcdClient(endpoint, timeout=1.0).status()
    status, rebooted = started_at(node.name)
    assert status == "running" and rebooted != booted  # powered on: a new boot
    assert Target(node.url).check("systemctl is-system-running --wait", timeout=90).strip() == "running"
    # etcd came back by itself: the unit is enabled, as on a host after a power cut (clean_after checks quorum)
    assert engine_exec(node.name, "systemctl is-active etcd.service") == "active"


def test_sigkilled_harness_power_cut_is_powered_on_by_the_deadman(
    inv: Inventory, state_dir: Path, tmp_path: Path
) -> None:
    node = inv.member_node(inv.cluster("etcd"), follower(inv))
    script = tmp_path / "harness.py"
    script.write_text(POWER_HARNESS)
    argv = [sys.executable, str(script), node.url, node.name, str(POWER_LIMIT)]
    harness = Harness(argv, tmp_path / "harness.log")
    fault_id, deadline = harness.wait_injected(timeout=60)
    harness.kill()
    assert started_at(node.name)[0] == "exited"
    wait_until(
        "the engine-side deadman powered the node on",
        lambda: None if started_at(node.name)[0] == "running" else "still off",
        timeout=max(deadline - time.time() + DEADMAN_GRACE, 1.0),
    )
    assert time.time() >= deadline - 1.0, f"powered on {deadline - time.time():.1f} s before the deadline"
    outcomes = recover(Ledger(state_dir / "ledger.jsonl"))
    assert [(r.id, o) for r, o in outcomes] == [(fault_id, "reverted")]


@pytest.fixture(scope="module")
def bmcs(inv: Inventory, state_dir: Path) -> Iterator[LabBmcs]:
    """IPMI and Redfish emulators for the three nodes, in a process of their own (as a BMC outlives its host)."""
    with LabBmcs(state_dir / "bmc", [n.name for n in inv.nodes], seconds=1800) as emulators:
        yield emulators


@pytest.mark.parametrize("driver", ["ipmi", "redfish"])
def test_power_cut_through_the_bmc_is_powered_on_through_it(
    inv: Inventory, bmcs: LabBmcs, ledger: Ledger, driver: str
) -> None:
    fleet = with_bmc(inv, bmcs.specs, driver)
    cluster = fleet.cluster("etcd")
    member = follower(fleet)
    node = fleet.member_node(cluster, member)
    status, booted = started_at(node.name)
    fault = power_off(fleet, node.name, time_limit=120)
    assert (fault.off, fault.on, fault.container) == (driver, driver, node.name)  # the node's BMC, both ways
    with injected(fault, ledger=ledger):
        assert f"its {driver} BMC reports power off" in fault.events[-1].detail, fault.events[-1].detail
        assert started_at(node.name)[0] == "exited"  # the engine's view: the machine is off
        with pytest.raises(TargetError):
            EtcdClient(cluster.member(member).endpoints["client"], timeout=1.0).status()
    status, rebooted = started_at(node.name)
    assert status == "running" and rebooted != booted  # powered on by the BMC: a new boot
    assert Target(node.url).check("systemctl is-system-running --wait", timeout=90).strip() == "running"
    assert engine_exec(node.name, "systemctl is-active etcd.service") == "active"


def test_sigkilled_harness_bmc_power_cut_is_powered_on_by_the_deadman_through_the_bmc(
    inv: Inventory, bmcs: LabBmcs, state_dir: Path, tmp_path: Path
) -> None:
    node = inv.member_node(inv.cluster("etcd"), follower(inv))
    script = tmp_path / "harness.py"
    script.write_text(BMC_HARNESS)
    spec = json.dumps(bmcs.specs[node.name]["ipmi"])
    harness = Harness([sys.executable, str(script), node.url, node.name, str(POWER_LIMIT), spec], tmp_path / "h.log")
    fault_id, deadline = harness.wait_injected(timeout=60)
    harness.kill()
    assert started_at(node.name)[0] == "exited"
    wait_until(
        "the deadman powered the node on through its IPMI BMC",
        lambda: None if started_at(node.name)[0] == "running" else "still off",
        timeout=max(deadline - time.time() + DEADMAN_GRACE, 1.0),
    )
    assert time.time() >= deadline - 1.0, f"powered on {deadline - time.time():.1f} s before the deadline"
    log = state_dir / "deadmen" / f"{fault_id}.log"
    wait_until(  # written once the BMC also reports the power on
        "the deadman's log says the BMC powered the node on",
        lambda: None if "bmc-on ipmi 127.0.0.1: powered on" in log.read_text() else log.read_text()[-300:],
        timeout=30,
    )
    outcomes = recover(Ledger(state_dir / "ledger.jsonl"))
    assert [(r.id, o) for r, o in outcomes] == [(fault_id, "reverted")]


# -- the etcd experiments over ssh:// -----------------------------------------------------------------
@pytest.mark.parametrize("experiment", sorted((ROOT / "experiments").glob("etcd-*.yaml")), ids=lambda p: p.stem)
def test_etcd_experiment_passes_over_ssh(experiment: Path, lab: Lab, inv: Inventory, tmp_path: Path) -> None:
    result = run_experiment_file(experiment, inventory=lab.inventory_path, journal_dir=tmp_path)
    assert result.ok, failure_report(result.journal)
    verdicts = result.hadrill["verdicts"]
    assert verdicts and all(v["ok"] for v in verdicts), verdicts
    assert result.journal_path is not None
    text = result.journal_path.read_text(encoding="utf-8")
    assert "ssh://" in text  # the faults really went to the ssh:// nodes
    assert "docker://" not in text
    assert "PRIVATE KEY" not in text


def test_no_ssh_binary_means_a_clear_error(inv: Inventory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the ssh client the target fails loudly: it never falls back to the engine."""
    monkeypatch.setenv("PATH", "/nonexistent")
    assert shutil.which("ssh") is None
    with pytest.raises(TargetError):
        Target(inv.nodes[0].url).check("true", timeout=5)

"""The Gluster part of the lab and its faults, against a real replica 3 volume and a FUSE client.

One lab for the module (``hdt-<worker>-gl``: Gluster only, no etcd) and an isolated ledger
(``HADRILL_STATE_DIR`` points at a temporary directory for the module). Every test leaves every
brick online, nothing pending heal and the ledger empty; traffic goes only to the lab's containers.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
from labtools import Harness, fresh_lab, wait_until

from hadrill import slo
from hadrill.clients.docker import container
from hadrill.clients.gluster import GlusterCli
from hadrill.clients.targets import target
from hadrill.errors import InjectionFailed, SafetyRefused
from hadrill.experiment import failure_report, run_experiment_file
from hadrill.faults import gluster as gluster_faults
from hadrill.faults.base import injected, recover
from hadrill.faults.container_kill import kill_witness
from hadrill.faults.gluster import Mode, stop_brick
from hadrill.faults.ledger import Ledger
from hadrill.inventory import Inventory, load_inventory
from hadrill.lab.lab import Lab
from hadrill.lab.labfile import parse_lab_data
from hadrill.probes import gluster
from hadrill.run import Run

pytestmark = [pytest.mark.lab, pytest.mark.chaos]

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = sorted((ROOT / "experiments").glob("gluster-*.yaml"))
DEADMAN_LIMIT = 5.0  # seconds: the harness's time limit in the deadman tests
DEADMAN_GRACE = 15.0  # seconds after the deadline the deadman may take (volume start force, unpause)

HARNESS = """\
import sys
import time
from pathlib import Path

from hadrill.faults.base import injected
from hadrill.faults.gluster import Mode, stop_brick
from hadrill.inventory import load_inventory

inventory, mode, server, time_limit = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
inv = load_inventory(Path(inventory))
cluster = inv.cluster("gluster")
with injected(stop_brick(inv, cluster, [server], mode=mode, time_limit=time_limit)) as record:
    print("INJECTED", record.id, record.deadline, flush=True)
    time.sleep(60)
"""


# -- fixtures --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lab(state_dir: Path) -> Iterator[Lab]:
    name = f"hdt-{WORKER}-gl"
    spec = parse_lab_data({"name": name, "etcd": None, "gluster": {"volume": "gv0", "ping_timeout": 5}}, "<test>")
    yield from fresh_lab(spec)


@pytest.fixture(scope="module")
def inv(lab: Lab) -> Inventory:
    return load_inventory(lab.inventory_path)


@pytest.fixture(autouse=True)
def clean_after(request: pytest.FixtureRequest, state_dir: Path) -> Iterator[None]:
    """After every test: nothing open in the ledger, every brick online, nothing pending heal."""
    yield
    if "inv" not in request.fixturenames:
        return
    inv = request.getfixturevalue("inv")
    leftovers = recover(Ledger(state_dir / "ledger.jsonl"), include_live=True)
    wait_until("volume healthy after the test", lambda: gluster.volume_problem(inv), timeout=60)
    wait_until("nothing pending heal after the test", lambda: pending_heal(inv), timeout=120, interval=1.0)
    assert not leftovers, f"the test left faults open: {[(r.id, o) for r, o in leftovers]}"


# -- helpers ---------------------------------------------------------------------------------------
def pending_heal(inv: Inventory) -> str | None:
    try:
        n = gluster.heal_count(inv, "gluster")
    except Exception as e:
        return str(e)
    return None if n == 0 else f"{n} entries pending heal"


def server(inv: Inventory, index: int) -> str:
    return inv.cluster("gluster").members[index].name


def brick_online(inv: Inventory, name: str) -> bool | None:
    """Whether ``name``'s brick is online, seen from another server (None: that server cannot say)."""
    c = inv.cluster("gluster")
    peer = next(m for m in c.members if m.name != name)
    try:
        bricks = GlusterCli(inv.member_node(c, peer.name).url, timeout=5).volume_status("gv0")
    except Exception:
        return None
    return bool(bricks.get(f"{name}:/bricks/b") and bricks[f"{name}:/bricks/b"].online)


def container_status(name: str) -> str:
    return str(docker.from_env().containers.get(name).status)


# -- the lab -------------------------------------------------------------------------------------------
def test_up_gives_three_online_bricks_a_mount_and_status_rows(lab: Lab, inv: Inventory) -> None:
    c = inv.cluster("gluster")
    assert c.type == "gluster" and c.failure_budget == 1 and len(c.members) == 3
    assert c.settings["volume"] == "gv0" and c.settings["mount"] == "/mnt/gv0" and c.settings["ping_timeout"] == 5
    assert set(c.settings["bricks"]) == {m.name for m in c.members}
    assert inv.node(c.settings["client"]).roles == ["gluster-client"]
    storage = next(n for n in inv.networks if n.storage)
    assert storage.mtu == 9000
    assert gluster.volume_problem(inv) is None

    rows = lab.status()
    bricks = [r for r in rows if r.role == "gluster brick"]
    assert [r.health for r in bricks] == ["online"] * 3, rows
    assert all(re.search(r"pid \d+, port \d+, 0 pending heal", r.detail) for r in bricks), rows
    assert all(r.address == inv.node(r.node).addresses[storage.name] for r in bricks)
    client = [r for r in rows if r.role == "gluster client"]
    assert [(r.node, r.health) for r in client] == [(c.settings["client"], "mounted")], rows

    # the peers know each other by name, over the storage network
    hosts = target(inv.member_node(c, server(inv, 0)).url).check(f"getent hosts {server(inv, 1)}")
    assert hosts.split()[0] == inv.node(server(inv, 1)).addresses[storage.name]


def test_up_is_idempotent_and_repairs_a_killed_brick_and_a_restarted_client(lab: Lab, inv: Inventory) -> None:
    c = inv.cluster("gluster")
    victim = server(inv, 2)
    pid = GlusterCli(inv.member_node(c, server(inv, 0)).url).volume_status("gv0", f"{victim}:/bricks/b")
    target(inv.member_node(c, victim).url).check(f"kill -9 {pid[f'{victim}:/bricks/b'].pid}")
    docker.from_env().containers.get(c.settings["client"]).restart(timeout=5)
    wait_until("brick seen offline", lambda: None if brick_online(inv, victim) is False else "online", timeout=15)

    started = time.monotonic()
    lab.up()
    took = time.monotonic() - started

    assert gluster.volume_problem(inv) is None
    assert took < 60, f"repairing up took {took:.1f} s"
    assert [r.health for r in lab.status()] == ["online"] * 3 + ["mounted"]


# -- faults --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("mode", "down_s", "stall_s"),
    [("kill-brick", 6.0, 2.0), ("kill-node", 6.0, 2.0), ("pause-node", 13.0, 12.0)],  # pause: 5 s ping-timeout, ≤2x
)
def test_stop_brick_is_proven_reverted_and_healed(
    mode: Mode, down_s: float, stall_s: float, inv: Inventory, ledger: Ledger, tmp_path: Path
) -> None:
    c = inv.cluster("gluster")
    victim = server(inv, 1)
    run = Run(inv, title=f"gluster {mode}", journal_dir=tmp_path, ledger=ledger)
    try:
        probe = gluster.gluster_write_probe(inv, interval=run.interval, duration=120).start()
        run.add_probe(probe.name, probe, read_back=gluster.gluster_read_back_for(inv))
        time.sleep(1.0)
        fault = stop_brick(inv, c, [victim], mode=mode, time_limit=90)
        with run.fault(fault) as rec:
            assert [r.id for r in ledger.open_faults()] == [rec.id]
            effect = [e.detail for e in fault.events if e.step == "effect"]
            if mode == "pause-node":
                assert container_status(victim) == "paused" and "paused" in effect[0], effect
            else:
                said = "brick process(es) gone" if mode == "kill-brick" else "first process (pid "
                assert said in effect[0], effect
                if mode == "kill-node":  # the engine's view follows
                    wait_until("exited", lambda: None if container_status(victim) == "exited" else "no", timeout=10)
                wait_until(  # glusterd's view follows (the proof reads the processes)
                    "brick offline for glusterd",
                    lambda: None if brick_online(inv, victim) is False else "online",
                    timeout=5,
                )
            time.sleep(down_s)
        assert brick_online(inv, victim) is True, "the revert did not bring the brick back"
        heal = run.check(gluster.wait_heal(inv, "gluster", 90, since=run.healed_at))
        assert heal.ok, heal.detail
        run.stop_probes(settle=1.0)
        run.assert_objectives(max_outage_s=stall_s, acked_writes_lost=0)
        acked = gluster.acked_files(run.samplers[probe.name].history)
        assert len(acked) > 30, f"only {len(acked)} acknowledged writes"
        on_bricks = gluster.acked_files_check(inv, "gluster", acked)
        assert on_bricks.ok, on_bricks.detail
        worst = slo.max_outage(run.samplers[probe.name].history.samples(), interval=run.interval)
        print(f"{mode}: longest stall {worst.duration if worst else 0.0:.2f} s; {heal.detail}")
    finally:
        run.close()
    assert ledger.open_faults() == []


@pytest.mark.parametrize("mode", ["kill-brick", "kill-node", "pause-node"])
def test_stop_brick_proof_fails_when_nothing_was_stopped(
    mode: Mode, inv: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never injected: the brick process runs (state S, not gone) and the container runs, so the
    proof fails within its limit (here 1 s) instead of saying the bricks are gone."""
    monkeypatch.setattr(gluster_faults, "_PROVE_S", 1.0)
    c = inv.cluster("gluster")
    fault = stop_brick(inv, c, [server(inv, 1)], mode=mode, time_limit=30)
    record = fault.record(None)
    if mode == "kill-brick":
        cli = GlusterCli(record.params["peer"])
        volume = record.params["volume"]
        record.params["pids"] = {b: cli.volume_status(volume, b)[b].pid for b in record.params["bricks"]}
        assert all(record.params["pids"].values())
    if mode == "kill-node":  # what the inject reads just before its kill
        record.params["witness"] = {n: kill_witness(container(n)) for n in record.params["containers"]}
    with pytest.raises(InjectionFailed, match="not observed within 1 s"):
        fault.prove(record)


def test_quorum_loss_is_refused_without_force(inv: Inventory, ledger: Ledger) -> None:
    c = inv.cluster("gluster")
    two = [server(inv, 1), server(inv, 2)]
    with pytest.raises(SafetyRefused, match="failure budget is 1"), injected(stop_brick(inv, c, two), ledger=ledger):
        pytest.fail("two bricks were stopped despite the failure budget")
    assert ledger.open_faults() == [], "a refused fault was recorded"
    assert all(brick_online(inv, s) for s in two), "a refused fault stopped a brick"

    with injected(stop_brick(inv, c, [two[0]], time_limit=30), ledger=ledger) as first:
        second = stop_brick(inv, c, [two[1]], time_limit=30)
        with pytest.raises(SafetyRefused, match="failure budget is 1"), injected(second, ledger=ledger):
            pytest.fail("a second brick was stopped despite the failure budget")
        assert [r.id for r in ledger.open_faults()] == [first.id]
        assert brick_online(inv, two[1]) is True


@pytest.mark.parametrize("mode", ["kill-brick", "pause-node"])
def test_deadman_brings_the_brick_back_after_the_harness_dies(
    mode: str, lab: Lab, inv: Inventory, ledger: Ledger, tmp_path: Path
) -> None:
    script = tmp_path / "harness.py"
    script.write_text(HARNESS)
    victim = server(inv, 2)
    h = Harness(
        [sys.executable, str(script), str(lab.inventory_path), mode, victim, str(DEADMAN_LIMIT)],
        tmp_path / "harness.log",
    )
    try:
        fault_id, deadline = h.wait_injected()
    finally:
        h.kill()
    if mode == "pause-node":
        assert container_status(victim) == "paused"
    else:  # glusterd's view, polled until the deadman's deadline: the CLI may be busy a moment (None)
        wait_until(
            "glusterd sees the brick offline before the deadman's deadline",
            lambda: None if brick_online(inv, victim) is False else "online or cannot say",
            timeout=max(0.5, deadline - time.time()), interval=0.2,
        )  # fmt: skip

    wait_until(
        "the deadman brought the brick back",
        lambda: None if container_status(victim) == "running" and brick_online(inv, victim) else "still down",
        timeout=max(0.0, deadline + DEADMAN_GRACE - time.time()),
    )
    assert [r.id for r in ledger.open_faults()] == [fault_id], "the dead harness's fault should still be open"
    assert [(r.id, o) for r, o in recover(ledger)] == [(fault_id, "reverted")]
    assert ledger.open_faults() == []


# -- experiments -------------------------------------------------------------------------------------
@pytest.mark.parametrize("experiment", EXPERIMENTS, ids=lambda p: p.stem)
def test_experiment_passes(experiment: Path, lab: Lab, inv: Inventory, tmp_path: Path) -> None:
    result = run_experiment_file(experiment, inventory=lab.inventory_path, journal_dir=tmp_path)

    assert result.ok, failure_report(result.journal)
    verdicts = {v["name"]: v for v in result.hadrill["verdicts"]}
    assert all(v["ok"] for v in verdicts.values()), verdicts
    assert {"heal_s", "acked_files_on_every_brick", "gluster-write acked_writes_lost"} <= set(verdicts), verdicts
    if experiment.stem == "gluster-lose-quorum":
        assert verdicts["writes_fail_without_quorum"]["ok"]
        samples = result.hadrill["histories"]["gluster-write"]["samples"]
        assert any(s["error"] == "ENOTCONN" for s in samples), "no write failed while quorum was lost"
    assert result.journal_path is not None and result.journal_path.is_file()


def test_too_strict_objective_fails_readably(lab: Lab, inv: Inventory, tmp_path: Path) -> None:
    lose_quorum = next(p for p in EXPERIMENTS if p.stem == "gluster-lose-quorum")
    result = run_experiment_file(
        lose_quorum, inventory=lab.inventory_path, journal_dir=tmp_path, objectives={"max_outage_s": 0.001}
    )

    assert not result.ok
    report = failure_report(result.journal)
    assert re.search(r"gluster-write max_outage: longest outage \d+\.\d\d s > objective 0\.00 s", report), report

"""NFS behind a keepalived VIP in a real offline lab: up, the experiment end to end, every way of
failing the VIP holder (kill, stop-nfs, link-down) with its revert, a readable failed objective,
the safety gate, and status.

One lab for the module (``hdt-<worker>-nfs``: two nfs-ganesha servers and a client, no etcd) and an
isolated state directory (ledger, inventory). Every test leaves the ledger empty, the VIP on exactly
one server and the other server BACKUP. Traffic goes only to the lab's containers and loopback.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from labtools import fresh_lab, wait_until

from hadrill.clients.docker import container
from hadrill.clients.nfs import server_state, vip_holder, vip_holders
from hadrill.errors import InjectionFailed, SafetyRefused
from hadrill.experiment import failure_report, run_experiment_file
from hadrill.faults import vip as vip_faults
from hadrill.faults.base import injected, recover
from hadrill.faults.container_kill import kill_witness
from hadrill.faults.ledger import Ledger
from hadrill.faults.vip import MODES, Mode, fail_vip
from hadrill.inventory import Inventory, load_inventory
from hadrill.lab.lab import Lab
from hadrill.lab.labfile import NfsPart, default_lab_file
from hadrill.probes.nfs import acked_files, nfs_read_back, nfs_read_back_for, nfs_write_probe
from hadrill.recovery.nfs import rejoined_as_backup, vip_moved
from hadrill.run import Run

pytestmark = [pytest.mark.lab, pytest.mark.chaos]

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
ROOT = Path(__file__).resolve().parents[2]
EXPERIMENT = ROOT / "experiments" / "nfs-fail-vip.yaml"
MAX_OUTAGE_S = 8.0  # at advert_int 1 s the VIP moves in ~3-4 s


# -- fixtures --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lab(state_dir: Path) -> Iterator[Lab]:
    spec = default_lab_file().model_copy(
        update={
            "name": f"hdt-{WORKER}-nfs",
            "etcd": None,
            "nfs": NfsPart(),
            "gluster": None,
            "kubernetes": None,
            "monitoring": None,
        }
    )
    yield from fresh_lab(spec)


@pytest.fixture(scope="module")
def inv(lab: Lab) -> Inventory:
    return load_inventory(lab.inventory_path)


@pytest.fixture(autouse=True)
def clean_after(request: pytest.FixtureRequest, state_dir: Path) -> Iterator[None]:
    """After every test: nothing open in the ledger, one VIP holder, the other server BACKUP."""
    yield
    if "inv" not in request.fixturenames:
        return
    inv = request.getfixturevalue("inv")
    leftovers = recover(Ledger(state_dir / "ledger.jsonl"), include_live=True)
    wait_until("NFS pair healthy after the test", lambda: unhealthy(inv), timeout=45)
    assert not leftovers, f"the test left faults open: {[(r.id, o) for r, o in leftovers]}"


# -- helpers ---------------------------------------------------------------------------------------
def unhealthy(inv: Inventory) -> str | None:
    """None when one server holds the VIP as MASTER and the other is a healthy BACKUP."""
    c = inv.cluster("nfs")
    states = {m.name: server_state(inv, c, m) for m in c.members}
    holders = [n for n, s in states.items() if s.holds_vip]
    if len(holders) != 1:
        return f"VIP held by {holders or 'nobody'}: {states}"
    for name, s in states.items():
        want = "MASTER" if name == holders[0] else "BACKUP"
        if not (s.nfs and s.keepalived and s.vrrp == want):
            return f"{name}: {s} (want {want})"
    return None


def nfs_run(inv: Inventory, ledger: Ledger, tmp_path: Path, title: str) -> Run:
    run = Run(inv, title=title, journal_dir=tmp_path, ledger=ledger)
    probe = nfs_write_probe(inv, "nfs", interval=run.interval, duration=90)
    run.add_probe(probe.name, probe.start(), read_back=nfs_read_back_for(inv, "nfs"))
    time.sleep(2.0)  # steady state first
    return run


# -- the lab ---------------------------------------------------------------------------------------
def test_lab_has_one_vip_holder_and_nfs_works_through_it(inv: Inventory) -> None:
    c = inv.cluster("nfs")
    assert c.type == "nfs" and c.failure_budget == 1
    assert [m.name for m in c.members] == [f"hdt-{WORKER}-nfs-nfs-1", f"hdt-{WORKER}-nfs-nfs-2"]
    assert {k: c.settings[k] for k in ("export", "client", "advert_int")} == {
        "export": "/export",
        "client": f"hdt-{WORKER}-nfs-nfs-client",
        "advert_int": 1.0,
    }
    assert c.settings["vip"].endswith(".20")
    assert {n.name: n.roles for n in inv.nodes} == {
        c.members[0].name: ["nfs-server"],
        c.members[1].name: ["nfs-server"],
        c.settings["client"]: ["nfs-client"],
    }
    holders = vip_holders(inv, c)
    assert len(holders) == 1, holders
    assert c.settings["holder"] == holders[0].name

    probe = nfs_write_probe(inv, "nfs", interval=0.1, duration=2).start()
    time.sleep(3.0)
    history = probe.stop()
    oks = history.oks()
    assert len(oks) >= 10 and not history.failures(), history.failures()[:3]
    acked = acked_files([s.detail for s in oks if s.detail])
    present = nfs_read_back(inv, "nfs", {**acked, "/hadrill-probe/never-written": "0" * 64})
    assert present == set(acked), sorted(set(acked) - present)[:5]


def test_status_rows_show_who_holds_the_vip(lab: Lab, inv: Inventory) -> None:
    rows = {r.node: r for r in lab.status()}
    holder = vip_holder(inv, inv.cluster("nfs"))
    assert holder is not None
    assert len(rows) == 3, rows
    assert all(r.state == "running" and r.health == "healthy" for r in rows.values()), rows
    assert rows[holder.node].role == "nfs active (VIP)"
    assert "vrrp MASTER" in rows[holder.node].detail
    backups = [r for r in rows.values() if r.role == "nfs backup"]
    assert len(backups) == 1 and "vrrp BACKUP" in backups[0].detail, rows
    assert holder.node in rows[inv.cluster("nfs").settings["client"]].detail


# -- the experiment --------------------------------------------------------------------------------
def test_experiment_file_passes(lab: Lab, inv: Inventory, tmp_path: Path) -> None:
    result = run_experiment_file(EXPERIMENT, inventory=lab.inventory_path, journal_dir=tmp_path)

    assert result.ok, failure_report(result.journal)
    verdicts = {v["name"]: v for v in result.hadrill["verdicts"]}
    assert all(v["ok"] for v in verdicts.values()), verdicts
    assert set(verdicts) >= {"nfs-write max_outage", "nfs-write acked_writes_lost", "vip_moved_s", "rejoined_backup_s"}
    assert result.hadrill["lost"] == {"nfs-write": []}
    assert len(result.hadrill["histories"]["nfs-write"]["samples"]) > 50
    print(f"\nexperiment: {verdicts['nfs-write max_outage']['detail']}; {verdicts['vip_moved_s']['detail']}")


def test_too_strict_rto_fails_readably(lab: Lab, inv: Inventory, tmp_path: Path) -> None:
    result = run_experiment_file(
        EXPERIMENT, inventory=lab.inventory_path, journal_dir=tmp_path, objectives={"max_outage_s": 0.001}
    )

    assert not result.ok
    report = failure_report(result.journal)
    assert re.search(r"nfs-write max_outage: longest outage \d+\.\d\d s > objective 0\.00 s", report), report


# -- each way of failing the VIP ------------------------------------------------------------------------
@pytest.mark.parametrize("mode", MODES)
def test_fail_vip_moves_the_vip_and_reverts(mode: Mode, inv: Inventory, ledger: Ledger, tmp_path: Path) -> None:
    c = inv.cluster("nfs")
    run = nfs_run(inv, ledger, tmp_path, f"fail vip {mode}")
    try:
        fault = fail_vip(inv, c, mode=mode, time_limit=60)
        former = fault.members[0]
        with run.fault(fault) as rec:
            assert [r.id for r in ledger.open_faults()] == [rec.id]
            effect = [e.detail for e in fault.events if e.step == "effect"]
            said = {"kill": "first process (pid ", "stop-service": "gone on", "link-down": "down on"}[mode]
            assert effect and said in effect[0] and "must move off" in effect[0], fault.events
            watched = rec.params.get
            moved = run.check(
                vip_moved(inv, c, former, rec.params["injected_at"], 6.0, moved_at=lambda: watched("vip_moved_at"))
            )
            assert moved.ok, moved.detail
            # The watcher is a thread of its own (it also asks the former holder): give it a moment.
            wait_until(
                "the fault's watcher saw the VIP move",
                lambda: None if "vip_moved_at" in rec.params else "no vip_moved_at in the record",
                timeout=5.0, interval=0.05,
            )  # fmt: skip
            assert rec.params["vip_moved_at"] <= time.time()
            holder = vip_holder(inv, c)
            assert holder is not None and holder.name != former
            failed = server_state(inv, c, c.member(former))
            if mode == "kill":
                assert not failed.running, failed
            elif mode == "stop-service":
                assert not failed.nfs and failed.vrrp == "FAULT", failed
            else:
                assert failed.nfs and failed.vrrp == "FAULT" and not failed.holds_vip, failed
            time.sleep(2.0)  # writes go on through the new holder
        back = run.check(rejoined_as_backup(inv, c, former, 30.0))
        assert back.ok, back.detail
        assert vip_holder(inv, c) == holder, "the failed server took the VIP back"
        run.stop_probes(settle=1.0)
        verdicts = run.assert_objectives(max_outage_s=MAX_OUTAGE_S, acked_writes_lost=0)
    finally:
        run.close()
    assert ledger.open_faults() == []
    print(f"\n{mode}: {effect[0]}; " + "; ".join(v.detail for v in verdicts))


@pytest.mark.parametrize("mode", MODES)
def test_fail_vip_proof_fails_when_the_holder_is_not_down(
    mode: Mode, inv: Inventory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The proof reads the holder's own state: never injected, it fails (within its limit, here 1 s)
    and starts no watcher (nothing would move)."""
    monkeypatch.setattr(vip_faults, "_PROVE_S", 1.0)
    fault = fail_vip(inv, inv.cluster("nfs"), mode=mode, time_limit=30)
    record = fault.record(None)
    record.params["injected_at"] = time.time()
    if mode == "kill":  # what the inject reads just before its kill
        record.params["witness"] = kill_witness(container(record.params["container"]))
    with pytest.raises(InjectionFailed, match=f"{mode} of {fault.members[0]} not observed"):
        fault.prove(record)
    time.sleep(0.2)
    assert "vip_moved_at" not in record.params


def test_safety_gate_refuses_failing_the_second_server(inv: Inventory, ledger: Ledger) -> None:
    c = inv.cluster("nfs")
    with injected(fail_vip(inv, c, mode="stop-nfs", time_limit=30), ledger=ledger) as rec:
        # The fault is proven when its server is down; the VIP moves after (keepalived's failover).
        moved = vip_moved(inv, c, rec.params["members"][0], rec.params["injected_at"], 30.0)
        assert moved.ok, moved.detail
        second = fail_vip(inv, c, mode="kill", time_limit=30)
        assert second.members[0] != rec.params["members"][0]
        with pytest.raises(SafetyRefused, match="failure budget is 1"), injected(second, ledger=ledger):
            pytest.fail("the second server was failed despite the failure budget")
        assert [r.id for r in ledger.open_faults()] == [rec.id]
        assert server_state(inv, c, c.member(second.members[0])).running
    assert ledger.open_faults() == []

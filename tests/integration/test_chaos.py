"""Faults against a real offline lab: experiments end to end, proof of effect, the safety gate, and
crash safety (deadmen and ``recover`` after the harness is SIGKILLed at any moment).

One lab for the whole module (``hdt-<worker>-chaos``) and one isolated ledger (``HADRILL_STATE_DIR``
points at a temporary directory for the module). Every test leaves the cluster healthy and the
ledger empty; traffic goes only to the lab's containers and loopback.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest
from labtools import Harness, fresh_lab, wait_until

from hadrill.clients.etcd import EtcdClient
from hadrill.clients.targets import target
from hadrill.errors import InjectionFailed, SafetyRefused, TargetError
from hadrill.experiment import failure_report, run_experiment_file
from hadrill.faults.base import injected, recover, revert_record
from hadrill.faults.etcd import etcd_leader, kill_member, partition_member, pick_member
from hadrill.faults.ledger import FaultRecord, Ledger
from hadrill.faults.network import Partition, inject_script
from hadrill.faults.process import ProcessFault
from hadrill.faults.stop import StoppedByOperator
from hadrill.inventory import Inventory, load_inventory
from hadrill.lab.lab import Lab
from hadrill.lab.labfile import default_lab_file
from hadrill.recovery import etcd as etcd_recovery
from hadrill.run import Run

pytestmark = [pytest.mark.lab, pytest.mark.chaos]

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = sorted((ROOT / "experiments").glob("etcd-*.yaml"))  # the others need their own labs
CHAIN = re.compile(r"^-N (HD[IO]-[0-9a-f]+)$", re.MULTILINE)
DEADMAN_LIMIT = 4.0  # seconds: the harness's time limit in the deadman tests
DEADMAN_GRACE = 6.0  # seconds after the deadline the deadman may take

# The harness a crash test SIGKILLs: it injects one fault through hadrill, says so, then sleeps.
HARNESS = """\
import sys
import time
from pathlib import Path

from hadrill.faults.base import injected
from hadrill.faults.etcd import kill_member, partition_member
from hadrill.inventory import load_inventory

inventory, kind, member, time_limit = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
hold = float(sys.argv[5]) if len(sys.argv) > 5 else 60.0
inv = load_inventory(Path(inventory))
cluster = inv.cluster("etcd")
m = cluster.member(member)
if kind == "partition":
    fault = partition_member(inv, cluster, m, time_limit=time_limit)
else:
    fault = kill_member(inv, cluster, m, action=kind, time_limit=time_limit)
with injected(fault) as record:
    print("INJECTED", record.id, record.deadline, flush=True)
    time.sleep(hold)
print("REVERTED", flush=True)
time.sleep(60)
"""


# -- fixtures --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lab(state_dir: Path) -> Iterator[Lab]:
    spec = (
        default_lab_file()
        .with_name(f"hdt-{WORKER}-chaos")
        .model_copy(update={"nfs": None, "gluster": None, "kubernetes": None, "monitoring": None})
    )
    yield from fresh_lab(spec)  # etcd only: the other parts have their own modules


@pytest.fixture(scope="module")
def inv(lab: Lab) -> Inventory:
    return load_inventory(lab.inventory_path)


@pytest.fixture(autouse=True)
def clean_after(request: pytest.FixtureRequest, state_dir: Path) -> Iterator[None]:
    """After every test: nothing open in the ledger, no rule left, the cluster healthy again."""
    yield
    if "inv" not in request.fixturenames:
        return
    inv = request.getfixturevalue("inv")
    leftovers = recover(Ledger(state_dir / "ledger.jsonl"), include_live=True)
    wait_until("cluster healthy after the test", lambda: unhealthy(inv), timeout=30)
    assert not leftovers, f"the test left faults open: {[(r.id, o) for r, o in leftovers]}"
    assert not any(chains(inv).values()), chains(inv)


# -- helpers ---------------------------------------------------------------------------------------
def node_url(inv: Inventory, member: str) -> str:
    return inv.member_node(inv.cluster("etcd"), member).url


def container_name(inv: Inventory, member: str) -> str:
    return node_url(inv, member).split("://", 1)[1]


def member_chains(inv: Inventory, member: str) -> list[str]:
    """hadrill's HDI-/HDO- chains present in a member's iptables."""
    return CHAIN.findall(target(node_url(inv, member)).check("iptables -S", timeout=10))


def chains(inv: Inventory) -> dict[str, list[str]]:
    return {m.name: member_chains(inv, m.name) for m in inv.cluster("etcd").members}


def unhealthy(inv: Inventory) -> str | None:
    """None when every member answers and all agree on one leader; else what is wrong."""
    leaders = set()
    for m in inv.cluster("etcd").members:
        try:
            leaders.add(EtcdClient(m.endpoints["client"], timeout=1.0).status().leader)
        except TargetError as e:
            return f"{m.name} does not answer: {e}"
    if len(leaders) != 1 or "0" in leaders or "" in leaders:
        return f"members disagree on the leader: {sorted(leaders)}"
    return None


def container_status(name: str) -> str:
    return str(docker.from_env().containers.get(name).status)


def etcd_states(inv: Inventory, member: str, pids: list[str]) -> list[str]:
    out = target(node_url(inv, member)).run(f"ps -o stat= -p {','.join(pids)}", timeout=10).stdout
    return out.split()


@pytest.fixture
def harness(tmp_path: Path, lab: Lab) -> Iterator[Callable[..., Harness]]:
    script = tmp_path / "harness.py"
    script.write_text(HARNESS)
    made: list[Harness] = []

    def start(kind: str, member: str, time_limit: float, hold: float = 60.0) -> Harness:
        argv = [sys.executable, str(script), str(lab.inventory_path), kind, member, str(time_limit), str(hold)]
        h = Harness(argv, tmp_path / f"harness-{len(made)}.log")
        made.append(h)
        return h

    try:
        yield start
    finally:
        for h in made:
            h.kill()


# -- experiments -------------------------------------------------------------------------------------
@pytest.mark.parametrize("experiment", EXPERIMENTS, ids=lambda p: p.stem)
def test_experiment_file_passes_with_a_full_journal(experiment: Path, lab: Lab, inv: Inventory, tmp_path: Path) -> None:
    result = run_experiment_file(experiment, inventory=lab.inventory_path, journal_dir=tmp_path)

    assert result.ok, failure_report(result.journal)
    verdicts = result.hadrill["verdicts"]
    assert verdicts and all(v["ok"] for v in verdicts), verdicts
    path = result.journal_path
    assert path is not None and path.is_file()
    text = path.read_text(encoding="utf-8")
    journal = json.loads(text)
    histories = journal["hadrill"]["histories"]
    assert set(histories) == {"etcd-write", "etcd-read"}
    for name, history in histories.items():
        assert len(history["samples"]) > 50, f"{name}: only {len(history['samples'])} samples"
    assert journal["hadrill"]["verdicts"] == verdicts
    activities = [a["activity"]["name"] for a in journal["run"]]
    assert "start-probes" in activities and "stop-probes" in activities, activities
    assert all(a["status"] == "succeeded" for a in journal["run"]), journal["run"]
    for secret in ("BEGIN", "PRIVATE KEY", "token"):
        assert secret.lower() not in text.lower(), f"the journal contains {secret!r}"


def test_strict_objective_fails_readably(lab: Lab, inv: Inventory, tmp_path: Path) -> None:
    kill_leader = next(p for p in EXPERIMENTS if p.stem == "etcd-kill-leader")
    result = run_experiment_file(
        kill_leader, inventory=lab.inventory_path, journal_dir=tmp_path, objectives={"max_outage_s": 0.001}
    )

    assert not result.ok
    report = failure_report(result.journal)
    assert "max_outage" in report, report
    assert re.search(r"longest outage \d+\.\d\d s > objective 0\.00 s", report), report


# -- proof of effect, safety gate ---------------------------------------------------------------------
def test_partition_isolates_member_and_majority_keeps_writing(inv: Inventory, ledger: Ledger, tmp_path: Path) -> None:
    cluster = inv.cluster("etcd")
    run = Run(inv, title="partition proof", journal_dir=tmp_path, ledger=ledger)
    try:
        run.start_etcd_probes()
        member = pick_member(inv, cluster, "follower")
        majority = [m for m in cluster.members if m.name != member.name]
        with run.fault(partition_member(inv, cluster, member, time_limit=30)) as rec:
            assert sorted(member_chains(inv, member.name)) == [f"HDI-{rec.id}", f"HDO-{rec.id}"]
            assert [r.id for r in ledger.open_faults()] == [rec.id]
            refused = run.check(etcd_recovery.member_refuses_writes(cluster, member))
            assert refused.ok, refused.detail
            written = None
            for _ in range(10):  # bounded: the majority may be electing for a moment
                try:
                    written = EtcdClient(majority[0].endpoints["client"], timeout=2.0).put(
                        f"/hadrill/test/majority/{rec.id}", "x"
                    )
                    break
                except TargetError:
                    time.sleep(0.3)
            assert written, "the majority refused a write while one member was partitioned"
        run.stop_probes(settle=1.0)
        run.assert_objectives(acked_writes_lost=0)
    finally:
        run.close()
    assert not any(chains(inv).values()), chains(inv)
    assert ledger.open_faults() == []


def test_safety_gate_refuses_a_second_partition_unless_forced(inv: Inventory, ledger: Ledger) -> None:
    cluster = inv.cluster("etcd")
    first, second = cluster.members[0], cluster.members[1]
    with injected(partition_member(inv, cluster, first, time_limit=30), ledger=ledger) as rec1:
        refused = partition_member(inv, cluster, second, time_limit=30)
        with pytest.raises(SafetyRefused, match="failure budget is 1"), injected(refused, ledger=ledger):
            pytest.fail("the second partition was injected despite the failure budget")
        assert member_chains(inv, second.name) == [], "a refused fault left rules behind"
        assert [r.id for r in ledger.open_faults()] == [rec1.id], "a refused fault was recorded"

        forced = partition_member(inv, cluster, second, time_limit=30, force=True)
        with injected(forced, ledger=ledger) as rec2:
            assert sorted(member_chains(inv, second.name)) == [f"HDI-{rec2.id}", f"HDO-{rec2.id}"]
            assert {r.id for r in ledger.open_faults()} == {rec1.id, rec2.id}
        assert member_chains(inv, second.name) == []
    assert not any(chains(inv).values()), chains(inv)
    assert ledger.open_faults() == []


# -- crash safety --------------------------------------------------------------------------------------
def test_deadman_reverts_partition_of_a_killed_harness(
    inv: Inventory, ledger: Ledger, harness: Callable[..., Harness]
) -> None:
    member = inv.cluster("etcd").members[2].name
    h = harness("partition", member, DEADMAN_LIMIT)
    fault_id, deadline = h.wait_injected()
    h.kill()

    seen = member_chains(inv, member)
    assert time.time() < deadline, "checked after the deadline: injection took nearly the whole time limit"
    assert sorted(seen) == [f"HDI-{fault_id}", f"HDO-{fault_id}"], "the rules vanished with the harness"

    wait_until(
        "deadman removed the chains",
        lambda: f"still there: {chains(inv)}" if any(chains(inv).values()) else None,
        timeout=max(0.0, deadline + DEADMAN_GRACE - time.time()),
    )
    assert [r.id for r in ledger.open_faults()] == [fault_id], "the dead harness's fault should still be open"

    outcomes = recover(ledger)
    assert [(r.id, o) for r, o in outcomes] == [(fault_id, "reverted")]
    assert ledger.open_faults() == []
    assert ledger.history() == [], "recover did not compact the ledger"
    assert not any(chains(inv).values())


@pytest.mark.parametrize("repetition", range(3))
def test_recover_after_sigkill_at_a_random_moment(
    repetition: int, inv: Inventory, ledger: Ledger, harness: Callable[..., Harness]
) -> None:
    """SIGKILL uniformly between the fault's ledger record and just after its revert (the harness holds
    it 1 s): a kill before anything was recorded would prove nothing, so the clock starts there."""
    member = inv.cluster("etcd").members[repetition % 3].name
    h = harness("partition", member, 60.0, 1.0)
    opened_at = wait_until(
        "the harness recorded its fault",
        lambda: None if any(e["event"] == "open" for e in ledger.history()) else "nothing in the ledger yet",
        timeout=30,
        interval=0.02,
    )
    delay = random.Random(20240917 + repetition).uniform(0.0, 3.5)  # record -> inject -> 1 s -> revert
    time.sleep(delay)
    h.kill()
    # Commands the harness had already sent (docker exec) finish on their own; a real recover runs
    # later still (the next session). Give them a moment so recover sees their final effect.
    time.sleep(1.0)

    opened = [e["record"]["id"] for e in ledger.history() if e["event"] == "open"]
    assert opened, f"killed {delay:.2f} s after the record ({opened_at:.2f} s wait) but nothing was recorded"
    found = f"kill {delay:.2f} s after the record: open {[r.id for r in ledger.open_faults()]}, chains {chains(inv)}"
    outcomes = recover(ledger)
    assert all(o.startswith("reverted") for _, o in outcomes), f"{found}: {outcomes}"
    assert not any(chains(inv).values()), f"{found}; after recover: {chains(inv)}"
    assert ledger.open_faults() == []
    wait_until(f"cluster healthy after a kill at {delay:.2f} s", lambda: unhealthy(inv), timeout=30)
    deadmen = target(node_url(inv, member)).run("pgrep -f 'hadrill-deadman-[0-9a-f]'", timeout=10)
    assert not deadmen.ok, f"{found}: a deadman is left in {member}: {deadmen.stdout}"


def test_host_deadman_unpauses_container_of_a_killed_harness(
    inv: Inventory, ledger: Ledger, harness: Callable[..., Harness]
) -> None:
    member = inv.cluster("etcd").members[1].name
    name = container_name(inv, member)
    h = harness("pause", member, DEADMAN_LIMIT)
    fault_id, deadline = h.wait_injected()
    h.kill()

    assert container_status(name) == "paused"
    wait_until(
        "host deadman unpaused the container",
        lambda: None if container_status(name) == "running" else container_status(name),
        timeout=max(0.0, deadline + DEADMAN_GRACE - time.time()),
    )
    assert [r.id for r in ledger.open_faults()] == [fault_id]
    assert [(r.id, o) for r, o in recover(ledger)] == [(fault_id, "reverted")]
    assert container_status(name) == "running"
    wait_until("cluster healthy after the pause", lambda: unhealthy(inv), timeout=30)


def test_process_stop_is_proven_and_reverted(inv: Inventory, ledger: Ledger) -> None:
    cluster = inv.cluster("etcd")
    member = cluster.members[0].name
    fault = ProcessFault(
        target=node_url(inv, member),
        process="etcd",
        signal="STOP",
        time_limit=20,
        cluster=f"{inv.platform}/{cluster.name}",
        members=(member,),
        failure_budget=cluster.failure_budget,
    )
    with injected(fault, ledger=ledger) as rec:
        pids = rec.params["pids"]
        effect = [e.detail for e in fault.events if e.step == "effect"]
        assert effect and "stopped" in effect[0], fault.events
        assert etcd_states(inv, member, pids) and all(s.startswith("T") for s in etcd_states(inv, member, pids))
    states = etcd_states(inv, member, pids)
    assert states and not any(s.startswith("T") for s in states), states
    assert ledger.open_faults() == []


def test_recover_reverts_partition_of_a_member_that_is_also_paused(inv: Inventory, ledger: Ledger) -> None:
    cluster = inv.cluster("etcd")
    member = cluster.members[2]
    faults = [
        partition_member(inv, cluster, member, time_limit=30),
        kill_member(inv, cluster, member, action="pause", time_limit=30, force=True),
    ]
    records = []
    try:
        for fault in faults:  # what a harness SIGKILLed inside both blocks leaves behind
            record = fault.record(run="dead-harness")
            ledger.open(record)
            records.append(record)
            fault.arm_deadman(record)
            fault.inject(record)
            fault.prove(record)
        outcomes = recover(ledger)
        assert [o for _, o in outcomes] == ["reverted", "reverted"], outcomes
        assert ledger.open_faults() == []
        assert container_status(container_name(inv, member.name)) == "running"
        assert member_chains(inv, member.name) == [], "recover closed the partition but its rules remain"
    finally:
        for record in reversed(records):  # whatever is left, so the next test starts clean
            revert_record(record)
            ledger.close(record.id, "recovered")


# -- races, expiry, picking, emergency stop ----------------------------------------------------------------
def test_pause_expired_by_its_deadman_reverts_cleanly_and_is_reported(inv: Inventory, ledger: Ledger) -> None:
    """The host deadman unpauses first (the fault outlives its 3 s limit): the heal then finds the
    container running (unpause would answer 409), which is success, and the expiry is an event."""
    cluster = inv.cluster("etcd")
    member = cluster.members[1]
    fault = kill_member(inv, cluster, member, action="pause", time_limit=3)
    with injected(fault, ledger=ledger) as rec:
        assert container_status(container_name(inv, member.name)) == "paused"
        wait_until(
            "the deadman unpaused it",
            lambda: None if container_status(container_name(inv, member.name)) == "running" else "still paused",
            timeout=3 + DEADMAN_GRACE,
        )
    steps = [e.step for e in fault.events]
    assert steps == ["inject", "effect", "revert_start", "expired", "revert"], steps
    closed = [e for e in ledger.history() if e["event"] == "closed" and e["id"] == rec.id]
    assert [e["how"] for e in closed] == ["expired"]
    assert (Path(os.environ["HADRILL_STATE_DIR"]) / "deadmen" / f"{rec.id}.fired").is_file()


def test_run_journal_says_an_expired_fault_ended_at_its_deadline(
    inv: Inventory, ledger: Ledger, tmp_path: Path
) -> None:
    cluster = inv.cluster("etcd")
    run = Run(inv, title="expiry", journal_dir=tmp_path, ledger=ledger)
    try:
        member = cluster.members[2]
        with run.fault(partition_member(inv, cluster, member, time_limit=2)) as rec:
            wait_until("deadman removed the chains", lambda: "still" if member_chains(inv, member.name) else None,
                       timeout=2 + DEADMAN_GRACE)  # fmt: skip
    finally:
        run.close()
    faults = run.to_journal()["faults"]
    assert faults[0]["expired"] is True and faults[0]["end"] == rec.deadline
    assert any(e["text"].startswith("expired: time limit 2 s passed") for e in run.timeline())


def test_second_kill_picks_a_member_the_first_did_not_stop(inv: Inventory, ledger: Ledger) -> None:
    cluster = inv.cluster("etcd")
    leader = pick_member(inv, cluster, "leader", ledger=ledger)
    with injected(kill_member(inv, cluster, leader, action="stop", time_limit=60), ledger=ledger):
        wait_until("a new leader", lambda: None if etcd_leader(inv, cluster) else "none", timeout=20)
        second = pick_member(inv, cluster, "follower", ledger=ledger)
        assert second.name != leader.name, "picked the member the first fault already stopped"
        again = kill_member(inv, cluster, leader, action="kill", time_limit=60, force=True)
        with pytest.raises(InjectionFailed, match="exited before the fault"), injected(again, ledger=ledger):
            pytest.fail("a kill of an already stopped container was taken as proven")
        forced = kill_member(inv, cluster, second, action="kill", time_limit=60, force=True)
        name = container_name(inv, second.name)
        pid = docker.from_env().containers.get(name).attrs["State"]["Pid"]
        with injected(forced, ledger=ledger):
            # proven from its first process's death, which the engine's "exited" follows
            effect = [e.detail for e in forced.events if e.step == "effect"]
            assert effect == [f"container {name}'s first process (pid {pid}) dead, and every process with it"], effect
            wait_until("the engine says exited", lambda: None if container_status(name) == "exited" else "not yet",
                       timeout=10)  # fmt: skip
            third = next(m for m in cluster.members if m.name not in (leader.name, second.name))
            assert [pick_member(inv, cluster, "random", ledger=ledger).name for _ in range(5)] == [third.name] * 5


def test_hadrill_stop_from_another_terminal_reverts_and_aborts_the_run(
    inv: Inventory, ledger: Ledger, tmp_path: Path
) -> None:
    cluster = inv.cluster("etcd")
    member = cluster.members[0]
    run = Run(inv, title="stopped", journal_dir=tmp_path, ledger=ledger)
    hadrill = str(Path(sys.executable).with_name("hadrill"))
    try:
        rec = run.inject(partition_member(inv, cluster, member, time_limit=120))
        assert member_chains(inv, member.name) == [f"HDI-{rec.id}", f"HDO-{rec.id}"]
        stop = subprocess.run([hadrill, "stop", "--reason", "test"], capture_output=True, text=True, timeout=120)
        assert stop.returncode == 0, stop.stdout + stop.stderr
        assert f"{rec.id}" in stop.stdout and "reverted" in stop.stdout, stop.stdout
        assert member_chains(inv, member.name) == [], "hadrill stop left the live run's fault in place"
        with pytest.raises(StoppedByOperator, match="stopped by operator"):
            run.inject(partition_member(inv, cluster, cluster.members[1], time_limit=30))
        with pytest.raises(StoppedByOperator, match="stopped by operator"):
            run.start_etcd_probes()
        run.heal()  # the run's own heal finds the fault reverted: success, not an error
    finally:
        run.close()
        resumed = subprocess.run([hadrill, "resume"], capture_output=True, text=True, timeout=30)
    assert resumed.returncode == 0 and "stop lifted" in resumed.stdout, resumed.stdout + resumed.stderr
    assert ledger.open_faults() == []


def test_crash_trials_leave_no_fault_behind(lab: Lab, inv: Inventory, ledger: Ledger, tmp_path: Path) -> None:
    """The short version of ``bench/crash_trials.py``: per kind (in-target and host deadman), one SIGKILL
    at a random moment followed by ``recover`` and one left to the deadman alone; targets inspected."""
    spec = importlib.util.spec_from_file_location("crash_trials", ROOT / "bench" / "crash_trials.py")
    assert spec is not None and spec.loader is not None
    crash = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("crash_trials", crash)  # its dataclass looks itself up there
    spec.loader.exec_module(crash)
    script = tmp_path / "harness.py"
    script.write_text(crash.HARNESS)
    client = docker.from_env()
    rng = random.Random(20261203)
    trials = []
    for kind in ("etcd.partition", "etcd.pause"):
        span = crash.calibrate(script, lab.inventory_path, kind, tmp_path / "calibrate.log")
        wait_until("clean after calibration", lambda: "; ".join(crash.left_behind(client, inv, "etcd")) or None,
                   timeout=30)  # fmt: skip
        for path in ("recover", "deadman alone"):
            at = rng.uniform(0.0, span)
            t = crash.trial(client, script, inv, lab.inventory_path, kind, path, at, rng.randrange(1 << 30), ledger,
                            tmp_path / "trials.log")  # fmt: skip
            trials.append((kind, path, f"{at:.2f} s", t.phase, t.left))
    assert all(not left for *_, left in trials), trials
    assert ledger.open_faults() == []


# -- proofs fail when the effect is absent -----------------------------------------------------------
def test_partition_proof_fails_when_the_rules_do_not_cut_the_peers(inv: Inventory) -> None:
    """Chains of the fault's own, but dropping an unrelated address: the peers answer, the proof fails;
    and with no chains at all it fails too. Either way within the proof's 5 s, never a false 'cut'."""
    cluster = inv.cluster("etcd")
    member = pick_member(inv, cluster, "follower")
    fault = partition_member(inv, cluster, member, time_limit=30)
    record = fault.record(None)
    t = target(record.target)
    try:
        with pytest.raises(InjectionFailed):
            fault.prove(record)  # nothing injected: no chains
        decoy = FaultRecord(**{**record.to_dict(), "params": {**record.params, "peers": ["192.0.2.1"]}})
        t.check(inject_script(decoy), timeout=20)  # the fault's chains, hooked in, cutting nobody it names
        with pytest.raises(InjectionFailed, match="cut from"):
            fault.prove(record)
    finally:
        Partition.revert(record)


def test_freeze_proof_fails_when_the_process_runs(inv: Inventory) -> None:
    cluster = inv.cluster("etcd")
    member = cluster.members[0].name
    fault = ProcessFault(target=node_url(inv, member), process="etcd", signal="STOP", time_limit=20,
                         cluster=f"{inv.platform}/{cluster.name}", members=(member,),
                         failure_budget=cluster.failure_budget)  # fmt: skip
    record = fault.record(None)
    record.params["pids"] = target(record.target).check("pgrep -x etcd", timeout=10).split()
    assert record.params["pids"]
    with pytest.raises(InjectionFailed, match="etcd stopped"):
        fault.prove(record)  # never signalled: running (state S or R), not T

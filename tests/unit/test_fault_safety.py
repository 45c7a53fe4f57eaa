"""The fault gate's safety logic, with a fake fault and a temporary ledger: revert, verify, then disarm;
retries that re-arm the deadman; expiries; one budget per underlying member; picking that skips held
members; the emergency stop; private state files; values that reach shells.

The expected values are worked out by hand here (call orders, counts, modes), never by the code under test.
"""

from __future__ import annotations

import fcntl
import os
import stat
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
from docker.errors import APIError

from hadrill.errors import ConfigError, InjectionFailed, RevertFailed, SafetyRefused, TargetError
from hadrill.faults import base, container, kinds, vip
from hadrill.faults.base import Fault, injected, recover
from hadrill.faults.deadman import script, sleep_seconds
from hadrill.faults.ledger import FaultRecord, Ledger
from hadrill.faults.network import Partition, inject_script
from hadrill.faults.picking import free_members
from hadrill.faults.stop import StoppedByOperator, resume, write_stop
from hadrill.inventory import Cluster

LOG: list[str] = []


@dataclass
class FakeFault(Fault):
    """Records every call; ``fail_reverts`` reverts fail before one succeeds; ``fire`` says the deadman ran."""

    fail_reverts: int = 0
    fire: bool = False
    fail_disarm: bool = False
    kind: ClassVar[str] = "test.fake"
    state: dict[str, Any] = field(default_factory=dict)

    def params(self) -> dict[str, Any]:
        return {
            **super().params(),
            "fail_reverts": self.fail_reverts,
            "fire": self.fire,
            "fail_disarm": self.fail_disarm,
        }

    @classmethod
    def arm_deadman(cls, record: FaultRecord) -> None:
        LOG.append(f"arm {record.deadline - time.time():.0f}")

    def inject(self, record: FaultRecord) -> None:
        LOG.append("inject")

    @classmethod
    def revert(cls, record: FaultRecord) -> None:
        failed = sum(1 for line in LOG if line == "revert failed")
        if failed < record.params["fail_reverts"]:
            LOG.append("revert failed")
            raise RevertFailed("engine hiccup")
        LOG.append("revert")

    @classmethod
    def disarm(cls, record: FaultRecord) -> None:
        LOG.append("disarm")
        if record.params["fail_disarm"]:
            raise TargetError("pkill: permission denied")

    @classmethod
    def fired(cls, record: FaultRecord) -> bool:
        return bool(record.params["fire"])


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    LOG.clear()
    monkeypatch.setitem(kinds.KINDS, "test.fake", f"{__name__}:FakeFault")  # recover finds it by kind
    monkeypatch.setenv("HADRILL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(base, "RETRY_FIRST_S", 0.01)
    monkeypatch.setattr(base, "RETRY_MAX_S", 0.02)


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "state" / "ledger.jsonl")


def _events(ledger: Ledger, kind: str) -> list[dict[str, Any]]:
    return [e for e in ledger.history() if e["event"] == kind]


# -- revert, verify, then disarm -----------------------------------------------------------------------
def test_deadman_is_disarmed_only_after_the_verified_revert(ledger: Ledger) -> None:
    fault = FakeFault(target="local://", time_limit=30)
    with injected(fault, ledger=ledger):
        pass
    assert LOG == ["arm 30", "inject", "revert", "disarm"]
    assert [e["how"] for e in _events(ledger, "closed")] == ["reverted"]


def test_failed_revert_keeps_fault_open_rearms_deadman_soon_and_retries(ledger: Ledger) -> None:
    fault = FakeFault(target="local://", time_limit=60, fail_reverts=2)
    with injected(fault, ledger=ledger) as record:
        pass
    # two failures, each noted with its reason and followed by a deadman re-armed to fire in REARM_S (5 s)
    assert LOG == ["arm 60", "inject", "revert failed", "arm 5", "revert failed", "arm 5", "revert", "disarm"]
    failed = _events(ledger, "revert_failed")
    assert [e["id"] for e in failed] == [record.id, record.id]
    assert all("engine hiccup" in e["error"] for e in failed)
    assert [e["how"] for e in _events(ledger, "closed")] == ["reverted"]
    assert [e.step for e in fault.events].count("revert_failed") == 2


def test_revert_failing_until_the_time_limit_raises_and_stays_open(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(base, "RETRY_MIN_WINDOW_S", 0.1)
    fault = FakeFault(target="local://", time_limit=0.05, fail_reverts=10_000)
    with pytest.raises(RevertFailed, match="stays open in the ledger"), injected(fault, ledger=ledger):
        pass
    assert "disarm" not in LOG, "a deadman must never be disarmed while its fault is not reverted"
    assert [r.kind for r in ledger.open_faults()] == ["test.fake"]
    assert LOG.count("arm 5") == LOG.count("revert failed") >= 2


def test_deadman_that_fired_first_is_an_expiry_event_and_closes_as_expired(ledger: Ledger) -> None:
    fault = FakeFault(target="local://", time_limit=30, fire=True)
    with injected(fault, ledger=ledger):
        pass
    assert [e.step for e in fault.events] == ["inject", "effect", "revert_start", "expired", "revert"]
    assert [e["how"] for e in _events(ledger, "closed")] == ["expired"]


def test_disarm_failure_is_reported_not_swallowed(ledger: Ledger) -> None:
    fault = FakeFault(target="local://", time_limit=30, fail_disarm=True)
    with injected(fault, ledger=ledger):
        pass
    failed = [e.detail for e in fault.events if e.step == "disarm_failed"]
    assert failed == ["deadman not disarmed: pkill: permission denied"]


def test_recover_rearms_the_deadman_of_a_fault_it_could_not_revert(ledger: Ledger) -> None:
    fault = FakeFault(target="local://", time_limit=30, fail_reverts=10_000)
    record = fault.record(run="dead-harness")
    ledger.open(record)
    outcomes = recover(ledger)
    assert [o.split(":")[0] for _, o in outcomes] == ["revert failed"]
    assert LOG == ["revert failed", "arm 5"]
    assert [r.id for r in ledger.open_faults()] == [record.id]


# -- deadman scripts ---------------------------------------------------------------------------------
def test_deadman_sleeps_whole_seconds_and_chains_with_and() -> None:
    rec = FaultRecord(id="abc", kind="k", target="t", params={}, created=100.0, deadline=159.9)
    text = script(rec, "iptables -F X", now=100.0)
    # BusyBox sleep rejects "59.9" and `;` would then run the revert at once: 60 whole seconds and &&
    assert text.startswith("sleep 60 && : hadrill-deadman-abc && {")
    assert sleep_seconds(100.0, now=100.0) == 1  # never "sleep 0"
    assert "iptables -F X" in text and "/tmp/hadrill-deadman-abc.fired" in text


# -- the safety gate -----------------------------------------------------------------------------------
def _fault(cluster: str, member: str, node: str, nodes: dict[str, str], budget: int = 1) -> FakeFault:
    return FakeFault(
        target="local://", cluster=cluster, members=(member,), nodes=(node,), cluster_nodes=nodes,
        failure_budget=budget, time_limit=30,
    )  # fmt: skip


def test_stacked_member_counts_once_across_coupled_clusters(ledger: Ledger) -> None:
    masters = {"master-1": "n1", "master-2": "n2", "master-3": "n3"}
    etcd = {"etcd-1": "n1", "etcd-2": "n2", "etcd-3": "n3"}
    with injected(_fault("lab/kubernetes", "master-1", "n1", masters), ledger=ledger):
        # etcd-1 is on n1, already down with its master: etcd-2 would be the 2nd of 3, over budget 1
        with (
            pytest.raises(SafetyRefused, match="etcd-1, etcd-2"),
            injected(_fault("lab/k8s-etcd", "etcd-2", "n2", etcd), ledger=ledger),
        ):
            pass
        # the same machine again through the other cluster is still one member: allowed
        with injected(_fault("lab/k8s-etcd", "etcd-1", "n1", etcd), ledger=ledger):
            pass


def test_budget_check_and_append_hold_the_ledger_lock(ledger: Ledger, tmp_path: Path) -> None:
    lock = ledger.path.with_name(ledger.path.name + ".lock")
    probe = (
        "import fcntl, os, sys\n"
        f"fd = os.open({str(lock)!r}, os.O_RDWR)\n"
        "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept BlockingIOError:\n    sys.exit(7)\n"
    )
    with ledger.guard():
        ledger.open(_fault("c", "m", "n", {"m": "n"}).record())  # nested append: no self-deadlock
        held = subprocess.run([sys.executable, "-c", probe], timeout=20).returncode
    free = subprocess.run([sys.executable, "-c", probe], timeout=20).returncode
    assert (held, free) == (7, 0)
    assert fcntl.LOCK_EX  # the lock is flock(2), shared with every other hadrill process


# -- picking -------------------------------------------------------------------------------------------
def test_picking_skips_members_an_open_fault_holds(ledger: Ledger) -> None:
    cluster = Cluster.model_validate(
        {"name": "etcd", "type": "etcd", "failure_budget": 1,
         "members": [{"name": f"etcd-{i}", "node": f"n{i}"} for i in (1, 2, 3)]}
    )  # fmt: skip
    ledger.open(_fault("lab/etcd", "etcd-1", "n1", {}).record())
    assert [m.name for m in free_members(cluster, ledger=ledger)] == ["etcd-2", "etcd-3"]
    with pytest.raises(TargetError, match="no follower to pick: etcd-1 already held"):
        free_members(cluster, [cluster.members[0]], ledger=ledger, what="follower")


# -- emergency stop ------------------------------------------------------------------------------------
def test_stop_refuses_new_faults_until_resume(ledger: Ledger) -> None:
    write_stop("drill went wrong")
    with (
        pytest.raises(StoppedByOperator, match="stopped by operator"),
        injected(FakeFault(target="local://"), ledger=ledger),
    ):
        pass
    assert ledger.history() == [] and LOG == []
    assert resume() is True
    with injected(FakeFault(target="local://"), ledger=ledger):
        pass
    assert LOG[-1] == "disarm"


# -- private state ---------------------------------------------------------------------------------------
def test_ledger_and_state_dir_are_created_private(ledger: Ledger) -> None:
    ledger.open(FakeFault(target="local://").record())
    assert stat.S_IMODE(ledger.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(ledger.path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(ledger.path.with_name("ledger.jsonl.lock").stat().st_mode) == 0o600


def test_state_dir_writable_by_others_is_refused(tmp_path: Path) -> None:
    d = tmp_path / "shared"
    d.mkdir()
    d.chmod(0o777)
    with pytest.raises(ConfigError, match="not writable by group or others"):
        Ledger(d / "ledger.jsonl").open(FakeFault(target="local://").record())


def test_recover_refuses_to_replay_a_ledger_others_could_write(tmp_path: Path) -> None:
    d = tmp_path / "state"
    ledger = Ledger(d / "ledger.jsonl")
    ledger.open(FakeFault(target="local://").record(run="dead"))
    ledger.path.chmod(0o666)
    with pytest.raises(ConfigError, match="not writable by group or others"):
        recover(ledger)
    assert LOG == [], "a record from a world-writable ledger was replayed"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file to another user")
def test_ledger_owned_by_someone_else_is_refused(tmp_path: Path) -> None:
    d = tmp_path / "state"
    d.mkdir(mode=0o700)
    path = d / "ledger.jsonl"
    path.write_text("")
    os.chown(path, 65534, 65534)
    with pytest.raises(ConfigError, match="owned by uid"):
        Ledger(path).open(FakeFault(target="local://").record())


# -- values that reach a shell -------------------------------------------------------------------------
def test_partition_refuses_a_peer_or_port_that_is_not_one() -> None:
    with pytest.raises(InjectionFailed, match="not an address"):
        Partition(target="local://", peers=("10.0.0.2; rm -rf /",)).params()
    with pytest.raises(InjectionFailed, match="not a TCP port"):
        Partition(target="local://", peers=("10.0.0.2",), port=70000).params()
    rec = FaultRecord(id="abc", kind="network.partition", target="t", params={"peers": ["10.0.0.2"], "port": 2380},
                      created=0, deadline=1)  # fmt: skip
    assert "-A HDI-abc -s 10.0.0.2 -p tcp --dport 2380 -j DROP" in inject_script(rec)


# -- races with the deadman -------------------------------------------------------------------------
class _FakeContainer:
    def __init__(self, states: list[str], error: str = "") -> None:
        self.states, self.error, self.name = states, error, "c1"

    @property
    def status(self) -> str:
        return self.states[0] if len(self.states) == 1 else self.states.pop(0)

    def unpause(self) -> None:
        if self.error:
            raise APIError(self.error, explanation=self.error)

    start = unpause


def test_unpause_409_after_the_deadman_unpaused_is_success(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _FakeContainer(["paused", "running"], error="409 Conflict: Container c1 is not paused")
    monkeypatch.setattr(container, "_container", lambda name: fake)
    container.start_container("c1")  # no exception: the verified state is reverted


def test_unpause_error_while_still_paused_fails_the_revert(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _FakeContainer(["paused"], error="500 freezer busy")
    monkeypatch.setattr(container, "_container", lambda name: fake)
    with pytest.raises(RevertFailed, match="now paused"):
        container.start_container("c1")


def test_engine_not_answering_is_not_a_stopped_container(monkeypatch: pytest.MonkeyPatch) -> None:
    def unreachable(name: str) -> None:
        raise TargetError(f"cannot reach the Docker engine for container {name}: timed out")

    monkeypatch.setattr(vip, "_container", unreachable)
    assert vip._stopped("nfs-1") is False


# -- the restore drill leaves nothing behind ---------------------------------------------------------------
def test_backup_cronjob_runs_etcdctl_itself_not_a_shell_the_distroless_image_lacks() -> None:
    from hadrill.restore import backup_cronjob

    pod = backup_cronjob()["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    command = pod["containers"][0]["command"]
    assert command[0] == "etcdctl" and "/bin/sh" not in command and "sh" not in command
    assert command[-3:] == ["snapshot", "save", "/backup/etcd-snapshot.db"]


class _FakeApi:
    deleted: ClassVar[list[str]] = []

    def __init__(self, server: str, tls: Any, timeout: float = 2.0) -> None:
        pass

    def request(self, method: str, path: str, body: Any = None) -> None:
        from hadrill.clients.kube import KubeApiError

        if path.endswith("/gone"):
            raise KubeApiError("not found", 404)
        _FakeApi.deleted.append(f"{method} {path}")


@pytest.mark.parametrize("keep", [False, True])
def test_drill_objects_revert_deletes_objects_and_snapshots(
    keep: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ledger: Ledger
) -> None:
    import hadrill.clients.kube
    from hadrill.faults.etcd_restore import DrillObjects

    _FakeApi.deleted = []
    monkeypatch.setattr(hadrill.clients.kube, "KubeApi", _FakeApi)
    snap = tmp_path / "kubernetes-1.db"
    snap.write_bytes(b"every secret")
    fault = DrillObjects(
        target="docker://m1", force=True, api="https://127.0.0.1:6443",
        api_access={"api_tls": {"ca": "ca", "cert": "c", "key": "k"}},
        objects=("/apis/batch/v1/namespaces/kube-system/cronjobs/etcd-backup", "/api/v1/namespaces/gone"),
        host_files=(str(snap),), keep_dir=str(tmp_path / "kept") if keep else "",
    )  # fmt: skip
    with injected(fault, ledger=ledger):
        assert [r.kind for r in ledger.open_faults()] == ["etcd-restore.objects"]  # recorded before anything
    assert _FakeApi.deleted == ["DELETE /apis/batch/v1/namespaces/kube-system/cronjobs/etcd-backup"]
    assert not snap.exists()
    assert (tmp_path / "kept" / "kubernetes-1.db").is_file() is keep
    assert ledger.open_faults() == []

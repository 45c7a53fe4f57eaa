"""The disaster procedure's pure parts: the host deadman's network ops (a recorded fake engine: the
real one is exercised by tests/integration/test_swarm.py) and the deadman plan of ForceNewCluster."""

from __future__ import annotations

from typing import Any

from hadrill.faults.hostdeadman import fire
from hadrill.faults.ledger import FaultRecord


class _Net:
    def __init__(self, name: str, calls: list[tuple[Any, ...]]) -> None:
        self.name, self.calls = name, calls

    def disconnect(self, c: Any, force: bool = False) -> None:
        self.calls.append(("disconnect", c.name, self.name, force))

    def connect(self, c: Any, ipv4_address: str | None = None) -> None:
        self.calls.append(("connect", c.name, self.name, ipv4_address))


class _Container:
    def __init__(self, name: str, calls: list[tuple[Any, ...]]) -> None:
        self.name, self.calls, self.status = name, calls, "exited"

    def reload(self) -> None: ...

    def start(self) -> None:
        self.calls.append(("start", self.name))
        self.status = "running"

    def exec_run(self, cmd: list[str]) -> tuple[int, bytes]:
        self.calls.append(("exec", self.name, cmd[-1]))
        return 0, b"Node left the swarm."


class _Engine:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self._c: dict[str, _Container] = {}
        self.containers, self.networks = self, self

    def get(self, name: str) -> Any:  # containers.get and networks.get
        if name.endswith("-net"):
            return _Net(name, self.calls)
        return self._c.setdefault(name, _Container(name, self.calls))


def _record() -> FaultRecord:
    lost = [
        {"name": f"m{i}", "url": f"docker://m{i}", "container": f"m{i}", "address": f"10.0.0.8{i}",
         "networks": {"lab-net": f"10.0.0.8{i}"}}
        for i in (1, 2)
    ]  # fmt: skip
    return FaultRecord(
        id="abc", kind="swarm.force_new_cluster", target="docker://m3", params={"lost": lost}, created=0.0,
        deadline=1.0, run="t", description="",
    )  # fmt: skip


def test_deadman_restarts_each_lost_manager_cut_off_then_connects_it_at_its_address(monkeypatch: Any) -> None:
    from hadrill.faults import swarm_disaster

    planned: list[list[dict[str, Any]]] = []
    monkeypatch.setattr(swarm_disaster, "arm_on_host", lambda record, actions: planned.append(actions))
    swarm_disaster.ForceNewCluster.arm_deadman(_record())
    engine = _Engine()
    lines = fire(engine, planned[0])
    # per manager, in this order: off the network, started, left its old swarm, back at its own address
    assert [c[:3] if c[0] != "exec" else c[:2] for c in engine.calls] == [
        ("disconnect", "m1", "lab-net"), ("start", "m1"), ("exec", "m1"), ("connect", "m1", "lab-net"),
        ("disconnect", "m2", "lab-net"), ("start", "m2"), ("exec", "m2"), ("connect", "m2", "lab-net"),
    ]  # fmt: skip
    assert ("connect", "m2", "lab-net", "10.0.0.82") in engine.calls
    assert all("docker swarm leave --force" in c[2] for c in engine.calls if c[0] == "exec")
    assert not any("join" in str(a) for a in planned[0])  # no token: the deadman never joins
    assert len(lines) == 8 and not any("FAILED" in line for line in lines), lines


def test_default_drill_of_a_swarm_inventory_runs_the_five_swarm_scenarios() -> None:
    from pathlib import Path

    from hadrill.plan import default_plan

    folder = Path(__file__).resolve().parents[2] / "experiments"
    plan = default_plan(folder, clusters={"swarm"})
    names = [Path(str(s.experiment)).stem for s in plan.scenarios]
    assert [n for n in names if n.startswith("swarm-")] == [
        "swarm-drain-node", "swarm-force-new-cluster", "swarm-kill-leader", "swarm-kill-worker", "swarm-lose-quorum",
    ]  # fmt: skip
    assert not any(n.startswith("kube-") for n in names)  # they need a kubernetes cluster: listed as not run
    assert {n.experiment for n in plan.not_run} >= {"kube-kill-master.yaml", "kube-drain-worker-pdb.yaml"}

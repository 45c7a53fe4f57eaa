"""Kubernetes chaos against the lab's HA control plane: kill a master, drain a worker under a PDB
(Chaos Toolkit's Kubernetes extension), and the kind provider (the lab carries kind's labels).

One lab for the module (``hdt-<worker>-kc``: only ``kubernetes``) and one isolated state directory
(ledger, inventory, kubeconfig). Traffic goes only to the lab's containers and loopback; every loop
is bounded. The first run on a machine builds the Go binaries (see test_kube.py).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hadrill.clients.kube import KubeApiError, kube_api
from hadrill.experiment import failure_report, run_experiment_file
from hadrill.faults.base import injected, recover
from hadrill.faults.kube import kill_control_plane_node
from hadrill.faults.ledger import Ledger
from hadrill.inventory import Cluster, Inventory, load_inventory
from hadrill.lab.kube import KubeService
from hadrill.lab.lab import Lab
from hadrill.lab.labfile import parse_lab_data
from hadrill.providers import inventory_from_kind

pytestmark = [pytest.mark.lab, pytest.mark.chaos, pytest.mark.timeout(3600)]  # a cold machine builds first

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
LAB_NAME = f"hdt-{WORKER}-kc"
ROOT = Path(__file__).resolve().parents[2]
KILL_MASTER = ROOT / "experiments" / "kube-kill-master.yaml"
DRAIN_PDB = ROOT / "experiments" / "kube-drain-worker-pdb.yaml"
assert len(LAB_NAME) <= 24


@pytest.fixture(scope="module")
def lab(state_dir: Path) -> Iterator[Lab]:
    spec = parse_lab_data({"name": LAB_NAME, "etcd": None, "kubernetes": {}}, "<test lab kc>")
    lab = Lab(spec, owner="pytest", base_dir=ROOT)
    try:
        lab.down()  # a killed earlier run's leftover must not leak in
        lab.up(timeout=300)
        yield lab
    finally:
        lab.down()


@pytest.fixture(scope="module")
def inv(lab: Lab) -> Inventory:
    return load_inventory(lab.inventory_path)


@pytest.fixture(autouse=True)
def nothing_left_open(state_dir: Path, request: pytest.FixtureRequest) -> Iterator[None]:
    """After every test: no fault open in the ledger, and the control plane healthy again."""
    yield
    leftovers = recover(Ledger(state_dir / "ledger.jsonl"), include_live=True)
    if "lab" in request.fixturenames:
        lab: Lab = request.getfixturevalue("lab")
        kube = next(s for s in lab.services if isinstance(s, KubeService))
        kube.wait_healthy(lab.ctx, timeout=120)
    assert not leftovers, f"the test left faults open: {[(r.id, o) for r, o in leftovers]}"


def test_kill_master_experiment_passes(lab: Lab, inv: Inventory, tmp_path: Path) -> None:
    start = time.monotonic()
    result = run_experiment_file(KILL_MASTER, inventory=lab.inventory_path, journal_dir=tmp_path)

    assert result.ok, failure_report(result.journal)
    verdicts = {v["name"]: v for v in result.hadrill["verdicts"]}
    assert all(v["ok"] for v in verdicts.values()), verdicts
    for name in ("kubernetes-write max_outage", "kubernetes-write acked_writes_lost", "etcd_kept_quorum",
                 "leases_moved_s", "node_rejoined_s"):  # fmt: skip
        assert name in verdicts, sorted(verdicts)
    assert verdicts["kubernetes-write acked_writes_lost"]["measured"] == 0
    fault = result.hadrill["faults"][0]
    assert fault["kind"] == "kube.control_plane" and fault["params"]["chosen_by"] == "etcd-leader"
    assert fault["params"]["members"][0] in {m.name for m in inv.cluster("kubernetes").members}
    acked = [s for s in result.hadrill["histories"]["kubernetes-write"]["samples"] if s["ok"]]
    assert len(acked) > 50, len(acked)
    print(f"kill a master: {time.monotonic() - start:.1f} s; " + "; ".join(v["detail"] for v in verdicts.values()))


def test_too_strict_objective_fails_readably(lab: Lab, tmp_path: Path) -> None:
    result = run_experiment_file(
        KILL_MASTER, inventory=lab.inventory_path, journal_dir=tmp_path, objectives={"max_outage_s": 0.001}
    )

    assert not result.ok
    report = failure_report(result.journal)
    assert re.search(r"kubernetes-write max_outage: longest outage \d+\.\d\d s > objective 0\.00 s", report), report
    measured = next(v["measured"] for v in result.hadrill["verdicts"] if v["name"] == "kubernetes-write max_outage")
    assert measured is not None and measured > 0.001
    assert all(f.get("end") for f in result.hadrill["faults"]), "the fault was not reverted"


def test_drain_worker_under_pdb_passes(lab: Lab, inv: Inventory, tmp_path: Path) -> None:
    before = os.environ.get("KUBECONFIG")
    result = run_experiment_file(DRAIN_PDB, inventory=lab.inventory_path, journal_dir=tmp_path)

    assert result.ok, failure_report(result.journal)
    assert os.environ.get("KUBECONFIG") == before, "the control must restore KUBECONFIG"
    activities = {a["activity"]["name"]: a for a in result.journal["run"]}
    assert all(a["status"] == "succeeded" for a in activities.values()), activities
    drained = activities["drain-a-worker-running-a-pod"]["output"]
    assert len(drained) == 1 and drained[0] in inv.cluster("kubernetes").settings["workers"], drained
    verdicts = {v["name"]: v for v in result.hadrill["verdicts"]}
    assert verdicts["deployment-web-available availability"]["measured"] == 1.0, verdicts
    assert verdicts["pdb_disruptions_allowed"]["ok"], verdicts
    assert activities["two-pods-running-again"]["output"] == 2
    assert all(r["status"] == "succeeded" for r in result.journal["rollbacks"]), result.journal["rollbacks"]


def ready_within(cluster: Cluster, timeout: float) -> bool:
    """/readyz answers ok within ``timeout`` (haproxy takes ~2 s to drop a dead master); bounded."""
    api = kube_api(cluster, timeout=2.0)
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / 0.2) + 1):
        try:
            if api.readyz() == "ok":
                return True
        except KubeApiError:
            pass
        if time.monotonic() >= deadline:
            break
        time.sleep(0.2)
    return False


def test_kind_provider_finds_the_lab_by_label(lab: Lab, inv: Inventory) -> None:
    kubeconfig = Path(inv.cluster("kubernetes").settings["kubeconfig"])
    kind = inventory_from_kind(lab.name, kubeconfig=kubeconfig)

    masters = [m.name for m in kind.cluster("kubernetes").members]
    assert masters == [f"{lab.name}-control-plane", f"{lab.name}-control-plane2", f"{lab.name}-control-plane3"]
    assert kind.node(f"{lab.name}-external-load-balancer").roles == ["external-load-balancer"]
    assert all(kind.node(m).url == f"docker://{m}" for m in masters)
    k = kind.cluster("kubernetes")
    assert k.tls is None and k.failure_budget == 1 and k.settings["kubeconfig"] == str(kubeconfig.resolve())
    dumped = kind.model_dump_json()
    assert "BEGIN" not in dumped and "-data" not in dumped, "credentials copied into the inventory"
    assert ready_within(k, 10.0)

    # the same fault, through the kind inventory: kill the controller-manager's master, revert it
    fault = kill_control_plane_node(kind, "kubernetes", "controller-manager", time_limit=60)
    with injected(fault) as record:
        assert record.params["members"][0] in masters
        assert ready_within(k, 15.0), "the API did not answer through the load balancer with two masters left"
    assert ready_within(k, 30.0)


def test_kube_experiments_declare_what_they_need() -> None:
    """The default lab (etcd, nfs, gluster) has no Kubernetes: its default plan leaves kube-* out."""
    from hadrill.experiment import load_experiment_file, required_clusters
    from hadrill.plan import default_plan

    assert required_clusters(load_experiment_file(KILL_MASTER)) == ["kubernetes", "k8s-etcd"]
    assert required_clusters(load_experiment_file(DRAIN_PDB)) == ["kubernetes"]
    names = [
        Path(s.experiment).name
        for s in default_plan(ROOT / "experiments", clusters={"etcd", "nfs", "gluster"}).scenarios
    ]
    assert KILL_MASTER.name not in names and DRAIN_PDB.name not in names and "etcd-kill-leader.yaml" in names
    with_kube = default_plan(ROOT / "experiments", clusters={"etcd", "kubernetes", "k8s-etcd"}).scenarios
    assert {KILL_MASTER.name, DRAIN_PDB.name} <= {Path(s.experiment).name for s in with_kube}

"""The PRA exercise's etcd restore drill and the pre-upgrade preflight, against a Kubernetes-only lab.

One lab for the module (``hdt-<worker>-rp``: three masters with stacked etcd, haproxy, kwok workers),
owner "pytest", taken down in ``finally``, with its own ``HADRILL_STATE_DIR``. Traffic goes only to
the lab's containers and loopback; every loop is bounded.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hadrill.clients.kube import KubeApi, kube_api
from hadrill.inventory import Inventory, load_inventory
from hadrill.lab.lab import Lab
from hadrill.lab.labfile import parse_lab_data

pytestmark = [pytest.mark.lab, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parents[2]
LAB_NAME = f"hdt-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}-rp"
assert len(LAB_NAME) <= 24, LAB_NAME
UP_TIMEOUT = 300.0


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An isolated state dir (PKI, inventory, ledger, snapshots) for the module."""
    path = tmp_path_factory.mktemp("rp-state")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HADRILL_STATE_DIR", str(path))
        yield path


@pytest.fixture(scope="module")
def lab(state: Path, module_lab_factory: Any) -> Iterator[Lab]:
    spec = parse_lab_data({"name": LAB_NAME, "etcd": None, "kubernetes": {}}, "<test lab rp>")
    lab = Lab(spec, owner="pytest", client=module_lab_factory.client, base_dir=REPO)
    module_lab_factory.labs.append(lab)
    try:
        lab.down()
        lab.up(timeout=UP_TIMEOUT)
        yield lab
    finally:
        lab.down()


@pytest.fixture(scope="module")
def inv(lab: Lab) -> Inventory:
    return load_inventory(lab.inventory_path)


@pytest.fixture(scope="module")
def api(inv: Inventory) -> KubeApi:
    return kube_api(inv.cluster("kubernetes"), timeout=10.0)


def test_restore_drill_has_exact_rpo_accounting(inv: Inventory, api: KubeApi, state: Path) -> None:
    from hadrill.clients.docker import sh as _sh
    from hadrill.faults.etcd_restore import SNAPSHOT, WORK_DIR, masters
    from hadrill.faults.ledger import Ledger
    from hadrill.restore import BACKUP_NAME, PROBE_NAMESPACE, run_restore_drill

    # the cluster as a kubeconfig-only user has it: no settings.api, no TLS files (the drill reached the API
    # and recorded its objects with those only; it must go through the kubeconfig as kube_api does)
    k8s = inv.cluster("kubernetes")
    settings = {k: v for k, v in k8s.settings.items() if k != "api"}
    only_kubeconfig = k8s.model_copy(update={"tls": None, "settings": settings})
    clusters = [only_kubeconfig if c.name == "kubernetes" else c for c in inv.clusters]
    kc_inv = inv.model_copy(update={"clusters": clusters})
    t0 = time.monotonic()
    events: list[str] = []
    kept = state / "kept-snapshots"
    result = run_restore_drill(
        kc_inv, writes_before=12, writes_after=7, rto_objective_s=240, log=events.append, keep_snapshot=kept
    )
    took = time.monotonic() - t0
    summary = json.dumps(result.to_dict(), indent=1, default=str)
    print(f"restore drill in {took:.1f} s: {summary}\n" + "\n".join(events))
    assert result.ok, [v.detail for v in result.verdicts if not v.ok]
    # the known answer: every write after the snapshot was acknowledged above its revision
    assert len(result.expected_lost) == 7
    assert result.lost == result.expected_lost
    assert {d["key"] for d in result.acked_after} == set(result.lost)
    assert not result.missing_before
    assert result.rto_s is not None and 0 < result.rto_s < 240
    # nothing the drill created remains: listed on the cluster, the host and every master
    assert not Path(result.snapshot.host_path).exists(), "the snapshot (every Secret) stayed in the state dir"
    kept_file = kept / Path(result.snapshot.host_path).name
    assert kept_file.stat().st_mode & 0o077 == 0, "--keep-snapshot kept it readable by others"
    assert not Ledger().open_faults(), "the restore fault was not closed in the ledger"
    recorded = [json.loads(line) for line in Ledger().path.read_text().splitlines() if "etcd-restore.objects" in line]
    assert recorded and all("api_tls" not in json.dumps(r) for r in recorded)
    assert all(str(k8s.settings["kubeconfig"]) in json.dumps(r) for r in recorded)  # by path: no credential
    assert api.readyz() == "ok"
    cronjobs = api.list_all("/apis/batch/v1/cronjobs")
    assert BACKUP_NAME not in {c["metadata"]["name"] for c in cronjobs}, "the backup CronJob (PKI mounted) stayed"
    namespaces = {n["metadata"]["name"]: n for n in api.list_all("/api/v1/namespaces")}
    assert PROBE_NAMESPACE not in namespaces or namespaces[PROBE_NAMESPACE]["status"]["phase"] == "Terminating"
    for m in masters(inv):
        _, left = _sh(m.container, f"ls {WORK_DIR} 2>/dev/null; test -e {SNAPSHOT} && echo SNAPSHOT; true")
        assert "SNAPSHOT" not in left and "restored-" not in left and "snapshot.db" not in left, (m.name, left)
    # the API serves writes again
    ns = f"after-{uuid.uuid4().hex[:6]}"
    assert api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})


def test_recover_finishes_a_restore_drill_that_died_midway(inv: Inventory, api: KubeApi) -> None:
    """The harness dies after the disaster: ``recover`` (as ``hadrill recover``) restores from the record alone,
    even on a master that lost its copy of the snapshot (put back from the host), and again is a no-op."""
    from hadrill.clients.docker import sh as _sh
    from hadrill.faults.base import recover
    from hadrill.faults.etcd_restore import SNAPSHOT, EtcdRestoreFault, masters
    from hadrill.faults.ledger import Ledger
    from hadrill.restore import take_snapshot, wait_api

    ms = masters(inv)
    snap = take_snapshot(ms[0], ms, f"recover-{uuid.uuid4().hex[:6]}")
    fault = EtcdRestoreFault(
        target=f"docker://{ms[0].container}", time_limit=300, cluster="k8s-etcd", force=True,
        members=tuple(m.name for m in ms), masters=tuple(ms), snapshot_on_host=snap.host_path,
    )  # fmt: skip
    ledger = Ledger()
    record = fault.record()
    ledger.open(record)
    fault.inject(record)
    assert "etcd data destroyed" in fault.prove(record)
    _sh(ms[1].container, f"rm -f {SNAPSHOT}")  # this master lost its copy: revert must bring the host's
    t0 = time.monotonic()
    outcomes = recover(ledger, include_live=True)
    assert [o for _, o in outcomes] == ["reverted"], outcomes
    assert wait_api(api, 240) is not None, "the API did not come back after recover"
    print(f"recover to API ready: {time.monotonic() - t0:.1f} s")
    assert not ledger.open_faults()
    EtcdRestoreFault.revert(record)  # idempotent: every member is marked restored for this record
    assert wait_api(api, 60) is not None
    assert "default" in {n["metadata"]["name"] for n in api.list_all("/api/v1/namespaces")}


def _preflight(inv_path: Path, out: Path, *extra: str) -> tuple[int, dict[str, Any], str]:
    from hadrill.cli import main

    args = ["preflight", "--target-version", "1.35", "--inventory", str(inv_path), "--json", str(out)]
    res = CliRunner().invoke(main, [*args, "--backup-dir", "/var/lib/etcd/hadrill-restore", *extra])
    data = json.loads(out.read_text()) if out.is_file() else {}
    return res.exit_code, data, res.output


def test_preflight_on_the_clean_lab_says_go(lab: Lab, inv: Inventory, tmp_path: Path) -> None:
    """A fresh backup on the masters (a snapshot taken here: the restore drill removes its own)."""
    from hadrill.clients.docker import sh as _sh
    from hadrill.faults.etcd_restore import SNAPSHOT, masters
    from hadrill.restore import take_snapshot

    ms = masters(inv)
    snap = take_snapshot(ms[0], ms, f"preflight-{uuid.uuid4().hex[:6]}")
    t0 = time.monotonic()
    try:
        code, data, output = _preflight(lab.inventory_path, tmp_path / "preflight.json")
    finally:
        Path(snap.host_path).unlink(missing_ok=True)
        for m in ms:
            _sh(m.container, f"rm -f {SNAPSHOT}")
    print(f"preflight in {time.monotonic() - t0:.1f} s:\n{output}")
    assert code == 0, output
    assert data["decision"] == "go" and data["target_version"] == "1.35"
    assert data["current_version"].startswith("v1.34")
    names = {c["name"]: c for c in data["checks"]}
    for name in ("nodes Ready", "etcd healthy", "etcd backup fresh", "certificates", "drain: PodDisruptionBudgets"):
        assert names[name]["ok"], names[name]


def test_preflight_without_a_backup_says_no_go(lab: Lab, tmp_path: Path) -> None:
    code, data, output = _preflight(lab.inventory_path, tmp_path / "p.json", "--backup-dir", "/var/backups/none")
    assert code == 1, output
    assert any(r.startswith("etcd backup fresh") for r in data["reasons"]), data["reasons"]


def test_preflight_bad_version_is_bad_input(lab: Lab, tmp_path: Path) -> None:
    from hadrill.cli import main

    res = CliRunner().invoke(main, ["preflight", "--target-version", "one.35", "--inventory", str(lab.inventory_path)])
    assert res.exit_code == 2, res.output


def test_preflight_finds_a_deprecated_api_and_a_blocking_pdb(lab: Lab, api: KubeApi, tmp_path: Path) -> None:
    ns = f"pf-{uuid.uuid4().hex[:6]}"
    labels = {"app": "db"}
    pdb_name, fs_name = "db-pdb", f"pf-{uuid.uuid4().hex[:6]}"
    api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    try:
        deployment = {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "db", "namespace": ns},
            "spec": {"replicas": 2, "selector": {"matchLabels": labels}, "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "db", "image": "registry.invalid/db:1"}]}}},
        }  # fmt: skip
        api.post(f"/apis/apps/v1/namespaces/{ns}/deployments", deployment)
        # the PDB was applied with kubectl as policy/v1beta1 long ago: its last-applied configuration says so
        old = {"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget",
               "metadata": {"name": pdb_name, "namespace": ns},
               "spec": {"minAvailable": 2, "selector": {"matchLabels": labels}}}  # fmt: skip
        pdb = {
            "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": pdb_name, "namespace": ns,
                         "annotations": {"kubectl.kubernetes.io/last-applied-configuration": json.dumps(old)}},
            "spec": {"minAvailable": 2, "selector": {"matchLabels": labels}},  # = replicas: blocks every eviction
        }  # fmt: skip
        api.post(f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets", pdb)
        old_fs = {"apiVersion": "flowcontrol.apiserver.k8s.io/v1beta3", "kind": "FlowSchema",
                  "metadata": {"name": fs_name}}  # fmt: skip
        flow_schema = {
            "apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "FlowSchema",
            "metadata": {"name": fs_name,
                         "annotations": {"kubectl.kubernetes.io/last-applied-configuration": json.dumps(old_fs)}},
            "spec": {"priorityLevelConfiguration": {"name": "global-default"}, "matchingPrecedence": 9000,
                     "rules": [{"subjects": [{"kind": "User", "user": {"name": "nobody-pf"}}],
                                "resourceRules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"],
                                                   "namespaces": [ns]}]}]},
        }  # fmt: skip
        api.post("/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas", flow_schema)

        deadline = time.monotonic() + 90
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status = api.get(f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets/{pdb_name}").get("status") or {}
            if status.get("expectedPods") == 2 and status.get("currentHealthy") == 2:  # both pods Running on kwok
                break
            time.sleep(1)
        assert status.get("currentHealthy") == 2 and status.get("disruptionsAllowed") == 0, status

        t0 = time.monotonic()
        code, data, output = _preflight(lab.inventory_path, tmp_path / "preflight.json")
        print(f"preflight in {time.monotonic() - t0:.1f} s:\n{output}")
        assert code == 1, output
        assert data["decision"] == "no-go"
        checks = {c["name"]: c for c in data["checks"]}
        removed = "\n".join(checks["deprecated APIs: removed"]["details"])
        assert f"PodDisruptionBudget {ns}/{pdb_name}: last-applied-configuration uses policy/v1beta1" in removed
        assert f"FlowSchema {fs_name}: last-applied-configuration uses flowcontrol.apiserver.k8s.io/v1beta3" in removed
        assert not checks["drain: PodDisruptionBudgets"]["ok"]
        assert f"{ns}/{pdb_name} allows 0 evictions" in "\n".join(checks["drain: PodDisruptionBudgets"]["details"])
        assert not checks["drain: nodes"]["ok"]
        reasons = "\n".join(data["reasons"])
        assert "deprecated APIs: removed" in reasons and "drain: PodDisruptionBudgets" in reasons
    finally:
        for path in (f"/api/v1/namespaces/{ns}", f"/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas/{fs_name}"):
            try:
                api.request("DELETE", path)
            except Exception as e:  # cleanup is best effort; the lab goes down with the module
                print(f"cleanup {path}: {e}")

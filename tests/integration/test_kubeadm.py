"""The kubeadm lab: real nodes (systemd, containerd, kubelet) joined by kubeadm, pods that run and answer
across nodes, the application behind its Service, and kill-a-master judged on the application too.

One lab for the module (``hdt-<worker>-ka``: only ``kubernetes`` in kubeadm mode, 3 masters and 2
workers). The oracles are kubectl (the cached v1.34.4 binary, run on this machine with the lab's
kubeconfig) and HTTP answers from nginx, which names the pod that served them. Traffic goes only to the
lab's containers; every loop is bounded. A cold machine builds the Go binaries first.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from hadrill.experiment import failure_report, run_experiment_file
from hadrill.inventory import Inventory, load_inventory
from hadrill.lab.gobuild import KUBE_NODE, kubernetes_binaries
from hadrill.lab.kube_app import APP_NAMESPACE
from hadrill.lab.kubeadm import KubeadmService
from hadrill.lab.lab import Lab
from hadrill.lab.labfile import parse_lab_data

pytestmark = [pytest.mark.lab, pytest.mark.chaos, pytest.mark.timeout(3600)]

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
LAB_NAME = f"hdt-{WORKER}-ka"
ROOT = Path(__file__).resolve().parents[2]
KILL_MASTER = ROOT / "experiments" / "kube-kill-master.yaml"
assert len(LAB_NAME) <= 24


@pytest.fixture(scope="module")
def lab(state_dir: Path) -> Iterator[Lab]:
    spec = parse_lab_data(
        {"name": LAB_NAME, "etcd": None, "kubernetes": {"mode": "kubeadm", "workers": 2}}, "<test lab ka>"
    )
    lab = Lab(spec, owner="pytest", base_dir=ROOT)
    try:
        lab.down()  # a killed earlier run's leftover must not leak in
        lab.up(timeout=400)
        yield lab
    finally:
        lab.down()


@pytest.fixture(scope="module")
def inv(lab: Lab) -> Inventory:
    return load_inventory(lab.inventory_path)


@pytest.fixture(scope="module")
def kubectl(inv: Inventory) -> Any:
    binary = next(b.path for b in kubernetes_binaries("v1.34.4", KUBE_NODE) if b.name == "kubectl")
    kubeconfig = str(inv.cluster("kubernetes").settings["kubeconfig"])

    def run(*args: str, stdin: str | None = None) -> str:
        done = subprocess.run(
            [str(binary), "--kubeconfig", kubeconfig, "--request-timeout=20s", *args],
            input=stdin, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
        return done.stdout

    return run


def _ready(node: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])


def test_three_masters_and_two_workers_ready_with_a_real_kubelet(lab: Lab, kubectl: Any) -> None:
    nodes = json.loads(kubectl("get", "nodes", "-o", "json"))["items"]
    masters = [n for n in nodes if "node-role.kubernetes.io/control-plane" in n["metadata"]["labels"]]
    workers = [n for n in nodes if n not in masters]

    assert (len(masters), len(workers)) == (3, 2), [n["metadata"]["name"] for n in nodes]
    assert all(_ready(n) for n in nodes), [(n["metadata"]["name"], _ready(n)) for n in nodes]
    for n in nodes:
        info = n["status"]["nodeInfo"]
        assert info["kubeletVersion"] == "v1.34.4", info
        assert info["containerRuntimeVersion"].startswith("containerd://"), info
    coredns: dict[str, Any] = {}
    for _ in range(60):  # CoreDNS is a Deployment, scheduled once the nodes are Ready: bounded wait (120 s)
        coredns = json.loads(kubectl("get", "deployment", "coredns", "-n", "kube-system", "-o", "json"))
        if coredns["status"].get("readyReplicas") == 2:
            break
        time.sleep(2.0)
    assert coredns["status"].get("readyReplicas") == 2, coredns["status"]  # built from its Go module, imported
    static = json.loads(kubectl("get", "pods", "-n", "kube-system", "-o", "json"))["items"]
    running = {p["metadata"]["name"] for p in static if p["status"]["phase"] == "Running"}
    for master in masters:  # kubeadm's static-pod control plane, on every master
        name = master["metadata"]["name"]
        for part in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
            assert f"{part}-{name}" in running, sorted(running)


def test_a_pod_runs_and_answers_from_another_node(lab: Lab, inv: Inventory, kubectl: Any) -> None:
    worker = inv.cluster("kubernetes").settings["workers"][-1]
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe-target", "namespace": "default"},
        "spec": {"nodeName": worker, "containers": [
            {"name": "web", "image": "hadrill.local/web:1", "imagePullPolicy": "Never"}]},
    }  # fmt: skip
    start = time.monotonic()
    kubectl("apply", "-f", "-", stdin=json.dumps(pod))
    try:
        kubectl("wait", "--for=jsonpath={.status.phase}=Running", "pod/probe-target", "--timeout=60s")
        created_to_running = time.monotonic() - start
        ip = kubectl("get", "pod", "probe-target", "-o", "jsonpath={.status.podIP}").strip()
        master = inv.cluster("kubernetes").members[0].node
        c = lab.client.containers.get(master)
        # from a master (another node): the route to the worker's pod CIDR and the bridge carry it
        rc, out = c.exec_run(["curl", "-s", "--max-time", "5", f"http://{ip}:8080/"])
        assert rc == 0 and out.decode().strip() == "probe-target", (rc, out)
        print(f"pod created → Running in {created_to_running:.1f} s, answered from {master} at {ip}")
    finally:
        kubectl("delete", "pod", "probe-target", "--wait=false")


def test_application_answers_through_its_service_from_every_pod(inv: Inventory, kubectl: Any) -> None:
    url = str(inv.cluster("kubernetes").settings["app_url"])
    pods = json.loads(kubectl("get", "pods", "-n", APP_NAMESPACE, "-o", "json"))["items"]
    names = {p["metadata"]["name"] for p in pods if p["status"]["phase"] == "Running"}
    assert len(names) == 3, names
    assert len({p["spec"]["nodeName"] for p in pods}) == 2, "the replicas are spread over both workers"

    seen = set()
    for _ in range(60):
        r = requests.get(url, timeout=2.0)
        assert r.status_code == 200
        seen.add(r.text.strip())
        if seen == names:
            break
    assert seen == names, f"answers came from {seen}, pods are {names}"  # kube-proxy reached every replica


def test_coredns_resolves_services_for_pods(kubectl: Any) -> None:
    """CoreDNS (built with only the plugins kubeadm's Corefile names) answers a pod's lookups of Services:
    the oracle is each Service's ClusterIP as the API reports it."""
    api_ip = kubectl("get", "service", "kubernetes", "-n", "default", "-o", "jsonpath={.spec.clusterIP}").strip()
    app_ip = kubectl("get", "service", "web", "-n", APP_NAMESPACE, "-o", "jsonpath={.spec.clusterIP}").strip()
    pod = "deployment/web"
    for name, ip in (("kubernetes.default.svc.cluster.local", api_ip), ("web", app_ip)):  # "web": the search path
        out = kubectl("exec", "-n", APP_NAMESPACE, pod, "--", "getent", "hosts", name)
        assert out.split()[0] == ip, (name, out, ip)


def test_kill_master_experiment_measures_the_application(lab: Lab, inv: Inventory, tmp_path: Path) -> None:
    result = run_experiment_file(KILL_MASTER, inventory=lab.inventory_path, journal_dir=tmp_path)

    assert result.ok, failure_report(result.journal)
    verdicts = {v["name"]: v for v in result.hadrill["verdicts"]}
    assert verdicts["kubernetes-app max_outage"]["ok"], verdicts["kubernetes-app max_outage"]
    assert verdicts["kubernetes-app max_outage"]["measured"] is not None
    assert verdicts["kubernetes-write acked_writes_lost"]["measured"] == 0
    answered = [s for s in result.hadrill["histories"]["kubernetes-app"]["samples"] if s["ok"]]
    assert len(answered) > 50, len(answered)
    print("kill a master: " + "; ".join(f"{n}: {v['detail']}" for n, v in verdicts.items()))
    kube = next(s for s in lab.services if isinstance(s, KubeadmService))
    kube.wait_healthy(lab.ctx, timeout=180)

"""The kubeadm lab: real nodes (systemd, containerd, kubelet) joined by kubeadm, pods that run and answer
across nodes, the application behind its Service, kill-a-master judged on the application too, and the
API behind two load balancers and a keepalived VIP, failed by the VIP faults and an experiment.

One lab for the module (``hdt-<worker>-ka``: only ``kubernetes`` in kubeadm mode, 3 masters, 2 workers,
2 load balancers, every one a systemd host with sshd, ``transport: ssh``). Its two inventories split the
tests: the restore drill, its deadman, the API VIP experiment and the backup compliance checks go through
``ssh://`` (the real-fleet path: no engine), the rest through ``inventory-docker.yaml``. The oracles are
kubectl (the cached v1.34.4 binary, run on this machine with the lab's kubeconfig), ``ip addr`` in the
load balancers, ``systemctl`` and ``ls`` in the nodes (through the engine, not hadrill), and HTTP answers
from nginx, which names the pod that served them. Traffic goes only to the lab's containers; every
loop is bounded. A cold machine builds the Go binaries first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from labtools import assert_kube_scraped, wait_until

from hadrill.clients.kube import KubeApi, kube_api
from hadrill.clients.nfs import server_state, vip_holder
from hadrill.compliance.etcd_backup import check_etcd_backup, check_etcd_backup_cronjob
from hadrill.compliance.policy import EtcdBackupPolicy
from hadrill.errors import TargetError
from hadrill.experiment import failure_report, run_experiment_file
from hadrill.faults.base import injected
from hadrill.faults.vip import Mode, fail_vip
from hadrill.inventory import Inventory, load_inventory
from hadrill.lab.gobuild import KUBE_NODE, kubernetes_binaries
from hadrill.lab.kube_app import APP_NAMESPACE, app_problem
from hadrill.lab.kube_backup import BACKUP_CRONJOB, BACKUP_DIR, BACKUP_SCHEDULE
from hadrill.lab.kubeadm import KubeadmService
from hadrill.lab.lab import Lab, docker_inventory_path
from hadrill.lab.labfile import parse_lab_data
from hadrill.lab.ssh import LabSsh
from hadrill.recovery.nfs import rejoined_as_backup, vip_moved

pytestmark = [pytest.mark.lab, pytest.mark.chaos, pytest.mark.timeout(3600)]

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
LAB_NAME = f"hdt-{WORKER}-ka"
ROOT = Path(__file__).resolve().parents[2]
KILL_MASTER = ROOT / "experiments" / "kube-kill-master.yaml"
FAIL_API_VIP = ROOT / "experiments" / "kube-fail-api-vip.yaml"
KILL_APP_POD = ROOT / "experiments" / "kube-kill-app-pod.yaml"
KILL_WORKER = ROOT / "experiments" / "kube-kill-worker.yaml"
DRAIN_WORKER = ROOT / "experiments" / "kube-drain-app-worker.yaml"
BIN = Path(sys.executable).parent
assert len(LAB_NAME) <= 24


@pytest.fixture(scope="module")
def lab(state_dir: Path) -> Iterator[Lab]:
    spec = parse_lab_data(
        {
            "name": LAB_NAME,
            "etcd": None,
            "kubernetes": {"mode": "kubeadm", "workers": 2},
            "monitoring": {},
            "transport": "ssh",
        },
        "<test lab ka>",
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
    """The engine's view (``docker://``) of the lab's nodes."""
    return load_inventory(docker_inventory_path(LAB_NAME))


@pytest.fixture(scope="module")
def ssh_inv(lab: Lab) -> Inventory:
    """The real-fleet view: every node ``ssh://`` with the lab's key and pinned host keys."""
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

    run.kubeconfig = kubeconfig  # type: ignore[attr-defined]
    return run


def hadrill_run(
    experiment: Path, journals: Path, timeout: float = 900, inventory: Path | None = None
) -> dict[str, Any]:
    """``hadrill run`` of ``experiment`` on the lab in a child process; asserts it passed; its journal's
    hadrill part (faults, verdicts, histories)."""
    done = subprocess.run(
        [str(BIN / "hadrill"), "run", "--inventory", str(inventory or docker_inventory_path(LAB_NAME)),
         "--journal-dir", str(journals),
         str(experiment)],
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    paths = list(journals.rglob("journal.json"))
    assert len(paths) == 1, (paths, done.stdout[-3000:], done.stderr[-2000:])
    journal = json.loads(paths[0].read_text())
    assert done.returncode == 0, failure_report(journal) + done.stdout[-3000:] + done.stderr[-2000:]
    hadrill: dict[str, Any] = journal["hadrill"]
    return hadrill


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


def test_prometheus_scrapes_every_kubelet_and_api_server_with_least_privilege(
    lab: Lab, inv: Inventory, kubectl: Any
) -> None:
    """Every node's kubelet (the addresses the API lists for the nodes) and every API server, scraped
    with the monitoring's certificate: a kubelet lets it read /metrics, not the pods it runs (/pods)."""
    nodes = json.loads(kubectl("get", "nodes", "-o", "json"))["items"]
    kubelets = {f"{a['address']}:10250" for n in nodes for a in n["status"]["addresses"] if a["type"] == "InternalIP"}
    assert len(kubelets) == 5, kubelets
    assert_kube_scraped(
        inv, lab.name, "kubelet", kubelets, "kubelet_running_pods", allowed="/metrics", denied="/pods", ca=False
    )
    masters = {m.endpoints["api"].removeprefix("https://") for m in inv.cluster("kubernetes").members}
    assert_kube_scraped(
        inv, lab.name, "kube-apiserver", masters, "apiserver_request_total",
        allowed="/metrics", denied="/api/v1/namespaces/kube-system/secrets", ca=True,
    )  # fmt: skip


def test_etcd_backup_cronjob_runs_and_the_compliance_suite_passes_on_its_snapshot(
    lab: Lab, inv: Inventory, ssh_inv: Inventory, kubectl: Any
) -> None:
    """The backup CronJob ran on its own schedule (the CronJob controller's status says so, its Job's pod
    ran on the master the inventory names ``etcd-backup``), etcd itself reads the snapshot on that node
    (etcdutl, run here by hand), and the etcd_backup suite passes all four checks: the CronJob's
    schedule and last success through the API, the file's age and status on the node."""
    ns, name = BACKUP_CRONJOB.split("/")

    def succeeded() -> str | None:
        cj = json.loads(kubectl("-n", ns, "get", "cronjob", name, "-o", "json"))
        return None if cj.get("status", {}).get("lastSuccessfulTime") else f"status {cj.get('status')}"

    wait_until("the backup CronJob succeeded once", succeeded, timeout=200, interval=2.0)  # runs every minute
    jobs = json.loads(kubectl("-n", ns, "get", "jobs", "-o", "json"))["items"]
    ran = [
        j["metadata"]["name"] for j in jobs
        if any(o.get("name") == name for o in j["metadata"].get("ownerReferences", [])) and j["status"].get("succeeded")
    ]  # fmt: skip
    assert ran, [j["metadata"]["name"] for j in jobs]
    pods = json.loads(kubectl("-n", ns, "get", "pods", "-l", f"job-name={ran[0]}", "-o", "json"))["items"]
    [holder] = [n for n in inv.nodes if "etcd-backup" in n.roles]
    assert {p["spec"]["nodeName"] for p in pods} == {holder.name}, [p["spec"]["nodeName"] for p in pods]
    rc, out = lab.client.containers.get(holder.name).exec_run(
        ["etcdutl", "snapshot", "status", f"{BACKUP_DIR}/etcd-snapshot.db", "-w", "json"]
    )
    status = json.loads(out)
    assert rc == 0 and status["revision"] > 0 and status["totalKey"] > 100, out[-300:]  # a real cluster's keys
    policy = EtcdBackupPolicy(cronjob=BACKUP_CRONJOB, schedule=BACKUP_SCHEDULE, max_age_hours=1)
    api = kube_api(inv.cluster("kubernetes"), timeout=10.0)
    over_ssh = ssh_inv.node(holder.name).url  # the node check reads the file as on a real master: over SSH
    assert over_ssh.startswith("ssh://"), over_ssh
    findings = check_etcd_backup_cronjob(api, policy) + check_etcd_backup(over_ssh, policy, name=holder.name)
    assert {f.check_id: f.status for f in findings} == dict.fromkeys(
        ("HD-ETCD-BAK-001", "HD-ETCD-BAK-002", "HD-ETCD-BAK-003", "HD-ETCD-BAK-004"), "pass"
    ), [(f.check_id, f.status, f.message) for f in findings]


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


def test_kill_master_experiment_measures_the_application(lab: Lab, ssh_inv: Inventory, tmp_path: Path) -> None:
    """Over ``ssh://`` (the default lab kills a master's container): the kill is a power cut of the host."""
    result = run_experiment_file(KILL_MASTER, inventory=lab.inventory_path, journal_dir=tmp_path)

    assert result.ok, failure_report(result.journal)
    [fault] = result.hadrill["faults"]
    assert fault["kind"] == "kube.control_plane_power_off" and fault["target"].startswith("ssh://"), fault
    assert fault["params"]["off"] == "ssh" and fault["params"]["on"] == "lab", fault["params"]
    verdicts = {v["name"]: v for v in result.hadrill["verdicts"]}
    assert verdicts["kubernetes-app max_outage"]["ok"], verdicts["kubernetes-app max_outage"]
    assert verdicts["kubernetes-app max_outage"]["measured"] is not None
    assert verdicts["kubernetes-write acked_writes_lost"]["measured"] == 0
    answered = [s for s in result.hadrill["histories"]["kubernetes-app"]["samples"] if s["ok"]]
    assert len(answered) > 50, len(answered)
    print("kill a master: " + "; ".join(f"{n}: {v['detail']}" for n, v in verdicts.items()))
    kube = next(s for s in lab.services if isinstance(s, KubeadmService))
    kube.wait_healthy(lab.ctx, timeout=180)


# -- the API behind two load balancers and a keepalived VIP ----------------------------------------------
def _holders(lab: Lab, vip: str) -> list[str]:
    """Which load-balancer containers carry the VIP, read with `ip addr` in each (not hadrill's reads)."""
    found = []
    for c in lab.client.containers.list(filters={"name": f"{LAB_NAME}-external-load-balancer"}):
        rc, out = c.exec_run(["ip", "-o", "-4", "addr", "show", "up"])
        if rc == 0 and f" {vip}/" in out.decode():
            found.append(c.name)
    return found


def test_api_endpoint_is_a_vip_held_by_one_of_two_load_balancers(lab: Lab, inv: Inventory, kubectl: Any) -> None:
    lb = inv.cluster("kube-api-lb")
    vip = str(lb.settings["vip"])
    assert vip == lab.ctx.ip(100), vip  # where the single load balancer was
    assert len(_holders(lab, vip)) == 1, _holders(lab, vip)
    assert len(lab.client.containers.list(filters={"name": f"{LAB_NAME}-external-load-balancer"})) == 2
    # kubeadm's own record of the cluster: the endpoint every node and certificate was made for
    config = yaml.safe_load(
        kubectl(
            "get", "configmap", "kubeadm-config", "-n", "kube-system", "-o", "jsonpath={.data.ClusterConfiguration}"
        )
    )
    assert config["controlPlaneEndpoint"] == f"{vip}:6443", config
    kubeconfig = yaml.safe_load(Path(str(inv.cluster("kubernetes").settings["kubeconfig"])).read_text())
    assert kubeconfig["clusters"][0]["cluster"]["server"] == f"https://{vip}:6443"
    # each load balancer serves the API on its own address too: asked from a master with curl, verifying the
    # API server's certificate for the VIP (its SANs name the VIP, not the load balancers' own addresses)
    master = lab.client.containers.get(inv.cluster("kubernetes").members[0].node)
    for member in lb.members:
        ip = member.endpoints["api"].removeprefix("https://").split(":")[0]
        rc, out = master.exec_run([
            "curl", "-sS", "--max-time", "5", "--cacert", "/etc/kubernetes/pki/ca.crt",
            "--connect-to", f"{vip}:6443:{ip}:6443", f"https://{vip}:6443/readyz",
        ])  # fmt: skip
        assert rc == 0 and out.decode().strip() == "ok", (member.name, rc, out)


def test_the_ssh_inventory_reaches_every_host_over_ssh_only(lab: Lab, ssh_inv: Inventory) -> None:
    """Masters, workers and load balancers are ``ssh://`` with the lab's key and pinned host keys (by path:
    no key material in the inventory); each answers over SSH with its own units active, and a node whose
    host key is not the pinned one is refused (StrictHostKeyChecking)."""
    from hadrill.clients.targets import target

    text = lab.inventory_path.read_text()
    assert "docker://" not in text and "PRIVATE KEY" not in text
    units = {"control-plane": "kubelet.service", "worker": "kubelet.service", "load-balancer": "haproxy.service"}
    for node in ssh_inv.nodes:
        assert node.url.startswith("ssh://root@"), node.url
        [role] = [r for r in node.roles if r in units]
        res = target(node.url).run(
            f"systemctl is-active {units[role]} keepalived.service containerd.service", timeout=30
        )
        states = res.stdout.split()
        assert states[0] == "active", (node.name, res.stdout, res.stderr)
        if role == "load-balancer":
            assert states[1] == "active", (node.name, states)  # haproxy and keepalived are both units there
        else:
            assert states[2] == "active", (node.name, states)
    ssh = LabSsh(LAB_NAME)
    first, second = (ssh_inv.node(m.node).addresses for m in ssh_inv.cluster("kube-api-lb").members)
    a, b = next(iter(first.values())), next(iter(second.values()))
    pinned = dict(line.split(" ", 1) for line in ssh.known_hosts.read_text().splitlines() if line)
    swapped = ssh.dir / "known_hosts.swapped"
    swapped.write_text(f"{a} {pinned[b]}\n")  # the other balancer's key pinned for this one's address
    done = subprocess.run(
        ["ssh", "-F", str(ssh.config), "-o", f"UserKnownHostsFile={swapped}", "-o", "ControlMaster=no",
         "-o", "ControlPath=none", f"root@{a}", "true"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    swapped.unlink()
    assert done.returncode == 255 and "host key" in done.stderr.lower(), (done.returncode, done.stderr)


@pytest.mark.parametrize("mode", ["stop-service", "link-down"])
def test_vip_faults_move_the_api_vip_and_revert(mode: Mode, lab: Lab, inv: Inventory) -> None:
    """The NFS pair's VIP faults against the load balancers (the kill is the experiment's, below): the VIP
    moves within keepalived's bound (3 x 1 s adverts + skew, 6 s as for NFS), the API answers through it
    from the other one, and the failed one rejoins as BACKUP without taking it back."""
    c, api = inv.cluster("kube-api-lb"), inv.cluster("kubernetes")
    fault = fail_vip(inv, c, mode=mode, time_limit=60)
    former = fault.members[0]
    with injected(fault) as rec:
        moved = vip_moved(
            inv, c, former, rec.params["injected_at"], 6.0, moved_at=lambda: rec.params.get("vip_moved_at")
        )
        assert moved.ok, moved.detail
        assert _holders(lab, str(c.settings["vip"])) != [former]
        failed = server_state(inv, c, c.member(former))
        assert failed.vrrp == "FAULT" and not failed.holds_vip, failed
        assert failed.nfs == (mode == "link-down"), failed  # "nfs": the served process (haproxy) listening
        assert api.tls is not None
        ready = KubeApi(str(api.settings["api"]), api.tls, timeout=2.0)
        answered = None
        for _ in range(50):  # bounded: 10 s for the client's ARP entry to follow the gratuitous ARPs
            try:
                answered = ready.readyz()
                break
            except TargetError:
                time.sleep(0.2)
        assert answered == "ok", "the API did not answer through the VIP on the other load balancer"
        holder = vip_holder(inv, c)
    back = rejoined_as_backup(inv, c, former, 30.0)
    assert back.ok, back.detail
    assert vip_holder(inv, c) == holder, "the failed load balancer took the VIP back"
    print(f"{mode}: {moved.detail}; {back.detail}")


def test_fail_api_vip_experiment_through_the_pytest_plugin(lab: Lab, ssh_inv: Inventory, tmp_path: Path) -> None:
    """The experiment through ``ssh://`` load balancers: haproxy and keepalived are systemd units there."""
    assert {ssh_inv.node(m.node).url[:6] for m in ssh_inv.cluster("kube-api-lb").members} == {"ssh://"}
    inventory = str(lab.inventory_path)
    journals = tmp_path / "journals"
    done = subprocess.run(
        [str(BIN / "pytest"), "-q", "-p", "no:cacheprovider", "--hadrill-inventory", inventory,
         "--hadrill-journal-dir", str(journals), str(FAIL_API_VIP)],
        cwd=tmp_path, env={**os.environ, "HADRILL_INVENTORY": inventory}, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    [path] = list(journals.rglob("journal.json"))
    verdicts = {v["name"]: v for v in json.loads(path.read_text())["hadrill"]["verdicts"]}
    assert all(v["ok"] for v in verdicts.values()), verdicts
    for name in ("vip_moved_s", "rejoined_backup_s", "kubernetes-ready max_outage", "kubernetes-app max_outage"):
        assert verdicts[name]["measured"] is not None, verdicts[name]
    assert verdicts["kubernetes-write acked_writes_lost"]["measured"] == 0
    print("fail the API VIP: " + "; ".join(f"{n}: {v['detail']}" for n, v in verdicts.items()))


# -- the application's SLO while one of its pods dies ------------------------------------------------------
def test_kill_app_pod_experiment_meets_the_application_slo(lab: Lab, kubectl: Any, tmp_path: Path) -> None:
    def pods() -> set[str]:
        listed = json.loads(kubectl("get", "pods", "-n", APP_NAMESPACE, "-o", "json"))["items"]
        return {p["metadata"]["name"] for p in listed if p["metadata"].get("deletionTimestamp") is None}

    before = pods()
    assert len(before) == 3, before
    result = run_experiment_file(KILL_APP_POD, inventory=docker_inventory_path(LAB_NAME), journal_dir=tmp_path)

    assert result.ok, failure_report(result.journal)
    after = pods()
    assert len(after) == 3 and len(before - after) == 1, (before, after)  # one pod killed, one replacement
    verdicts = {v["name"]: v for v in result.hadrill["verdicts"]}
    assert {"kubernetes-app max_outage", "kubernetes-app availability"} <= set(verdicts), sorted(verdicts)
    assert all(v["ok"] and v["measured"] is not None for v in verdicts.values()), verdicts
    print("kill an application pod: " + "; ".join(f"{n}: {v['detail']}" for n, v in verdicts.items()))


# -- hadrill inside the cluster: the nightly gate (deploy/in-cluster/) ------------------------------------
NIGHTLY = ROOT / "deploy" / "in-cluster" / "hadrill-nightly.yaml"
SA = "system:serviceaccount:hadrill:hadrill"


def _gate_job(kubectl: Any, name: str) -> dict[str, Any]:
    """Run the CronJob once (a Job from its template) and wait for its end: the Job, ended."""
    kubectl("-n", "hadrill", "create", "job", "--from=cronjob/hadrill-nightly", name)

    def ended() -> str | None:
        job = json.loads(kubectl("-n", "hadrill", "get", "job", name, "-o", "json"))
        s = job.get("status", {})
        return None if s.get("succeeded") or s.get("failed") else f"status {s}"

    wait_until(f"job {name} ended", ended, timeout=600, interval=3.0)
    job: dict[str, Any] = json.loads(kubectl("-n", "hadrill", "get", "job", name, "-o", "json"))
    return job


def _can_i(kubectl: Any, *args: str) -> str:
    """kubectl auth can-i as the gate's ServiceAccount: "yes" or "no" (it exits 1 on no)."""
    binary = next(b.path for b in kubernetes_binaries("v1.34.4", KUBE_NODE) if b.name == "kubectl")
    done = subprocess.run([str(binary), "--kubeconfig", kubectl.kubeconfig, "auth", "can-i", *args, "--as", SA],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    return done.stdout.strip()


def _kept(kubectl: Any, name: str) -> dict[str, str]:
    data: dict[str, str] = json.loads(kubectl("-n", "hadrill", "get", "configmap", name, "-o", "json"))["data"]
    return data


def test_in_cluster_nightly_gate_refuses_a_namespace_that_did_not_opt_in_then_passes(
    lab: Lab, inv: Inventory, kubectl: Any, tmp_path: Path
) -> None:
    """hadrill's own image (Debian's Python and the project's wheel), imported into the workers, run by the
    shipped CronJob under its least-privilege ServiceAccount in a namespace that enforces Pod Security
    "restricted" (the API's own admission is the oracle that the pod meets it: it would not be created).
    Without the namespace's opt-in label the drill is refused before any pod is deleted and the Job fails;
    labelled, the Job passes: the compliance findings and the drill's report are in their ConfigMaps, and
    exactly one application pod was replaced."""
    from hadrill.lab.engine import docker_client
    from hadrill.lab.hadrill_image import ensure_hadrill_image
    from hadrill.lab.kubeadm_images import image_tar

    client = docker_client()
    ref = ensure_hadrill_image(client, ROOT)
    tar = image_tar(client, ref)
    for node in inv.cluster("kubernetes").settings["workers"]:  # where the Job's pod may run
        rc, output = client.containers.get(node).exec_run(
            ["ctr", "-n", "k8s.io", "images", "import", f"/opt/hadrill/images/{tar.name}"]
        )
        assert rc == 0, output[-500:]
    # the lab's own namespaces (all there before the gate's) are not the gate's: their findings are waived,
    # with an owner and a date, as a team does (the application is the drill's target and not hardened,
    # the namespaces have no NetworkPolicy, no ResourceQuota); the gate's namespace gets no waiver
    docs = [d for d in yaml.safe_load_all(NIGHTLY.read_text()) if d]
    [config] = [d for d in docs if d["kind"] == "ConfigMap"]
    lab_namespaces = {n["metadata"]["name"] for n in json.loads(kubectl("get", "namespaces", "-o", "json"))["items"]}
    assert "hadrill" not in lab_namespaces and APP_NAMESPACE in lab_namespaces, lab_namespaces
    expires = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 30 * 86400))
    lab_only = {"owner": "hadrill tests", "reason": "the lab's own namespace, not the gate's", "expires": expires}
    waivers = [
        {"check": "HD-*", "selector": selector, **lab_only}
        for ns in sorted(lab_namespaces) for selector in ({"namespace": ns}, {"object": f"Namespace/{ns}"})
    ]  # fmt: skip
    config["data"]["waivers.yaml"] = yaml.safe_dump({"api_version": "hadrill/v1", "kind": "Waivers",
                                                     "waivers": waivers})  # fmt: skip
    manifests = tmp_path / "hadrill-nightly.yaml"
    manifests.write_text(yaml.safe_dump_all(docs))
    kubectl("apply", "-f", str(manifests))

    def pods() -> set[str]:
        listed = json.loads(kubectl("get", "pods", "-n", APP_NAMESPACE, "-o", "json"))["items"]
        return {p["metadata"]["name"] for p in listed if p["metadata"].get("deletionTimestamp") is None}

    try:
        # least privilege, asked of the API itself
        can = {
            args: _can_i(kubectl, *args)
            for args in [("delete", "pods", "-n", APP_NAMESPACE), ("delete", "pods", "-n", "kube-system"),
                         ("get", "secrets", "-n", APP_NAMESPACE), ("list", "secrets", "-A"),
                         ("update", "configmaps/hadrill-nightly-drill", "-n", "hadrill"),
                         ("update", "configmaps/hadrill-nightly", "-n", "hadrill")]
        }  # fmt: skip
        assert list(can.values()) == ["yes", "no", "no", "no", "yes", "no"], can

        before = pods()
        kubectl("label", "namespace", APP_NAMESPACE, "hadrill.io/chaos-", "--overwrite")
        refused = _gate_job(kubectl, "gate-refused")
        logs = kubectl("-n", "hadrill", "logs", "job/gate-refused")
        assert refused["status"].get("failed"), (refused["status"], logs[-3000:])
        assert "compliance exit 0, drill exit 1" in logs, logs[-3000:]
        report = _kept(kubectl, "hadrill-nightly-drill")["report.md"]
        assert "has not opted in" in report and "hadrill.io/chaos=enabled" in report, report[-2000:]
        assert pods() == before, "a pod was deleted in a namespace that did not opt in"

        kubectl("label", "namespace", APP_NAMESPACE, "hadrill.io/chaos=enabled", "--overwrite")
        passed = _gate_job(kubectl, "gate-passed")
        logs = kubectl("-n", "hadrill", "logs", "job/gate-passed")
        findings = json.loads(_kept(kubectl, "hadrill-nightly-compliance")["findings.json"])["findings"]
        failing = [(f["check_id"], f["target"]) for f in findings if f["status"] in ("fail", "error")]
        assert passed["status"].get("succeeded"), (logs[-3000:], failing)
        assert "compliance exit 0, drill exit 0" in logs, logs[-3000:]

        def namespace(f: dict[str, Any]) -> str:  # a namespace's own findings have it as their target
            return str(f.get("namespace") or f["target"])

        # waived: only the lab's own namespaces, and listed as such; the gate's own namespace passes outright
        waived = {namespace(f) for f in findings if f["status"] == "waived"}
        assert APP_NAMESPACE in waived and waived <= lab_namespaces, waived
        ours = [(f["check_id"], f["target"], f["status"]) for f in findings if namespace(f) == "hadrill"]
        assert ours and all(status == "pass" for _, _, status in ours), ours
        drill = json.loads(_kept(kubectl, "hadrill-nightly-drill")["report.json"])
        [scenario] = drill["scenarios"]
        assert scenario["status"] == "passed", scenario
        verdicts = {v["name"]: v for v in scenario["verdicts"]}
        assert {"kubernetes-app availability", "kubernetes-app max_outage"} <= set(verdicts), sorted(verdicts)
        assert all(v["ok"] and v["measured"] is not None for v in verdicts.values()), verdicts
        after = pods()
        assert len(after) == 3 and len(before - after) == 1, (before, after)  # one pod killed, one replacement
        suites = {f["suite"] for f in findings}
        assert suites == {"pss", "workloads"}, suites
        print("in-cluster gate: " + "; ".join(f"{n}: {v['detail']}" for n, v in verdicts.items()))
    finally:
        kubectl("label", "namespace", APP_NAMESPACE, "hadrill.io/chaos-", "--overwrite")
        kubectl("delete", "-f", str(NIGHTLY), "--wait=true", "--timeout=120s")
        api = kube_api(inv.cluster("kubernetes"), timeout=5.0)
        wait_until("the application whole again", lambda: app_problem(api), timeout=120, interval=2.0)


# -- a worker node running the application dies ---------------------------------------------------------
# Kubernetes' own numbers (v1.34): the node controller declares a node unreachable node-monitor-grace-period
# (50 s) after its last heartbeat; the kubelet renews its Lease every 10 s, so never sooner than 40 s after
# the kill. The lab's app tolerates the unreachable taint 30 s (lab/kube_app.py) before its pods are evicted.
NOT_BEFORE_UNREACHABLE_S = 50 - 10
TOLERATION_S = 30


def test_kill_worker_experiment_measures_rescheduling_and_the_application(
    lab: Lab, inv: Inventory, kubectl: Any, tmp_path: Path
) -> None:
    def app_pods() -> list[dict[str, Any]]:
        listed = json.loads(kubectl("get", "pods", "-n", APP_NAMESPACE, "-o", "json"))["items"]
        return [p for p in listed if p["metadata"].get("deletionTimestamp") is None]

    workers = sorted(str(w) for w in inv.cluster("kubernetes").settings["workers"])
    per_node = {w: sum(1 for p in app_pods() if p["spec"].get("nodeName") == w) for w in workers}
    assert sorted(per_node.values()) == [1, 2], per_node  # 3 replicas spread over the 2 workers
    expected = max(workers, key=lambda w: (per_node[w], -workers.index(w)))  # the most pods, then by name

    hadrill = hadrill_run(KILL_WORKER, tmp_path)
    [fault] = hadrill["faults"]
    assert fault["kind"] == "kube.worker_power_off" and fault["params"]["node"] == expected, (per_node, fault)
    verdicts = {v["name"]: v for v in hadrill["verdicts"]}
    for probe in ("kubernetes-ready", "kubernetes-app"):  # the application's availability and RTO beside the API's
        for objective in ("availability", "max_outage"):
            v = verdicts[f"{probe} {objective}"]
            assert v["ok"] and v["measured"] is not None, v
    # the API, untouched, is judged by its own SLO (objectives.probes), the application by its 1/3 floor
    assert verdicts["kubernetes-ready availability"]["objective"] == 0.98
    assert verdicts["kubernetes-app availability"]["objective"] == 0.33
    assert verdicts["kubernetes-write acked_writes_lost"]["measured"] == 0
    unrouted = verdicts["app_unrouted_s"]["measured"]
    rescheduled = verdicts["app_rescheduled_s"]["measured"]
    # never sooner than Kubernetes allows (the evictions came from the unreachable taint after its toleration),
    # never later than the experiment's objectives (60 s, 95 s)
    assert NOT_BEFORE_UNREACHABLE_S <= unrouted <= 60.0, verdicts["app_unrouted_s"]
    assert NOT_BEFORE_UNREACHABLE_S + TOLERATION_S <= rescheduled <= 95.0, verdicts["app_rescheduled_s"]
    assert verdicts["worker_rejoined_s"]["ok"] and verdicts["worker_rejoined_s"]["measured"] is not None
    # the people on call found out: the lab's Prometheus paged KubeletDown, and it resolved after the heal
    for name in ("KubeletDown time_to_detect", "KubeletDown time_to_resolve"):
        assert verdicts[name]["ok"] and verdicts[name]["measured"] is not None, verdicts[name]

    # kubectl's view afterwards: the killed worker is Ready again, every replica runs on the other one
    node = json.loads(kubectl("get", "node", expected, "-o", "json"))
    assert _ready(node), node["status"]["conditions"]
    after = app_pods()
    assert len(after) == 3 and {p["spec"]["nodeName"] for p in after} == set(workers) - {expected}, [
        (p["metadata"]["name"], p["spec"].get("nodeName")) for p in after
    ]
    # the application's failed requests, before and after the API dropped the dead node's endpoints: shown,
    # the objective (the surviving replica's share, 1/3) is judged above
    samples = hadrill["histories"]["kubernetes-app"]["samples"]
    cut = float(fault["start"]) + unrouted
    before = [s for s in samples if float(fault["start"]) <= s["start"] < cut]
    late = [s for s in samples if cut <= s["start"] < float(fault["revert_start"]) + 10.0]
    failed_before = sum(1 for s in before if not s["ok"]) / len(before)
    failed_late = sum(1 for s in late if not s["ok"]) / len(late)
    assert failed_before > failed_late, (failed_before, failed_late)  # the Service did stop sending to the dead node
    print(
        f"kill worker {expected} ({per_node[expected]} of 3 pods): {failed_before:.1%} of the app's requests failed "
        f"until the API dropped its endpoints, {failed_late:.1%} from then to the revert + 10 s; "
        + "; ".join(f"{n}: {v['detail']}" for n, v in verdicts.items())
    )


# -- the etcd restore drill on the static-pod control plane ----------------------------------------------
ETCD_RESTORE = ROOT / "experiments" / "kube-etcd-restore.yaml"
_MASTER_STATE = (
    "ls /etc/kubernetes/manifests; echo --; ls -d /etc/kubernetes/hadrill-parked-* /var/lib/hadrill-restore "
    "2>/dev/null; echo --; systemctl list-timers --all --no-legend --no-pager 'hadrill-deadman-*' | "
    "grep -o 'hadrill-deadman-[0-9a-f]*[.]timer'; true"
)


def _masters_state(lab: Lab, inv: Inventory) -> dict[str, list[list[str]]]:
    """Per master, read with ls and systemctl in the node (not through hadrill): its manifests, what the drill
    leaves (parked manifests, snapshot dir), and deadman timers."""
    out = {}
    for m in inv.cluster("kubernetes").members:
        rc, raw = lab.client.containers.get(m.node).exec_run(["sh", "-c", _MASTER_STATE])
        assert rc == 0, raw
        out[m.node] = [part.split() for part in raw.decode().split("--\n")]
    return out


def test_drain_app_worker_experiment_honours_the_disruption_budget_and_the_application_slo(
    lab: Lab, inv: Inventory, kubectl: Any, tmp_path: Path
) -> None:
    """After kill-worker (every replica on one worker), the experiment spreads the app again, drains the
    worker with 2 of its 3 pods: the budget (minAvailable 2) refuses the second eviction at least once,
    the application keeps its SLO, the worker is schedulable again after the heal and its deadman
    timers are gone from every master (systemctl's own list)."""
    hadrill = hadrill_run(DRAIN_WORKER, tmp_path)
    [fault] = hadrill["faults"]
    p = fault["params"]
    assert fault["kind"] == "kube.drain_node" and sorted(p["app_pods"].values()) == [1, 2], p  # spread first
    assert p["app_pods"][p["node"]] == 2 and p["evicted"] >= 2, p
    # the second eviction came while the first pod's replacement was not Ready: 3 - 1 < minAvailable + 1
    assert p["pdb_refusals"] >= 1, p
    verdicts = {v["name"]: v for v in hadrill["verdicts"]}
    for name in ("kubernetes-app availability", "kubernetes-app max_outage", "kubernetes-ready availability",
                 "kubernetes-write acked_writes_lost", "worker_drained_s"):  # fmt: skip
        assert verdicts[name]["ok"] and verdicts[name]["measured"] is not None, verdicts[name]
    assert verdicts["kubernetes-app availability"]["objective"] == 0.98
    node = json.loads(kubectl("get", "node", p["node"], "-o", "json"))
    assert not node["spec"].get("unschedulable"), node["spec"]
    unit = f"hadrill-deadman-{fault['id']}"
    for m in inv.cluster("kubernetes").members:
        rc, out = lab.client.containers.get(m.node).exec_run(["systemctl", "list-timers", "--all", "--no-legend"])
        assert rc == 0 and unit not in out.decode(), (m.node, out.decode()[-500:])
    print(
        f"drain {p['node']}: {verdicts['worker_drained_s']['detail']}; app availability "
        f"{verdicts['kubernetes-app availability']['measured']:.2%}, longest gap "
        f"{verdicts['kubernetes-app max_outage']['measured']:.2f} s"
    )


def test_etcd_restore_drill_on_static_pod_masters_under_hadrill_run(
    lab: Lab, inv: Inventory, ssh_inv: Inventory, tmp_path: Path
) -> None:
    """`hadrill run` of the restore experiment on kubeadm masters reached over ``ssh://`` (a real cluster's
    master-restore procedure, no engine): the static-pod procedure, the known answer met, the API and the
    application back, and on every master the manifests in place, nothing parked, no snapshot, no timer left."""
    journals = tmp_path / "journals"
    h = hadrill_run(ETCD_RESTORE, journals, timeout=1200, inventory=lab.inventory_path)
    assert [f["kind"] for f in h["faults"]] == ["etcd-restore-static"], h["faults"]  # not the container procedure
    urls = {m.node: ssh_inv.node(m.node).url for m in ssh_inv.cluster("kubernetes").members}
    assert all(u.startswith("ssh://") for u in urls.values()), urls
    assert {f["target"] for f in h["faults"]} <= set(urls.values()), h["faults"]
    verdicts = {v["name"]: v for v in h["verdicts"]}
    known = verdicts["kube-restore loss accounting = known answer"]
    # 10 writes acknowledged after the snapshot (the experiment's writes_after), all above its revision
    assert known["ok"] and known["objective"] == known["measured"] == 10.0, known
    assert verdicts["restored objects before the snapshot"]["measured"] == 20.0  # every earlier write back: RPO 0
    for name in ("kube-restore max_outage", "kube-restore etcd members healthy",
                 "kube-restore API and application answer", "kubernetes-app max_outage"):  # fmt: skip
        assert verdicts[name]["ok"] and verdicts[name]["measured"] is not None, verdicts[name]
    assert all(v["ok"] for v in verdicts.values()), verdicts
    for node, (manifests, leftovers, timers) in _masters_state(lab, inv).items():
        assert {"etcd.yaml", "kube-apiserver.yaml"} <= set(manifests), (node, manifests)
        assert leftovers == [] and timers == [], (node, leftovers, timers)
    print("restore drill on static pods: " + "; ".join(f"{n}: {v['detail']}" for n, v in verdicts.items()))


def test_etcd_restore_deadman_restores_the_masters_without_the_harness(
    lab: Lab, inv: Inventory, ssh_inv: Inventory
) -> None:
    """What a harness killed mid-drill leaves (control plane moved out, etcd data destroyed, no revert), on
    masters reached over ``ssh://``: their own systemd timers restore every member and put the manifests
    back at the deadline."""
    from hadrill.clients.kube import kube_api
    from hadrill.faults.etcd_restore_static import StaticEtcdRestoreFault, save_snapshot, static_masters
    from hadrill.restore import wait_api

    api = kube_api(inv.cluster("kubernetes"), timeout=5.0)
    key = f"deadman-{int(time.time())}"
    api.create("/api/v1/namespaces/default/configmaps", {"metadata": {"name": key}, "data": {"v": "1"}})
    ms = static_masters(ssh_inv)
    assert ms is not None and len(ms) == 3 and all(m.url.startswith("ssh://") for m in ms), ms
    save_snapshot(ms[0], ms)  # the ConfigMap is in it
    fault = StaticEtcdRestoreFault(target=ms[0].url, time_limit=45, force=True, masters=tuple(ms))
    record = fault.record()
    StaticEtcdRestoreFault.arm_deadman(record)
    try:
        fault.inject(record)
        fault.prove(record)
        state = _masters_state(lab, inv)
        for node, (manifests, leftovers, timers) in state.items():  # moved out, parked, timer armed
            assert "etcd.yaml" not in manifests and "kube-apiserver.yaml" not in manifests, (node, manifests)
            assert f"/etc/kubernetes/hadrill-parked-{record.id}" in leftovers, (node, leftovers)
            assert timers == [f"hadrill-deadman-{record.id}.timer"], (node, timers)
        ready = wait_api(api, record.deadline - time.time() + 240)  # nobody reverts: only the timers
        assert ready is not None and ready > record.deadline, "the API did not come back after the deadline"
        assert api.get(f"/api/v1/namespaces/default/configmaps/{key}")["data"] == {"v": "1"}
        for node, (manifests, leftovers, timers) in _masters_state(lab, inv).items():
            assert {"etcd.yaml", "kube-apiserver.yaml"} <= set(manifests), (node, manifests)
            assert leftovers == ["/var/lib/hadrill-restore"] and timers == [], (node, leftovers, timers)
        print(f"deadman: API ready {ready - record.deadline:.1f} s after the deadline, without the harness")
    finally:
        StaticEtcdRestoreFault.revert(record)  # idempotent: nothing to do if the timers did it
        StaticEtcdRestoreFault.disarm(record)
        for m in ms:
            lab.client.containers.get(m.node).exec_run(["rm", "-rf", "/var/lib/hadrill-restore"])
        api.request("DELETE", f"/api/v1/namespaces/default/configmaps/{key}")


def test_recover_finishes_a_static_pod_restore_that_died_midway(lab: Lab, inv: Inventory, tmp_path: Path) -> None:
    """The harness dies after the disaster: ``recover`` (as ``hadrill recover``) restores every member from the
    record alone, even on a master that lost its copy of the snapshot (put back from the host's), puts the
    manifests back and disarms the masters' timers; a second revert is a no-op."""
    from hadrill.clients.kube import kube_api
    from hadrill.faults.base import recover
    from hadrill.faults.etcd_restore_static import SNAPSHOT, StaticEtcdRestoreFault, save_snapshot, static_masters
    from hadrill.faults.ledger import Ledger
    from hadrill.restore import wait_api

    api = kube_api(inv.cluster("kubernetes"), timeout=5.0)
    key = f"recover-{int(time.time())}"
    api.create("/api/v1/namespaces/default/configmaps", {"metadata": {"name": key}, "data": {"v": "1"}})
    ms = static_masters(inv)
    assert ms is not None
    host_copy = tmp_path / "snapshot.db"
    host_copy.write_bytes(save_snapshot(ms[0], ms)[0])
    fault = StaticEtcdRestoreFault(
        target=ms[0].url, time_limit=300, force=True, masters=tuple(ms), snapshot_on_host=str(host_copy)
    )
    ledger = Ledger()
    record = fault.record()
    ledger.open(record)
    try:
        StaticEtcdRestoreFault.arm_deadman(record)
        fault.inject(record)
        fault.prove(record)
        lab.client.containers.get(ms[1].node).exec_run(["rm", "-f", SNAPSHOT])  # lost: the host's copy goes back
        t0 = time.monotonic()
        outcomes = recover(ledger, include_live=True)
        assert [o for _, o in outcomes] == ["reverted"], outcomes
        assert wait_api(api, 240) is not None, "the API did not come back after recover"
        print(f"recover to API ready: {time.monotonic() - t0:.1f} s")
        assert not ledger.open_faults()
        assert api.get(f"/api/v1/namespaces/default/configmaps/{key}")["data"] == {"v": "1"}
        for node, (manifests, leftovers, timers) in _masters_state(lab, inv).items():
            assert {"etcd.yaml", "kube-apiserver.yaml"} <= set(manifests), (node, manifests)
            assert leftovers == ["/var/lib/hadrill-restore"] and timers == [], (node, leftovers, timers)
        StaticEtcdRestoreFault.revert(record)  # idempotent: every member is marked restored for this record
        assert wait_api(api, 60) is not None
    finally:
        StaticEtcdRestoreFault.disarm(record)
        for m in ms:
            lab.client.containers.get(m.node).exec_run(["rm", "-rf", "/var/lib/hadrill-restore"])
        api.request("DELETE", f"/api/v1/namespaces/default/configmaps/{key}")

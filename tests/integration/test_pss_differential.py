"""hadrill's Pod Security Standards verdicts against the lab API server's own PodSecurity admission.

One lab for the module (only ``kubernetes``, ``hdt-<worker>-pss``, an isolated ``HADRILL_STATE_DIR``,
taken down in ``finally``). Two namespaces, labelled ``pod-security.kubernetes.io/enforce=restricted``
and ``=baseline`` (``enforce-version: latest``). Hypothesis generates API-valid pod specs (a compliant
base with zero to several mutations drawn over every control, compliant and violating values both);
each is created with a server-side dry run (``?dryRun=All``) in both namespaces: 201 means admitted, 403
"violates PodSecurity" means rejected, and hadrill's verdict at that level must be the same. A 422
(the generator made an invalid spec) is not comparable: reported, and failing only if it happens more
than a few times.

The workload tests plant compliant and non-compliant Deployments, PDBs, NetworkPolicies,
ResourceQuotas and a backup CronJob (kwok runs the pods) and assert the findings. Traffic goes only to
the lab's containers; every loop is bounded.
"""

from __future__ import annotations

import copy
import functools
import os
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from hadrill.clients.kube import KubeApi, KubeApiError, kube_api
from hadrill.compliance.etcd_backup import check_etcd_backup_cronjob
from hadrill.compliance.kube_workloads import check_pss_live, check_workloads
from hadrill.compliance.policy import CompliancePolicy, EtcdBackupPolicy, PssPolicy, WorkloadsPolicy
from hadrill.compliance.pss import evaluate_pod
from hadrill.compliance.registry import Finding
from hadrill.compliance.runner import run_checks
from hadrill.inventory import Inventory, load_inventory
from hadrill.lab.lab import Lab
from hadrill.lab.labfile import parse_lab_data

pytestmark = [pytest.mark.lab, pytest.mark.compliance, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parents[2]
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
LAB_NAME = f"hdt-{WORKER}-pss"[:24]
UP_TIMEOUT = 300.0
CALL = 10.0
MAX_INVALID = 5  # 422s tolerated (reported) before the generator is considered broken
EXAMPLES = int(os.environ.get("HADRILL_PSS_EXAMPLES", "150"))
IMAGE = "registry.k8s.io/pause:3.10"


# -- fixtures --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def lab(state_dir: Path) -> Iterator[Lab]:
    spec = parse_lab_data({"name": LAB_NAME, "etcd": None, "kubernetes": {}}, "<test lab pss>")
    lab = Lab(spec, owner="pytest", base_dir=REPO)
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
    return kube_api(inv.cluster("kubernetes"), timeout=CALL)


def make_namespace(api: KubeApi, name: str, labels: dict[str, str] | None = None) -> str:
    api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                      "metadata": {"name": name, "labels": labels or {}}})  # fmt: skip
    return name


@pytest.fixture(scope="module")
def pss_namespaces(api: KubeApi) -> dict[str, str]:
    out = {}
    for level in ("restricted", "baseline"):
        labels = {"pod-security.kubernetes.io/enforce": level, "pod-security.kubernetes.io/enforce-version": "latest"}
        out[level] = make_namespace(api, f"pss-{level}", labels)
    for ns in out.values():  # pods are refused (403) until the controller manager made the default ServiceAccount
        wait_for(
            f"{ns}/default ServiceAccount",
            functools.partial(_exists, api, f"/api/v1/namespaces/{ns}/serviceaccounts/default"),
        )
    return out


def _exists(api: KubeApi, path: str) -> bool:
    try:
        api.get(path)
    except KubeApiError as e:
        if e.status == 404:
            return False
        raise
    return True


# -- the generator ---------------------------------------------------------------------------------
def compliant_pod(name: str) -> dict[str, Any]:
    """A pod the restricted level admits; mutations make it violate (or stay compliant) one field at a time."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": {}},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "c0",
                    "image": IMAGE,
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                }
            ],
        },
    }


_SECCOMP = st.sampled_from([None, {"type": "RuntimeDefault"}, {"type": "Unconfined"},
                            {"type": "Localhost", "localhostProfile": "profiles/p.json"}])  # fmt: skip
_APPARMOR = st.sampled_from([None, {"type": "RuntimeDefault"}, {"type": "Unconfined"},
                             {"type": "Localhost", "localhostProfile": "k8s-p"}])  # fmt: skip
_SELINUX = st.sampled_from([None, {"type": "container_t"}, {"type": "container_engine_t"}, {"type": "spc_t"},
                            {"user": "system_u"}, {"role": "system_r"}, {"level": "s0:c123,c456"}])  # fmt: skip
_CAPS_ADD = st.sampled_from([[], ["NET_BIND_SERVICE"], ["CHOWN"], ["SYS_ADMIN"], ["NET_RAW"], ["NET_ADMIN"]])
_CAPS_DROP = st.sampled_from([[], ["ALL"], ["NET_RAW"], ["all"]])
_VOLUME = st.sampled_from([
    {"name": "v", "emptyDir": {}},
    {"name": "v", "configMap": {"name": "cm"}},
    {"name": "v", "secret": {"secretName": "s"}},
    {"name": "v", "persistentVolumeClaim": {"claimName": "pvc"}},
    {"name": "v", "downwardAPI": {"items": [{"path": "l", "fieldRef": {"fieldPath": "metadata.labels"}}]}},
    {"name": "v", "hostPath": {"path": "/tmp"}},
    {"name": "v", "nfs": {"server": "10.0.0.1", "path": "/x"}},
    {"name": "v", "iscsi": {"targetPortal": "10.0.0.1:3260", "iqn": "iqn.2001-04.com.example:x", "lun": 0}},
    {"name": "v", "gitRepo": {"repository": "https://example.invalid/x.git"}},
])  # fmt: skip
_HOST = st.sampled_from(["", "127.0.0.1", "10.1.2.3", "localhost"])
_SYSCTL = st.sampled_from(
    [
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_rmem",
        "kernel.msgmax",
        "net.core.somaxconn",
        "kernel.sem",
    ]
)
_SYSCTL_VALUE = {"net.ipv4.ip_local_port_range": "1024 65535", "net.ipv4.ping_group_range": "0 1",
                 "net.ipv4.tcp_rmem": "4096 87380 6291456", "kernel.sem": "250 32000 32 128"}  # fmt: skip
CONTROLS = (
    "hostNetwork", "hostPID", "hostIPC", "privileged", "capsAdd", "capsDrop", "hostPath/volume", "hostPort",
    "appArmorPod", "appArmorCtr", "appArmorAnnotation", "seLinuxPod", "seLinuxCtr", "procMount", "seccompPod",
    "seccompCtr", "sysctls", "probeHost", "lifecycleHost", "allowPrivilegeEscalation", "runAsNonRootPod",
    "runAsNonRootCtr", "runAsUserPod", "runAsUserCtr", "initContainer", "secondContainer", "hostUsers", "windowsOs",
    "hostProcess",
)  # fmt: skip


@st.composite
def pod_specs(draw: st.DrawFn) -> dict[str, Any]:
    pod = compliant_pod("p")
    spec, meta = pod["spec"], pod["metadata"]
    psc = spec["securityContext"]
    # the containers the container-level mutations pick from
    if draw(st.booleans()):
        spec["containers"].append(copy.deepcopy(spec["containers"][0]) | {"name": "c1"})
    if draw(st.integers(0, 3)) == 0:
        spec["initContainers"] = [copy.deepcopy(spec["containers"][0]) | {"name": "i0"}]
    ctrs = spec["containers"] + spec.get("initContainers", [])
    n = draw(st.integers(0, 4))
    mutations = draw(st.lists(st.sampled_from(CONTROLS), min_size=n, max_size=n, unique=True))

    def ctr() -> dict[str, Any]:
        c: dict[str, Any] = draw(st.sampled_from(ctrs))
        return c

    def csc() -> dict[str, Any]:
        sc: dict[str, Any] = ctr().setdefault("securityContext", {})
        return sc

    for m in mutations:
        if m in ("hostNetwork", "hostPID", "hostIPC"):
            spec[m] = draw(st.booleans())
        elif m == "privileged":
            csc()["privileged"] = draw(st.booleans())
        elif m == "capsAdd":
            csc().setdefault("capabilities", {})["add"] = draw(_CAPS_ADD)
        elif m == "capsDrop":
            csc().setdefault("capabilities", {})["drop"] = draw(_CAPS_DROP)
        elif m == "hostPath/volume":
            spec["volumes"] = [draw(_VOLUME)]
        elif m == "hostPort":
            ctr()["ports"] = [{"containerPort": 8080, "hostPort": draw(st.sampled_from([0, 8080]))}]
        elif m == "appArmorPod":
            psc["appArmorProfile"] = draw(_APPARMOR)
        elif m == "appArmorCtr":
            csc()["appArmorProfile"] = draw(_APPARMOR)
        elif m == "appArmorAnnotation":
            c = ctr()
            value = draw(st.sampled_from(["runtime/default", "unconfined", "localhost/k8s-p"]))
            meta["annotations"][f"container.apparmor.security.beta.kubernetes.io/{c['name']}"] = value
        elif m == "seLinuxPod":
            psc["seLinuxOptions"] = draw(_SELINUX)
        elif m == "seLinuxCtr":
            csc()["seLinuxOptions"] = draw(_SELINUX)
        elif m == "procMount":
            csc()["procMount"] = draw(st.sampled_from(["Default", "Unmasked"]))
        elif m == "seccompPod":
            psc["seccompProfile"] = draw(_SECCOMP)
        elif m == "seccompCtr":
            csc()["seccompProfile"] = draw(_SECCOMP)
        elif m == "sysctls":
            names = draw(st.lists(_SYSCTL, min_size=1, max_size=2, unique=True))
            psc["sysctls"] = [{"name": s, "value": _SYSCTL_VALUE.get(s, "1")} for s in names]
        elif m in ("probeHost", "lifecycleHost"):
            c = ctr()
            host = draw(_HOST)
            handler: dict[str, Any] = (
                {"httpGet": {"path": "/", "port": 8080, **({"host": host} if host else {})}}
                if draw(st.booleans())
                else {"tcpSocket": {"port": 8080, **({"host": host} if host else {})}}
            )
            if m == "probeHost":  # on an init container: made a sidecar by make_valid
                c[draw(st.sampled_from(["livenessProbe", "readinessProbe", "startupProbe"]))] = handler
            elif m == "lifecycleHost":
                c["lifecycle"] = {draw(st.sampled_from(["postStart", "preStop"])): handler}
        elif m == "allowPrivilegeEscalation":
            csc()["allowPrivilegeEscalation"] = draw(st.sampled_from([None, True, False]))
        elif m == "runAsNonRootPod":
            psc["runAsNonRoot"] = draw(st.sampled_from([None, True, False]))
        elif m == "runAsNonRootCtr":
            csc()["runAsNonRoot"] = draw(st.sampled_from([True, False]))
        elif m == "runAsUserPod":
            psc["runAsUser"] = draw(st.sampled_from([0, 1000]))
        elif m == "runAsUserCtr":
            csc()["runAsUser"] = draw(st.sampled_from([0, 1000]))
        elif m == "hostUsers":
            spec["hostUsers"] = draw(st.booleans())
        elif m == "windowsOs":
            spec["os"] = {"name": draw(st.sampled_from(["linux", "windows"]))}
        elif m == "hostProcess":
            psc["windowsOptions"] = {"hostProcess": True}
    return make_valid(pod)


_LINUX_ONLY_POD = ("seLinuxOptions", "seccompProfile", "appArmorProfile", "sysctls", "runAsUser", "runAsGroup",
                   "runAsNonRoot", "fsGroup", "supplementalGroups", "fsGroupChangePolicy")  # fmt: skip
_LINUX_ONLY_CTR = ("seLinuxOptions", "seccompProfile", "appArmorProfile", "capabilities", "readOnlyRootFilesystem",
                   "privileged", "allowPrivilegeEscalation", "procMount", "runAsUser", "runAsGroup")  # fmt: skip


def make_valid(pod: dict[str, Any]) -> dict[str, Any]:
    """Repair the combinations the API server's validation rejects (422), keeping the PSS-relevant fields."""
    spec, meta = pod["spec"], pod["metadata"]
    psc = spec["securityContext"]
    for k in [k for k, v in psc.items() if v is None]:
        del psc[k]
    ctrs = spec["containers"] + spec.get("initContainers", [])
    for c in ctrs:
        sc = c.setdefault("securityContext", {})
        for k in [k for k, v in sc.items() if v is None]:
            del sc[k]
        # privileged or CAP_SYS_ADMIN with allowPrivilegeEscalation false is invalid
        if sc.get("allowPrivilegeEscalation") is False and (
            sc.get("privileged") or "SYS_ADMIN" in (sc.get("capabilities") or {}).get("add", [])
        ):
            sc["allowPrivilegeEscalation"] = True
        if sc.get("procMount") == "Unmasked":
            spec["hostUsers"] = False
    if "windowsOptions" in psc:  # hostProcess: host network, and not a linux pod
        spec["hostNetwork"] = True
        spec.pop("hostUsers", None)
        if (spec.get("os") or {}).get("name") == "linux":
            spec["os"] = {"name": "windows"}
    if spec.get("hostUsers") is False:  # user namespaces exclude host namespaces and hostPath... keep it simple
        for k in ("hostNetwork", "hostPID", "hostIPC"):
            spec.pop(k, None)
    if (spec.get("os") or {}).get("name") == "windows":
        for k in _LINUX_ONLY_POD:
            psc.pop(k, None)
        for c in ctrs:
            for k in _LINUX_ONLY_CTR:
                c["securityContext"].pop(k, None)
        spec.pop("hostUsers", None)
        spec.pop("hostPID", None)
        spec.pop("hostIPC", None)
        meta["annotations"] = {}
    # namespaced sysctls may not be set when the namespace is the host's
    host_prefix = tuple(p for k, p in (("hostNetwork", "net."), ("hostIPC", "kernel.")) if spec.get(k))
    if "sysctls" in psc and host_prefix:
        psc["sysctls"] = [s for s in psc["sysctls"] if not s["name"].startswith(host_prefix)]
        if not psc["sysctls"]:
            del psc["sysctls"]
    for c in spec.get("initContainers", []):  # probes and lifecycle hooks only on sidecars (restartable)
        if c.get("lifecycle") or any(k in c for k in ("livenessProbe", "readinessProbe", "startupProbe")):
            c["restartPolicy"] = "Always"
    if spec.get("hostNetwork"):
        for c in ctrs:
            for p in c.get("ports", []):
                if p.get("hostPort"):
                    p["hostPort"] = p["containerPort"]
    # an AppArmor annotation must agree with the field that applies to the container: keep it only without one
    names = {c["name"]: c for c in ctrs}
    for key in list(meta["annotations"]):
        cname = key.rsplit("/", 1)[1]
        c = names.get(cname)
        if c is None or c["securityContext"].get("appArmorProfile") or psc.get("appArmorProfile"):
            del meta["annotations"][key]
    if spec.get("volumes"):
        spec["containers"][0]["volumeMounts"] = [{"name": "v", "mountPath": "/v"}]
    for c in ctrs:
        if not c["securityContext"]:
            del c["securityContext"]
    return pod


# -- the comparison ----------------------------------------------------------------------------------
def admission(api: KubeApi, namespace: str, pod: dict[str, Any]) -> tuple[str, str]:
    """("allowed"|"denied"|"invalid", message) from a server-side dry-run create."""
    body = copy.deepcopy(pod)
    body["metadata"]["name"] = f"p-{uuid.uuid4().hex[:10]}"
    try:
        api.request("POST", f"/api/v1/namespaces/{namespace}/pods", body, params={"dryRun": "All"}, timeout=CALL)
    except KubeApiError as e:
        if e.status == 403 and "violates PodSecurity" in str(e):
            return "denied", str(e)
        if e.status in (400, 422):
            return "invalid", str(e)
        raise
    return "allowed", ""


def test_differential_restricted_and_baseline(api: KubeApi, pss_namespaces: dict[str, str]) -> None:
    tally = {"compared": 0, "allowed": 0, "denied": 0}
    mismatches: list[str] = []
    invalid: list[str] = []

    @seed(20261123)
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(pod=pod_specs())
    def compare(pod: dict[str, Any]) -> None:
        for level, ns in pss_namespaces.items():
            server, msg = admission(api, ns, pod)
            if server == "invalid":
                invalid.append(f"{msg[:300]}\n  spec: {pod['spec']}")
                return
            hits = evaluate_pod(pod["metadata"], pod["spec"], level)
            ours = "denied" if hits else "allowed"
            tally["compared"] += 1
            tally[server] += 1
            if ours != server:
                mismatches.append(
                    f"{level}: server {server} ({msg[:400]}), hadrill {ours} {[c.psa_id for c, _ in hits]}\n"
                    f"  metadata: {pod['metadata']}\n  spec: {pod['spec']}"
                )

    t0 = time.monotonic()
    compare()
    took = time.monotonic() - t0
    report = (
        f"{tally['compared']} verdicts compared ({tally['allowed']} allowed, {tally['denied']} denied by the server) "
        f"in {took:.1f} s; {len(mismatches)} mismatches; {len(invalid)} not comparable (422)"
    )
    print(report)
    for item in invalid:
        print("not comparable:", item[:600])
    assert not mismatches, report + "\n" + "\n".join(mismatches[:10])
    assert len(invalid) <= MAX_INVALID, report + "\n" + "\n".join(invalid[:10])
    assert tally["allowed"] >= 10 and tally["denied"] >= 10, f"the generator is too one-sided: {report}"


# -- workloads and live pods --------------------------------------------------------------------------
def deployment(name: str, *, good: bool) -> dict[str, Any]:
    labels = {"app": name, "hadrill.dev/critical": "true"}
    ctr: dict[str, Any] = {"name": "app", "image": IMAGE if good else "registry.invalid/app:latest"}
    spec: dict[str, Any] = {"containers": [ctr]}
    if good:
        ctr |= {
            "readinessProbe": {"tcpSocket": {"port": 8080}},
            "livenessProbe": {"tcpSocket": {"port": 8080}, "initialDelaySeconds": 5},
            "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"cpu": "100m", "memory": "32Mi"}},
            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
        }
        spec |= {
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "priorityClassName": "hd-critical",
            "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                                           "whenUnsatisfiable": "ScheduleAnyway",
                                           "labelSelector": {"matchLabels": {"app": name}}}],
        }  # fmt: skip
    else:
        ctr |= {"livenessProbe": {"tcpSocket": {"port": 8080}, "initialDelaySeconds": 120},
                "securityContext": {"privileged": True}}  # fmt: skip
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels},
        "spec": {"replicas": 3 if good else 1, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": labels}, "spec": spec}},
    }  # fmt: skip


def pdb(name: str, app: str, **budget: Any) -> dict[str, Any]:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": {"app": app}}, **budget}}  # fmt: skip


def wait_for(what: str, check: Callable[[], Any], timeout: float = 120.0, interval: float = 2.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    for _ in range(int(timeout / interval) + 1):
        last = check()
        if last:
            return last
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    pytest.fail(f"{what}: not true after {timeout:.0f} s (last: {last!r})")


def by(findings: list[Finding], check_id: str, target_part: str) -> list[Finding]:
    return [f for f in findings if f.check_id == check_id and target_part in f.target]


@pytest.fixture(scope="module")
def planted(api: KubeApi) -> dict[str, str]:
    """A compliant namespace (good Deployment, PDB maxUnavailable 1, NetworkPolicy, ResourceQuota) and a bad one."""
    good_ns, bad_ns = make_namespace(api, "wl-good"), make_namespace(api, "wl-bad")
    api.create("/apis/scheduling.k8s.io/v1/priorityclasses",
               {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "hd-critical"},
                "value": 100000})  # fmt: skip
    api.create(f"/apis/apps/v1/namespaces/{good_ns}/deployments", deployment("web", good=True))
    api.create(f"/apis/policy/v1/namespaces/{good_ns}/poddisruptionbudgets", pdb("web", "web", maxUnavailable=1))
    api.create(f"/apis/networking.k8s.io/v1/namespaces/{good_ns}/networkpolicies",
               {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "deny"},
                "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}})  # fmt: skip
    api.create(f"/api/v1/namespaces/{good_ns}/resourcequotas",
               {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"},
                "spec": {"hard": {"pods": "20", "requests.cpu": "2", "requests.memory": "1Gi"}}})  # fmt: skip
    api.create(f"/apis/apps/v1/namespaces/{bad_ns}/deployments", deployment("solo", good=False))
    api.create(f"/apis/policy/v1/namespaces/{bad_ns}/poddisruptionbudgets", pdb("solo", "solo", minAvailable=1))

    def settled() -> Any:
        pdbs = {(p["metadata"]["namespace"], p["metadata"]["name"]): (p.get("status") or {})
                for p in api.list_all("/apis/policy/v1/poddisruptionbudgets")}  # fmt: skip
        web = pdbs.get((good_ns, "web"), {})
        solo = pdbs.get((bad_ns, "solo"), {})
        return (web.get("disruptionsAllowed", 0) >= 1 and solo.get("currentHealthy", 0) >= 1) or (web, solo)

    wait_for("kwok pods healthy and the PDBs computed", lambda: settled() is True, timeout=180)
    return {"good": good_ns, "bad": bad_ns}


def test_workload_findings(api: KubeApi, planted: dict[str, str]) -> None:
    t0 = time.monotonic()
    policy = WorkloadsPolicy()
    findings = check_workloads(api, policy)
    took = time.monotonic() - t0
    good, bad = f"{planted['good']}/Deployment/web", f"{planted['bad']}/Deployment/solo"
    for cid in ("HD-WL-001", "HD-WL-002", "HD-WL-003", "HD-WL-004", "HD-WL-005", "HD-WL-006", "HD-WL-007",
                "HD-WL-008", "HD-WL-011"):  # fmt: skip
        mine = by(findings, cid, good)
        assert mine and all(f.status == "pass" for f in mine), (cid, mine)
    for cid in ("HD-WL-001", "HD-WL-003", "HD-WL-004", "HD-WL-005", "HD-WL-006", "HD-WL-007", "HD-WL-008",
                "HD-WL-011"):  # fmt: skip
        mine = by(findings, cid, bad)
        assert mine and all(f.status == "fail" for f in mine), (cid, mine)
    assert by(findings, "HD-WL-004", bad)[0].observed == 1
    assert by(findings, "HD-WL-005", bad)[0].observed == {"PDB/solo": 0}
    assert by(findings, "HD-WL-011", bad)[0].observed == {"app": "registry.invalid/app:latest"}
    for cid in ("HD-WL-009", "HD-WL-010"):
        assert [f.status for f in findings if f.check_id == cid and f.target == planted["good"]] == ["pass"]
        assert [f.status for f in findings if f.check_id == cid and f.target == planted["bad"]] == ["fail"]
    # ReplicaSets and Pods owned by the Deployments are judged through them, kube-system is excluded
    assert not [f for f in findings if "/ReplicaSet/" in f.target or "/Pod/" in f.target]
    assert not [f for f in findings if f.namespace == "kube-system"]
    print(f"workloads: {len(findings)} findings in {took:.2f} s")


def test_pss_on_live_pods_and_templates(api: KubeApi, planted: dict[str, str]) -> None:
    findings = check_pss_live(api, PssPolicy(level="baseline"))
    privileged = [f for f in findings if f.check_id == "HD-PSS-003" and f.namespace == planted["bad"]]
    kinds = {f.target.split("/")[0] for f in privileged}
    assert {"Deployment", "ReplicaSet", "Pod"} <= kinds, privileged  # the template, its ReplicaSet, the live pod
    assert not [f for f in findings if f.namespace == planted["good"]]
    restricted = check_pss_live(api, PssPolicy(level="restricted"))
    assert not [f for f in restricted if f.namespace == planted["good"]]


def test_run_checks_and_cli(inv: Inventory, planted: dict[str, str], tmp_path: Path) -> None:
    import subprocess
    import sys

    hadrill = Path(sys.executable).parent / "hadrill"
    findings = run_checks(inv, CompliancePolicy(), ["pss", "workloads"])
    assert by(findings, "HD-WL-004", f"{planted['bad']}/Deployment/solo")[0].status == "fail"
    assert not [f for f in findings if f.status == "error"], [f for f in findings if f.status == "error"]
    out = tmp_path / "out"
    res = subprocess.run(
        [str(hadrill), "check", "--inventory", str(inv_path(inv)), "--suite",
         "pss,workloads,etcd-backup", "--out", str(out)],
        capture_output=True, text=True, timeout=120, env=os.environ.copy(),
    )  # fmt: skip
    assert res.returncode == 1, res.stdout[-2000:] + res.stderr[-2000:]
    assert "HD-WL-004" in res.stdout and (out / "findings.json").is_file()
    assert ".key" not in res.stdout + res.stderr and "BEGIN" not in res.stdout + res.stderr


def inv_path(inv: Inventory) -> Path:
    return Path(os.environ["HADRILL_STATE_DIR"]) / "labs" / LAB_NAME / "inventory.yaml"


def test_backup_cronjob(api: KubeApi) -> None:
    ns = make_namespace(api, "backup")
    cron = {
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "etcd-backup"},
        "spec": {"schedule": "0 */6 * * *", "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "OnFailure", "containers": [{"name": "b", "image": IMAGE}]}}}}},
    }  # fmt: skip
    api.create(f"/apis/batch/v1/namespaces/{ns}/cronjobs", cron)
    policy = EtcdBackupPolicy(cronjob=f"{ns}/etcd-backup", schedule="0 */6 * * *", cronjob_max_age_hours=7)

    def statuses(p: EtcdBackupPolicy) -> dict[str, str]:
        return {f.check_id: f.status for f in check_etcd_backup_cronjob(api, p)}

    assert statuses(policy) == {"HD-ETCD-BAK-003": "pass", "HD-ETCD-BAK-004": "fail"}  # never succeeded

    def set_last(hours_ago: float) -> None:
        when = (datetime.now(UTC) - timedelta(hours=hours_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
        s = requests.Session()
        s.trust_env = False
        creds = api.credentials  # the lab's admin kubeconfig, as the loader resolved it
        s.verify, s.cert = creds.ssl_ca_cert, (creds.cert_file, creds.key_file)
        r = s.patch(f"{api.server}/apis/batch/v1/namespaces/{ns}/cronjobs/etcd-backup/status",
                    json={"status": {"lastSuccessfulTime": when}},
                    headers={"Content-Type": "application/merge-patch+json"}, timeout=CALL)  # fmt: skip
        assert r.status_code == 200, r.text[:300]

    set_last(1)
    assert statuses(policy) == {"HD-ETCD-BAK-003": "pass", "HD-ETCD-BAK-004": "pass"}
    set_last(30)
    assert statuses(policy) == {"HD-ETCD-BAK-003": "pass", "HD-ETCD-BAK-004": "fail"}
    wrong = policy.model_copy(update={"schedule": "0 3 * * *"})
    assert statuses(wrong)["HD-ETCD-BAK-003"] == "fail"
    missing = policy.model_copy(update={"cronjob": f"{ns}/nope"})
    assert statuses(missing) == {"HD-ETCD-BAK-003": "fail", "HD-ETCD-BAK-004": "fail"}
